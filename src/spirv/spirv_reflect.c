// Kernel reflection with SPIRV-Cross: see spirv_reflect.h.
#include "spirv/spirv_reflect.h"

#include <spirv-tools/libspirv.h>
#include <spirv_cross/spirv_cross_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define SPIRV_MAGIC 0x07230203u

static void on_spvc_error(void *user, const char *msg) {
  gpb_format((char *)user, GPB_MSG_MAX, "SPIRV-Cross: %s", msg);
}

static int compare_bindings(const void *a, const void *b) {
  const gpb_kernel_binding *x = a, *y = b;
  return (x->binding > y->binding) - (x->binding < y->binding);
}

static bool is_read_only(spvc_compiler comp, const spvc_reflected_resource *r) {
  if (spvc_compiler_has_decoration(comp, r->id, SpvDecorationNonWritable)) return true;
  const SpvDecoration *decos = NULL;
  size_t n = 0;
  if (spvc_compiler_get_buffer_block_decorations(comp, r->id, &decos, &n) != SPVC_SUCCESS) return false;
  for (size_t i = 0; i < n; i++) {
    if (decos[i] == SpvDecorationNonWritable) return true;
  }
  return false;
}

// Size of the block without its trailing runtime array, and that array's stride.
static void block_layout(spvc_compiler comp, const spvc_reflected_resource *r, uint64_t *min_size, uint64_t *stride) {
  *min_size = 0;
  *stride = 0;
  spvc_type type = spvc_compiler_get_type_handle(comp, r->base_type_id);
  size_t size = 0;
  if (spvc_compiler_get_declared_struct_size(comp, type, &size) == SPVC_SUCCESS) *min_size = size;
  unsigned members = spvc_type_get_num_member_types(type);
  if (members == 0) return;
  spvc_type last = spvc_compiler_get_type_handle(comp, spvc_type_get_member_type(type, members - 1));
  unsigned dims = spvc_type_get_num_array_dimensions(last);
  if (dims > 0 && spvc_type_array_dimension_is_literal(last, dims - 1) &&
      spvc_type_get_array_dimension(last, dims - 1) == 0) {
    unsigned s = 0;
    if (spvc_compiler_type_struct_member_array_stride(comp, type, members - 1, &s) == SPVC_SUCCESS) *stride = s;
  }
}

