// gpu_forward.h: the decode step on a gpubatch device.
//
// Weights live in GPB_MEMORY_PRIVATE buffers, each covering all layers
// (kernels index layer l at l * rows * cols, so every argument has offset
// 0 and no slice needs aligning to min_storage_buffer_offset_alignment),
// uploaded once through the stream's staging path. The KV cache and
// activations are device buffers too.
//
// Three step plans (see gpu_forward.c): FUSED, 2 dispatches per layer, for
// steps bound by their chain of dispatches (small models); WIDE, one
// dispatch per matrix-vector product over many workgroups, for steps bound
// by the bytes of their weights; PERSISTENT, the wide plan's work with
// every layer in one dispatch whose workgroups, all resident, meet at grid
// barriers between products (more than one workgroup only where the
// device reports its SMs). AUTO picks fused or wide by the weights' size. The
// description below is the fused plan's; the wide plan keeps its
// host<->device traffic and modes.
//
// One step is an 8-byte write of (pos, token) to a step buffer (inline in
// the command stream), 2 dispatches per layer plus 1, each depending on the
// one before (see gpu_forward.c for the list), then one readback of the
// classifier workgroups' best logits (8 bytes each: 2 KB at stories15M),
// whose argmax is the token: the only host<->device traffic of a step. In
// BATCHED mode that is one submit per token (unless max_batch_dispatches
// splits it); in IMMEDIATE mode one per command. Nothing that changes
// between steps is a push constant, so a step can be captured once and
// replayed (options.replay).
//
// Limits (checked, with a message): fused: dim, hidden and head size
// multiples of 4, dim <= 4096, head size <= 256, n_heads x (attention
// splits + 1) <= 1024 (the default split grows with seq_len); wide: dim
// and hidden multiples of 8, head size <= 256 and a multiple of 4,
// n_heads x splits <= 512 (persistent: the same, every layer matrix of one
// type, more than one workgroup only where the device reports its compute
// units); all: each weight buffer within the device's storage buffer range.
//
// Ownership: llama_gpu borrows the device (which must outlive it), creates
// and owns its stream, kernels and buffers. One thread drives one llama_gpu.
#ifndef LLAMA_GPU_FORWARD_H
#define LLAMA_GPU_FORWARD_H

#include <stdint.h>

#include "checkpoint.h"
#include "error.h"
#include "gpubatch/gpubatch.h"

typedef struct llama_gpu llama_gpu;

typedef enum llama_plan { LLAMA_PLAN_AUTO = 0, LLAMA_PLAN_FUSED, LLAMA_PLAN_WIDE, LLAMA_PLAN_PERSISTENT } llama_plan;
// "auto", "fused", "wide", "persistent" (weight type names: quant.h).
const char *llama_plan_name(llama_plan plan);
// The reverse: 0 and *out set for one of those names, else -1.
int llama_plan_from_name(const char *name, llama_plan *out);

// The plan AUTO picks for a model: fused while the step is bound by its
// dispatches; once the weights' bytes are (see gpu_forward.c), persistent
// where `persistent_ok` (the device reports its compute units and every
// layer matrix has one type), else wide.
llama_plan llama_auto_plan(const llama_config *config, llama_weight_type weights, bool persistent_ok);

