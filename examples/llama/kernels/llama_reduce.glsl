// llama_reduce.glsl: workgroup reductions both step plans use. The includer
// defines WG (invocations per workgroup) and enables the subgroup extensions.

// Values kept per subgroup are sized for subgroups of at least
// MIN_SUBGROUP_SIZE invocations (the host refuses devices with smaller
// ones: gpu_forward.c), not one per invocation: shared memory is short on
// some devices (lavapipe: 32 KB a workgroup).
#define MIN_SUBGROUP_SIZE 4u
#define MAX_SUBGROUPS (WG / MIN_SUBGROUP_SIZE)
shared float reduce_scratch[MAX_SUBGROUPS]; // one value per subgroup

// Sum of `v` over the workgroup, returned to every invocation, added in
// subgroup order. Must be reached by all invocations (it holds barriers).
float workgroup_sum(float v) {
  float s = subgroupAdd(v);
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = s;
  barrier();
  float total = 0.0;
  for (uint i = 0u; i < gl_NumSubgroups; i++) total += reduce_scratch[i];
  barrier(); // the scratch may be reused right after
  return total;
}

// 1 / RMS of a vector whose sum of squares is `sum_squares`, as run.c.
float rms_scale(float sum_squares, uint n) { return 1.0 / sqrt(sum_squares / float(n) + 1e-5); }