static gpb_status reflect(spvc_context ctx, const uint32_t *words, size_t word_count, const char *entry_point,
                          gpb_kernel_info *out, char *err) {
  spvc_parsed_ir ir = NULL;
  if (spvc_context_parse_spirv(ctx, words, word_count, &ir) != SPVC_SUCCESS) {
    if (!*err) gpb_format(err, GPB_MSG_MAX, "SPIR-V could not be parsed");
    return GPB_ERROR_INVALID_SPIRV;
  }
  spvc_compiler comp = NULL;
  if (spvc_context_create_compiler(ctx, SPVC_BACKEND_NONE, ir, SPVC_CAPTURE_MODE_TAKE_OWNERSHIP, &comp) !=
      SPVC_SUCCESS) {
    if (!*err) gpb_format(err, GPB_MSG_MAX, "SPIR-V could not be reflected");
    return GPB_ERROR_INVALID_SPIRV;
  }
  // The entry point must exist and be a compute shader.
  const spvc_entry_point *eps = NULL;
  size_t ep_count = 0;
  spvc_compiler_get_entry_points(comp, &eps, &ep_count);
  bool found = false;
  for (size_t i = 0; i < ep_count; i++) {
    if (strcmp(eps[i].name, entry_point) == 0) {
      if (eps[i].execution_model != SpvExecutionModelGLCompute) {
        gpb_format(err, GPB_MSG_MAX, "entry point '%s' is not a compute shader", entry_point);
        return GPB_ERROR_UNSUPPORTED;
      }
      found = true;
    }
  }
  if (!found) {
    gpb_format(err, GPB_MSG_MAX, "no entry point '%s' in the module", entry_point);
    return GPB_ERROR_NOT_FOUND;
  }
  if (spvc_compiler_set_entry_point(comp, entry_point, SpvExecutionModelGLCompute) != SPVC_SUCCESS) {
    gpb_format(err, GPB_MSG_MAX, "entry point '%s' could not be selected", entry_point);
    return GPB_ERROR_INVALID_SPIRV;
  }
  for (int i = 0; i < 3; i++) {
    out->workgroup_size[i] =
        spvc_compiler_get_execution_mode_argument_by_index(comp, SpvExecutionModeLocalSize, (uint32_t)i);
  }
  spvc_resources res = NULL;
  spvc_set active = NULL;
  if (spvc_compiler_get_active_interface_variables(comp, &active) != SPVC_SUCCESS ||
      spvc_compiler_create_shader_resources_for_active_variables(comp, &res, active) != SPVC_SUCCESS) {
    gpb_format(err, GPB_MSG_MAX, "resources could not be listed");
    return GPB_ERROR_INVALID_SPIRV;
  }
  // Anything but storage buffers and push constants cannot be bound.
  static const struct {
    spvc_resource_type type;
    const char *what;
  } refused[] = {
      {SPVC_RESOURCE_TYPE_UNIFORM_BUFFER, "uniform buffer"},
      {SPVC_RESOURCE_TYPE_STORAGE_IMAGE, "storage image"},
      {SPVC_RESOURCE_TYPE_SAMPLED_IMAGE, "sampled image"},
      {SPVC_RESOURCE_TYPE_SEPARATE_IMAGE, "image"},
      {SPVC_RESOURCE_TYPE_SEPARATE_SAMPLERS, "sampler"},
      {SPVC_RESOURCE_TYPE_ACCELERATION_STRUCTURE, "acceleration structure"},
  };
  for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
    const spvc_reflected_resource *list = NULL;
    size_t n = 0;
    spvc_resources_get_resource_list_for_type(res, refused[k].type, &list, &n);
    if (n > 0) {
      gpb_format(err, GPB_MSG_MAX, "'%s' uses a %s ('%s'); only storage buffers are supported", entry_point,
                 refused[k].what, list[0].name);
      return GPB_ERROR_UNSUPPORTED;
    }
  }
  const spvc_reflected_resource *sbufs = NULL;
  size_t sbuf_count = 0;
  spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_STORAGE_BUFFER, &sbufs, &sbuf_count);
  if (sbuf_count > GPB_MAX_BINDINGS) {
    gpb_format(err, GPB_MSG_MAX, "%zu storage buffers; at most %d are supported", sbuf_count, GPB_MAX_BINDINGS);
    return GPB_ERROR_UNSUPPORTED;
  }
  for (size_t i = 0; i < sbuf_count; i++) {
    unsigned set = spvc_compiler_get_decoration(comp, sbufs[i].id, SpvDecorationDescriptorSet);
    if (set != 0) {
      gpb_format(err, GPB_MSG_MAX, "storage buffer '%s' is in descriptor set %u; only set 0 is supported",
                 sbufs[i].name, set);
      return GPB_ERROR_UNSUPPORTED;
    }
    // A block declared as an array (`buffer B {...} b[4];` or `b[]`) is one
    // binding of several descriptors; gpubatch binds one buffer per binding.
    spvc_type var_type = spvc_compiler_get_type_handle(comp, sbufs[i].type_id);
    if (spvc_type_get_num_array_dimensions(var_type) > 0) {
      unsigned dims = spvc_type_get_num_array_dimensions(var_type);
      bool runtime = spvc_type_array_dimension_is_literal(var_type, dims - 1) &&
                     spvc_type_get_array_dimension(var_type, dims - 1) == 0;
      gpb_format(err, GPB_MSG_MAX,
                 "storage buffer '%s' is %s array of descriptors; gpubatch binds one buffer per binding (declare "
                 "one block per binding)",
                 sbufs[i].name, runtime ? "a runtime-sized" : "an");
      return GPB_ERROR_UNSUPPORTED;
    }
    gpb_kernel_binding *b = &out->bindings[i];
    b->binding = spvc_compiler_get_decoration(comp, sbufs[i].id, SpvDecorationBinding);
    if (b->binding >= GPB_MAX_BINDING_NUMBER) {
      // Drivers size their tables by the largest binding number.
      gpb_format(err, GPB_MSG_MAX, "storage buffer '%s' has binding %u; bindings must be below %d", sbufs[i].name,
                 b->binding, GPB_MAX_BINDING_NUMBER);
      return GPB_ERROR_UNSUPPORTED;
    }
    b->read_only = is_read_only(comp, &sbufs[i]);
    block_layout(comp, &sbufs[i], &b->min_size, &b->array_stride);
    for (size_t j = 0; j < i; j++) {
      if (out->bindings[j].binding == b->binding) {
        gpb_format(err, GPB_MSG_MAX, "two storage buffers share binding %u", b->binding);
        return GPB_ERROR_UNSUPPORTED;
      }
    }
  }
  out->binding_count = (uint32_t)sbuf_count;
  qsort(out->bindings, sbuf_count, sizeof out->bindings[0], compare_bindings);

  const spvc_reflected_resource *pcs = NULL;
  size_t pc_count = 0;
  spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_PUSH_CONSTANT, &pcs, &pc_count);
  if (pc_count > 1) {
    gpb_format(err, GPB_MSG_MAX, "%zu push-constant blocks; at most one is allowed", pc_count);
    return GPB_ERROR_INVALID_SPIRV;
  }
  out->push_constant_bytes = 0;
  if (pc_count == 1) {
    size_t size = 0;
    spvc_type type = spvc_compiler_get_type_handle(comp, pcs[0].base_type_id);
    if (spvc_compiler_get_declared_struct_size(comp, type, &size) != SPVC_SUCCESS) {
      gpb_format(err, GPB_MSG_MAX, "push-constant block size unknown");
      return GPB_ERROR_INVALID_SPIRV;
    }
    out->push_constant_bytes = (uint32_t)size;
  }
  return GPB_OK;
}