typedef struct llama_gpu_options {
  gpb_mode mode; // of the stream the decoder creates
  llama_plan plan;
  // Matrices stay in their file's type (checkpoint.h's sources: F32 for
  // llama2.c files; F32, F16, BF16, Q8_0 or Q4_0 for GGUF files), one type
  // per kernel (wq/wk/wv alike, w1/w3 alike, every layer alike). F16 here:
  // float32 matrices are converted to IEEE half once at load (round to
  // nearest even). RMS gains, the KV cache, activations and arithmetic stay
  // float32. The fused plan takes f32 or f16 only, one type for all; AUTO
  // picks the wide plan for anything else.
  llama_weight_type weights;
  // The stream's max_batch_dispatches (0: the library's default). A cap
  // below the step's dispatch count submits the step in pieces, so the GPU
  // starts while the host still records the rest.
  uint32_t max_batch_dispatches;
  // Positions per attention workgroup (1..256); 0 means 64, doubled while
  // n_heads x (splits + 1) exceeds 1024 (wide: n_heads x splits, 512). Each
  // step runs n_heads x (ceil(pos / attention_split) + 3) attention
  // workgroups (wide: n_heads x (pos / attention_split + 1)).
  uint32_t attention_split;
  // FFN hidden rows per workgroup, a multiple of 4 in 4..256; 0 means 16
  // (48 workgroups at stories15M, 2 row pairs per subgroup on NVIDIA). Each
  // FFN workgroup leaves one partial vector of w2's output, which every
  // workgroup of the next kernel adds up.
  uint32_t rows_per_group;
  // Vocabulary rows per classifier workgroup: fused, a multiple of 4 in
  // 4..4096, 0 means 128 (250 workgroups at stories15M); wide, 1..256, 0
  // means 64.
  uint32_t classifier_rows;
  // Wide: rows per workgroup of the layer products, even, 2..256; 0 means 16
  // (a row pair per subgroup on NVIDIA), 32 for float32 layers; split-K
  // divides it by the split. With AUTO, asking for it (or wide_groups)
  // keeps the wide plan where auto would take the persistent one, which
  // reads neither.
  uint32_t wide_rows;
  // Wide: at most this many workgroups per layer product, each taking
  // several blocks of wide_rows rows; 0 means one workgroup per block.
  uint32_t wide_groups;
  // Wide and persistent: subgroups per row pair of the layer products
  // (split-K), 1..8; 0 picks per product: the wide plan enough subgroups to
  // fill the GPU where rows are few, the persistent kernel the split with
  // the fewest rounds of loads on its own grid.
  uint32_t wide_split;
  // Persistent: workgroups of the layers' dispatch, all of which must run at
  // once; 0 means the most of 3, 2 or 1 per compute unit
  // (gpb_device_info.compute_units) that the device runs at once, tried
  // when the model loads, or 1 where the device reports no compute units.
  // A count the device does not run at once is refused when the model
  // loads (a grid barrier that gives up), with a message; it never hangs.
  uint32_t persistent_groups;
  // Persistent only: the layers' kernel also marks, per workgroup, the
  // device clock at each grid barrier (VK_KHR_shader_clock's device clock;
  // a device without it refuses the kernel), for llama_gpu_phase_times.
  // The marks cost a store per workgroup and barrier.
  bool phase_times;
  // Persistent plan with Q8_0 or Q4_0 layers: each product stages its input
  // vector in shared memory as 24-bit fixed point per block of 32 (within
  // 2^-24 of the block's largest value) and multiplies it by the quants
  // with packed 8-bit integer dot products (VK_KHR_shader_integer_dot_product),
  // sums exact, scales in float32. Needs dim and hidden_dim of at most 6144
  // and a device with the feature (gpb_device_info.integer_dot_product);
  // otherwise the decoder refuses. Off by default: the float dot products,
  // whose speed on GPUs is measured (BENCHMARKS.md).
  bool int_dot;
  // Replay: capture each step shape (attention grid) once as a gpb_program
  // and replay it, instead of recording the step's dispatches every step.
  bool replay;
  // Ahead: the caller submits step pos + 1 (llama_gpu_submit with
  // LLAMA_GPU_TOKEN_FROM_GPU) before it collects step pos's token, so the
  // GPU runs the next step while the host reads the last one. Each step is
  // then its own submit, and the bests are read from mapped shared memory.
  bool ahead;
  // Record-ahead: the host picks every token (as a sampler does), but the
  // caller records step pos + 1 (llama_gpu_prepare) before it collects step
  // pos's token, then gives that token (llama_gpu_commit), which is written
  // into the prepared step's mapped values and submitted. The recording
  // overlaps the GPU's work on step pos. Excludes `ahead`.
  bool record_ahead;
} llama_gpu_options;

int llama_gpu_create(gpb_device *device, const llama_checkpoint *checkpoint, const llama_gpu_options *options,
                     llama_gpu **out, llama_error *err);
void llama_gpu_destroy(llama_gpu *gpu);

// A step's token is the greedy argmax of the previous step's logits, which
// the GPU also finds itself: llama_gpu_submit takes it from there when
// given this instead of a token id.
#define LLAMA_GPU_TOKEN_FROM_GPU 0xffffffffu