// SPIRV-Cross assumes valid SPIR-V: fuzzing crashed it with a 6-word module
// (a valid header, then a truncated instruction). SPIRV-Tools' validator
// checks the module first, under the rules of the device's Vulkan version
// (core-valid modules with Vulkan-invalid decorations reached the driver).
static gpb_status validate_spirv(const uint32_t *words, size_t word_count, uint32_t vulkan_api, char *err) {
  bool v13 = ((vulkan_api >> 22) & 0x7f) > 1 || ((vulkan_api >> 12) & 0x3ff) >= 3;
  spv_context ctx = spvContextCreate(v13 ? SPV_ENV_VULKAN_1_3 : SPV_ENV_VULKAN_1_2);
  if (!ctx) {
    gpb_format(err, GPB_MSG_MAX, "SPIRV-Tools context could not be created");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  spv_const_binary_t binary = {words, word_count};
  spv_diagnostic diag = NULL;
  spv_result_t r = spvValidate(ctx, &binary, &diag);
  gpb_status st = GPB_OK;
  if (r != SPV_SUCCESS) {
    gpb_format(err, GPB_MSG_MAX, "invalid SPIR-V: %s", diag && diag->error ? diag->error : "validation failed");
    st = GPB_ERROR_INVALID_SPIRV;
  }
  spvDiagnosticDestroy(diag);
  spvContextDestroy(ctx);
  return st;
}

// A 32-bit constant's value, as far as the module lets us know it.
typedef struct known_constant {
  uint64_t value;
  bool known;
} known_constant;

// Value of OpSpecConstantOp `op` on known operands (the integer operations
// a GLSL array length compiles to); false for anything else.
static bool spec_op(uint32_t op, const known_constant *x, uint32_t operands, uint64_t *out) {
  enum {
    OP_IADD = 128,
    OP_ISUB = 130,
    OP_IMUL = 132,
    OP_UDIV = 134,
    OP_SDIV = 135,
    OP_UMOD = 137,
    OP_SREM = 138,
    OP_SMOD = 139,
    OP_SHIFT_RIGHT_LOGICAL = 194,
    OP_SHIFT_LEFT_LOGICAL = 196,
    OP_BITWISE_OR = 197,
    OP_BITWISE_AND = 199,
  };
  if (operands != 2 || !x[0].known || !x[1].known) return false;
  uint32_t a = (uint32_t)x[0].value, b = (uint32_t)x[1].value;
  switch (op) {
  case OP_IADD: *out = (uint32_t)(a + b); return true;
  case OP_ISUB: *out = (uint32_t)(a - b); return true;
  case OP_IMUL: *out = (uint32_t)(a * b); return true;
  case OP_UDIV:
  case OP_SDIV: // array lengths are positive
    if (b == 0) return false;
    *out = a / b;
    return true;
  case OP_UMOD:
  case OP_SREM:
  case OP_SMOD:
    if (b == 0) return false;
    *out = a % b;
    return true;
  case OP_SHIFT_RIGHT_LOGICAL: *out = b < 32 ? a >> b : 0; return true;
  case OP_SHIFT_LEFT_LOGICAL: *out = b < 32 ? (uint32_t)(a << b) : 0; return true;
  case OP_BITWISE_OR: *out = a | b; return true;
  case OP_BITWISE_AND: *out = a & b; return true;
  default: return false;
  }
}

// Bytes of Workgroup (shared) variables: neither SPIRV-Cross's nor
// SPIRV-Tools' C API reports it, so the (already validated) module's type
// declarations are read here: scalars, vectors, matrices, arrays, structs
// (members summed, no padding: a lower bound). An array's length may be a
// specialization constant, counted at its default value (gpubatch sets
// none), or an integer expression of such constants. *out_unknown is set
// when a Workgroup variable's size depends on a length this cannot
// evaluate: the caller refuses the kernel rather than guess.
static uint64_t workgroup_bytes(const uint32_t *w, size_t n, bool *out_unknown) {
  enum {
    OP_TYPE_BOOL = 20,
    OP_TYPE_INT = 21,
    OP_TYPE_FLOAT = 22,
    OP_TYPE_VECTOR = 23,
    OP_TYPE_MATRIX = 24,
    OP_TYPE_ARRAY = 28,
    OP_TYPE_STRUCT = 30,
    OP_TYPE_POINTER = 32,
    OP_CONSTANT = 43,
    OP_SPEC_CONSTANT = 50,
    OP_SPEC_CONSTANT_OP = 52,
    OP_VARIABLE = 59,
    STORAGE_WORKGROUP = 4
  };
  *out_unknown = false;
  uint32_t bound = n > 3 ? w[3] : 0;
  if (bound == 0 || bound > (1u << 22)) return 0;
  uint64_t *size = calloc(bound, sizeof *size);               // bytes of type id
  bool *unknown = calloc(bound, sizeof *unknown);             // type id's size depends on an unknown length
  known_constant *constant = calloc(bound, sizeof *constant); // value of 32-bit constant id
  uint64_t total = 0;
  for (size_t i = 5; size && unknown && constant && i < n;) {
    uint32_t op = w[i] & 0xffff, count = w[i] >> 16;
    if (count == 0 || i + count > n) break;
    const uint32_t *a = &w[i + 1];
    uint32_t id = count > 1 ? a[0] : 0;
    if (id < bound) {
      switch (op) {
      case OP_TYPE_BOOL: size[id] = 4; break;
      case OP_TYPE_INT:
      case OP_TYPE_FLOAT: size[id] = count > 2 ? a[1] / 8 : 4; break;
      case OP_TYPE_VECTOR:
      case OP_TYPE_MATRIX:
        if (count > 3 && a[1] < bound) {
          size[id] = size[a[1]] * a[2];
          unknown[id] = unknown[a[1]];
        }
        break;
      case OP_TYPE_ARRAY:
        if (count > 3 && a[1] < bound && a[2] < bound) {
          size[id] = size[a[1]] * constant[a[2]].value;
          unknown[id] = unknown[a[1]] || !constant[a[2]].known;
        }
        break;
      case OP_TYPE_STRUCT:
        for (uint32_t m = 1; m + 1 < count; m++) {
          if (a[m] >= bound) continue;
          size[id] += size[a[m]];
          unknown[id] = unknown[id] || unknown[a[m]];
        }
        break;
      case OP_TYPE_POINTER:
        if (count > 3 && a[1] == STORAGE_WORKGROUP && a[2] < bound) {
          size[id] = size[a[2]];
          unknown[id] = unknown[a[2]];
        }
        break;
      case OP_CONSTANT:      // result type, result id, value
      case OP_SPEC_CONSTANT: // the same, the value being the default
        if (count > 3 && a[1] < bound) constant[a[1]] = (known_constant){a[2], true};
        break;
      case OP_SPEC_CONSTANT_OP: // result type, result id, opcode, operand ids
        if (count > 4 && a[1] < bound) {
          known_constant x[2] = {{0, false}, {0, false}};
          uint32_t operands = count - 4;
          for (uint32_t k = 0; k < operands && k < 2; k++)
            if (a[3 + k] < bound) x[k] = constant[a[3 + k]];
          uint64_t v = 0;
          if (spec_op(a[2], x, operands, &v)) constant[a[1]] = (known_constant){v, true};
        }
        break;
      case OP_VARIABLE: // result type, result id, storage class
        if (count > 3 && a[2] == STORAGE_WORKGROUP && a[0] < bound) {
          total += size[a[0]];
          *out_unknown = *out_unknown || unknown[a[0]];
        }
        break;
      }
    }
    i += count;
  }
  free(size);
  free(unknown);
  free(constant);
  return total;
}

gpb_status gpb_spirv_reflect(const uint32_t *words, size_t word_count, const char *entry_point, uint32_t vulkan_api,
                             gpb_kernel_info *out, char *err) {
  err[0] = '\0';
  if (word_count < 5 || words[0] != SPIRV_MAGIC) {
    if (word_count < 5)
      gpb_format(err, GPB_MSG_MAX, "not SPIR-V: %zu words, shorter than the 5-word header", word_count);
    else
      gpb_format(err, GPB_MSG_MAX, "not SPIR-V: magic 0x%08x, expected 0x%08x", words[0], SPIRV_MAGIC);
    return GPB_ERROR_INVALID_SPIRV;
  }
  if (words[4] != 0) { // the schema word is reserved and must be 0 (the validator lets it pass)
    gpb_format(err, GPB_MSG_MAX, "not SPIR-V: header word 4 (schema) is %u, must be 0", words[4]);
    return GPB_ERROR_INVALID_SPIRV;
  }
  // The header's version first: a module newer than the device's Vulkan
  // version takes is unsupported, not malformed.
  uint32_t api_minor = (vulkan_api >> 12) & 0x3ff, spirv_major = (words[1] >> 16) & 0xff,
           spirv_minor = (words[1] >> 8) & 0xff;
  uint32_t max_minor = api_minor >= 3 ? 6 : api_minor == 2 ? 5 : 3; // Vulkan 1.x: SPIR-V 1.(3, 5, 6)
  if (spirv_major != 1 || spirv_minor > max_minor) {
    gpb_format(err, GPB_MSG_MAX,
               "SPIR-V %u.%u; a device created for Vulkan 1.%u takes up to SPIR-V 1.%u (glslc "
               "--target-env=vulkan1.%u)",
               spirv_major, spirv_minor, api_minor, max_minor, api_minor);
    return GPB_ERROR_UNSUPPORTED;
  }
  gpb_status valid = validate_spirv(words, word_count, vulkan_api, err);
  if (valid != GPB_OK) return valid;
  spvc_context ctx = NULL;
  if (spvc_context_create(&ctx) != SPVC_SUCCESS) {
    gpb_format(err, GPB_MSG_MAX, "SPIRV-Cross context could not be created");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  spvc_context_set_error_callback(ctx, on_spvc_error, err);
  gpb_status st = reflect(ctx, words, word_count, entry_point, out, err);
  spvc_context_destroy(ctx);
  bool unknown = false;
  out->shared_memory_bytes = workgroup_bytes(words, word_count, &unknown);
  if (st == GPB_OK && unknown) {
    gpb_format(err, GPB_MSG_MAX,
               "a shared (Workgroup) array's length is a specialization-constant expression that cannot be "
               "evaluated, so its size cannot be checked against the device's limit");
    st = GPB_ERROR_UNSUPPORTED;
  }
  return st;
}