// Records the step of `token` at `pos` (every earlier position already
// submitted): writes (pos, token) to the step buffer, then records the
// dispatches or replays the captured step; ahead, submits it. `token` may
// be LLAMA_GPU_TOKEN_FROM_GPU for pos > 0.
int llama_gpu_submit(llama_gpu *gpu, uint32_t token, uint32_t pos, llama_error *err);
// Record-ahead only. prepare records the step at `pos` with its token still
// open (every earlier position submitted; at most one step prepared), and
// does not submit it; commit sets its token and submits it. Between the two,
// the caller may collect the previous step, but nothing that makes the
// stream submit (a logits readback, a sync) or the prepared step would run
// with a placeholder token. A prepared step never committed runs with token
// 0 when the stream is next synced: harmless, and its result is not read.
// llama_gpu_submit is prepare + commit.
int llama_gpu_prepare(llama_gpu *gpu, uint32_t pos, llama_error *err);
int llama_gpu_commit(llama_gpu *gpu, uint32_t token, uint32_t pos, llama_error *err);
// Waits for step `pos` (the last one submitted, or ahead the one before
// it) and returns its greedy next token (argmax of the logits: best per
// classifier workgroup on the GPU, the best of those on the host).
int llama_gpu_collect(llama_gpu *gpu, uint32_t pos, uint32_t *out_next, llama_error *err);
// submit + collect, for one step at a time.
int llama_gpu_step(llama_gpu *gpu, uint32_t token, uint32_t pos, uint32_t *out_next, llama_error *err);

// Copies step pos's vocab_size logits to `out` (the decoder keeps the last
// two steps'): one more readback and wait, so only for checking and dumps.
int llama_gpu_read_logits(llama_gpu *gpu, uint32_t pos, float *out, llama_error *err);

gpb_stream *llama_gpu_stream(llama_gpu *gpu);
// Where the persistent kernel's time went in the last step run, from its
// workgroups' clock marks (options.phase_times), in device clock ticks:
// nanoseconds on NVIDIA's driver, whose realtime clock counts them. Per
// phase kind (q/k/v, attention, wo, w1/w3, w2), summed over the layers:
//   until_last  from the last workgroup's release into the phase to the
//               last workgroup's arrival at its end (the phase's critical
//               path: the slowest workgroup's work, its writes' fence);
//   barrier     from that last arrival to the last release (what the grid
//               barrier itself adds);
//   busy_mean   a workgroup's own release-to-arrival time, averaged over
//               the workgroups (busy_mean well below until_last: the work
//               is spread unevenly or started late).
// Their sum over phases is the layers' dispatch from its last workgroup's
// start to its last workgroup's end (total).
enum { LLAMA_PHASE_QKV, LLAMA_PHASE_ATTENTION, LLAMA_PHASE_WO, LLAMA_PHASE_W13, LLAMA_PHASE_W2, LLAMA_PHASES };
typedef struct llama_phase_times {
  uint32_t groups, layers;
  double total;
  double until_last[LLAMA_PHASES], barrier[LLAMA_PHASES], busy_mean[LLAMA_PHASES];
} llama_phase_times;
const char *llama_phase_name(int phase);
// Waits for the work submitted so far and reads the last step's marks.
int llama_gpu_phase_times(llama_gpu *gpu, llama_phase_times *out, llama_error *err);
// The same from a step's marks: per event e (0 the start, 5 l + k + 1 the
// end of phase k of layer l) and workgroup g, marks[4 (e groups + g)] the
// 64-bit clock (low word first) when g arrived at e and [+ 2] when it left.
// A clock whose high word is 0 in every mark is taken for a 32-bit one
// that may wrap once within the step. Fails on marks that run backwards
// or a start never written.
int llama_phase_times_from_marks(const uint32_t *marks, uint32_t groups, uint32_t layers, llama_phase_times *out,
                                 llama_error *err);

// The plan and weight type the decoder runs (AUTO resolved; the type of
// the layers' q/k/v matrices).
llama_plan llama_gpu_plan(const llama_gpu *gpu);
llama_weight_type llama_gpu_weights(const llama_gpu *gpu);
// The persistent plan's workgroups (probed or asked for); 0 for other plans.
uint32_t llama_gpu_persistent_groups(const llama_gpu *gpu);
// Whether the layers run integer dot products (options.int_dot).
bool llama_gpu_int_dot(const llama_gpu *gpu);
uint32_t llama_gpu_dispatches_per_step(const llama_gpu *gpu);

#endif
