// `gpubatch selftest`: running a program on the device and on the CPU model
// in lockstep (see selftest.h).
//
// The model is one byte array per slot. Each op is applied to it right after
// the gpubatch call that records the op: program order is stream order for a
// race-free program, and host-side results (readbacks, maps) are exactly
// what the model holds at that point.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "selftest.h"

static const uint32_t spirv_scale[] =
#include "selftest_scale.inc"
    ;
static const uint32_t spirv_scale_inplace[] =
#include "selftest_scale_inplace.inc"
    ;
static const uint32_t spirv_add[] =
#include "selftest_add.inc"
    ;
static const uint32_t spirv_copy[] =
#include "selftest_copy.inc"
    ;
static const uint32_t spirv_scan[] =
#include "selftest_scan.inc"
    ;
static const uint32_t spirv_scan_inplace[] =
#include "selftest_scan_inplace.inc"
    ;
static const uint32_t spirv_reduce[] =
#include "selftest_reduce.inc"
    ;

gpb_status st_device_init(st_device *d) {
  static const struct {
    const uint32_t *words;
    size_t bytes;
  } spirv[ST_KERNEL_COUNT] = {
      [ST_K_SCALE] = {spirv_scale, sizeof spirv_scale},
      [ST_K_SCALE_INPLACE] = {spirv_scale_inplace, sizeof spirv_scale_inplace},
      [ST_K_ADD] = {spirv_add, sizeof spirv_add},
      [ST_K_COPY] = {spirv_copy, sizeof spirv_copy},
      [ST_K_SCAN] = {spirv_scan, sizeof spirv_scan},
      [ST_K_SCAN_INPLACE] = {spirv_scan_inplace, sizeof spirv_scan_inplace},
      [ST_K_REDUCE] = {spirv_reduce, sizeof spirv_reduce},
  };
  gpb_status st = gpb_device_query(d->dev, &d->info);
  for (int k = 0; st == GPB_OK && k < ST_KERNEL_COUNT; k++) {
    char name[64];
    snprintf(name, sizeof name, "selftest_%s", st_kernels[k].name);
    gpb_kernel_desc desc = {.name = name, .spirv = spirv[k].words, .spirv_bytes = spirv[k].bytes};
    st = gpb_kernel_create(d->dev, &desc, &d->kernels[k]);
  }
  return st;
}

gpb_status st_device_release(st_device *d) {
  for (int k = 0; k < ST_KERNEL_COUNT; k++) gpb_kernel_destroy(d->kernels[k]);
  memset(d->kernels, 0, sizeof d->kernels);
  return GPB_OK;
}

// ---- state ---------------------------------------------------------------------

typedef struct run_state {
  st_device *d;
  const st_program *p;
  st_result *res;
  gpb_stream *streams[ST_MAX_STREAMS];
  gpb_buffer *bufs[ST_MAX_SLOTS];
  uint8_t *model[ST_MAX_SLOTS];
  uint64_t size[ST_MAX_SLOTS];
  bool shared[ST_MAX_SLOTS];
  uint8_t *host;   // upload source / readback destination, ST_MAX_BUFFER bytes
  int64_t skip_op; // --inject-bug: this dispatch is left out on the device
  // Captures: the gpb_program and the ops recorded into it, which a replay
  // applies to the model in order.
  gpb_program *captures[ST_MAX_CAPTURES];
  uint32_t capture_ops[ST_MAX_CAPTURES][ST_MAX_CAPTURE_OPS];
  uint32_t capture_op_count[ST_MAX_CAPTURES];
  int capturing; // stream capturing now, or -1
} run_state;

static bool api_failed(run_state *rs, int32_t index, gpb_status st, const char *what) {
  if (st == GPB_OK) return false;
  rs->res->outcome = ST_API_ERROR;
  rs->res->op_index = index;
  snprintf(rs->res->message, sizeof rs->res->message, "%s failed: %s: %s", what, gpb_status_name(st), gpb_last_error());
  return true;
}

static uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void store_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

// Compares `got` with the model's bytes [offset, offset + bytes) of `slot`.
// On a mismatch names the first differing byte, and the u32 word holding it
// (kernels compute words).
static bool compare(run_state *rs, int32_t index, uint8_t slot, uint64_t offset, const uint8_t *got, uint64_t bytes,
                    const char *how) {
  const uint8_t *want = rs->model[slot] + offset;
  uint64_t first = UINT64_MAX, differ = 0;
  for (uint64_t i = 0; i < bytes; i++) {
    if (want[i] == got[i]) continue;
    if (first == UINT64_MAX) first = i;
    differ++;
  }
  if (first == UINT64_MAX) return true;
  rs->res->outcome = ST_MISMATCH;
  rs->res->op_index = index;
  uint64_t at = offset + first, word = at / 4 * 4;
  char words[96] = "";
  if (word >= offset && word + 4 <= offset + bytes) {
    snprintf(words, sizeof words, " (u32 at byte %" PRIu64 ": expected 0x%08x, got 0x%08x)", word,
             load_u32(rs->model[slot] + word), load_u32(got + (word - offset)));
  }
  snprintf(rs->res->message, sizeof rs->res->message,
           "b%u (%s, %" PRIu64 " B) byte %" PRIu64 ": expected 0x%02x, got 0x%02x%s; %" PRIu64 " of %" PRIu64
           " bytes differ in [%" PRIu64 ",+%" PRIu64 ") read by %s",
           slot, rs->shared[slot] ? "shared" : "private", rs->size[slot], at, want[first], got[first], words, differ,
           bytes, offset, bytes, how);
  return false;
}

// ---- the model's kernels ---------------------------------------------------------------

static void model_dispatch(run_state *rs, const st_op *op) {
  uint8_t *p[ST_MAX_ARGS];
  for (uint32_t b = 0; b < st_kernels[op->kernel].bindings; b++) p[b] = rs->model[op->r[b].slot] + op->r[b].offset;
  uint32_t run = 0;
  for (uint32_t i = 0; i < op->n; i++) {
    switch (op->kernel) {
    case ST_K_SCALE: store_u32(p[1] + 4 * i, load_u32(p[0] + 4 * i) * op->a + op->b); break;
    case ST_K_SCALE_INPLACE: store_u32(p[0] + 4 * i, load_u32(p[0] + 4 * i) * op->a + op->b); break;
    case ST_K_ADD: store_u32(p[2] + 4 * i, load_u32(p[0] + 4 * i) + load_u32(p[1] + 4 * i)); break;
    case ST_K_COPY: store_u32(p[1] + 4 * i, load_u32(p[0] + 4 * i)); break;
    case ST_K_SCAN:
      run += load_u32(p[0] + 4 * i);
      store_u32(p[1] + 4 * i, run);
      break;
    case ST_K_SCAN_INPLACE:
      run += load_u32(p[0] + 4 * i);
      store_u32(p[0] + 4 * i, run);
      break;
    case ST_K_REDUCE: run += load_u32(p[0] + 4 * i); break;
    case ST_KERNEL_COUNT: break;
    }
  }
  if (op->kernel == ST_K_REDUCE) store_u32(p[1], run);
}

static gpb_status device_dispatch(run_state *rs, const st_op *op) {
  const st_kernel_desc *k = &st_kernels[op->kernel];
  gpb_arg args[ST_MAX_ARGS];
  for (uint32_t b = 0; b < k->bindings; b++)
    args[b] = (gpb_arg){rs->bufs[op->r[b].slot], op->r[b].offset, op->r[b].bytes};
  uint32_t push[3] = {op->n, op->a, op->b};
  gpb_dispatch d = {.kernel = rs->d->kernels[op->kernel],
                    .groups = {k->one_group ? 1 : (op->n + 63) / 64, 1, 1},
                    .args = args,
                    .arg_count = k->bindings,
                    .push_constants = push,
                    .push_constant_bytes = k->push_ab ? 12 : 4};
  return gpb_stream_dispatch(rs->streams[op->stream], &d);
}

// ---- ops ---------------------------------------------------------------------------

static bool op_create(run_state *rs, int32_t i, const st_op *op) {
  uint8_t slot = op->r[0].slot;
  gpb_status st =
      gpb_buffer_create(rs->d->dev, op->size, op->shared ? GPB_MEMORY_SHARED : GPB_MEMORY_PRIVATE, &rs->bufs[slot]);
  if (api_failed(rs, i, st, "gpb_buffer_create")) return false;
  rs->model[slot] = malloc(op->size);
  if (!rs->model[slot]) return !api_failed(rs, i, GPB_ERROR_OUT_OF_HOST_MEMORY, "model buffer");
  rs->size[slot] = op->size;
  rs->shared[slot] = op->shared;
  st_fill_bytes(op->seed, rs->model[slot], op->size);
  st = gpb_stream_copy_to_device(rs->streams[op->stream], rs->model[slot], rs->bufs[slot], 0, op->size);
  return !api_failed(rs, i, st, "gpb_stream_copy_to_device (initial contents)");
}

static void drop_slot(run_state *rs, uint8_t slot) {
  free(rs->model[slot]);
  rs->model[slot] = NULL;
  rs->bufs[slot] = NULL;
}

static bool op_upload(run_state *rs, int32_t i, const st_op *op) {
  st_range r = op->r[0];
  st_fill_bytes(op->seed, rs->host, r.bytes);
  gpb_status st = gpb_stream_copy_to_device(rs->streams[op->stream], rs->host, rs->bufs[r.slot], r.offset, r.bytes);
  // The source may be reused once the call returns: a runtime that copied it
  // later would now upload this pattern instead.
  memset(rs->host, 0xa5, r.bytes);
  st_fill_bytes(op->seed, rs->model[r.slot] + r.offset, r.bytes);
  return !api_failed(rs, i, st, "gpb_stream_copy_to_device");
}

static bool op_readback(run_state *rs, int32_t i, const st_op *op) {
  st_range r = op->r[0];
  memset(rs->host, 0x5a, r.bytes);
  gpb_status st = gpb_stream_copy_to_host(rs->streams[op->stream], rs->bufs[r.slot], r.offset, rs->host, r.bytes);
  if (api_failed(rs, i, st, "gpb_stream_copy_to_host")) return false;
  char how[64];
  snprintf(how, sizeof how, "readback on s%u", op->stream);
  return compare(rs, i, r.slot, r.offset, rs->host, r.bytes, how);
}

static bool op_map(run_state *rs, int32_t i, const st_op *op) {
  st_range r = op->r[0];
  void *ptr = NULL;
  gpb_host_access access = op->kind == ST_OP_MAP_READ ? GPB_HOST_READ : GPB_HOST_READ | GPB_HOST_WRITE;
  gpb_status st = gpb_buffer_map(rs->bufs[r.slot], access, &ptr);
  if (api_failed(rs, i, st, "gpb_buffer_map")) return false;
  if (op->kind == ST_OP_MAP_READ) return compare(rs, i, r.slot, 0, ptr, rs->size[r.slot], "gpb_buffer_map");
  st_fill_bytes(op->seed, (uint8_t *)ptr + r.offset, r.bytes);
  st_fill_bytes(op->seed, rs->model[r.slot] + r.offset, r.bytes);
  return true;
}

static void model_copy(run_state *rs, const st_op *op) {
  memmove(rs->model[op->r[1].slot] + op->r[1].offset, rs->model[op->r[0].slot] + op->r[0].offset, op->r[0].bytes);
}

// A dispatch or copy recorded into a capture: nothing runs, the model waits
// for a replay.
static void note_captured(run_state *rs, int32_t i, const st_op *op) {
  rs->capture_ops[op->capture][rs->capture_op_count[op->capture]++] = (uint32_t)i;
}

static bool op_capture(run_state *rs, int32_t i, const st_op *op) {
  gpb_stream *s = rs->streams[op->stream];
  uint8_t c = op->capture;
  switch (op->kind) {
  case ST_OP_CAPTURE:
    rs->capture_op_count[c] = 0;
    rs->capturing = op->stream;
    return !api_failed(rs, i, gpb_stream_begin_capture(s), "gpb_stream_begin_capture");
  case ST_OP_END_CAPTURE:
    rs->capturing = -1;
    return !api_failed(rs, i, gpb_stream_end_capture(s, &rs->captures[c]), "gpb_stream_end_capture");
  case ST_OP_REPLAY:
    for (uint32_t k = 0; k < rs->capture_op_count[c]; k++) {
      const st_op *sub = &rs->p->ops[rs->capture_ops[c][k]];
      if (sub->kind == ST_OP_DISPATCH)
        model_dispatch(rs, sub);
      else
        model_copy(rs, sub);
    }
    return !api_failed(rs, i, gpb_stream_replay(s, rs->captures[c]), "gpb_stream_replay");
  default: { // ST_OP_DROP_CAPTURE: waits for replays still pending
    gpb_status st = gpb_program_destroy(rs->captures[c]);
    rs->captures[c] = NULL;
    return !api_failed(rs, i, st, "gpb_program_destroy");
  }
  }
}

static bool run_op(run_state *rs, int32_t i, const st_op *op) {
  gpb_stream *s = rs->streams[op->stream];
  gpb_status st = GPB_OK;
  switch (op->kind) {
  case ST_OP_CREATE: return op_create(rs, i, op);
  case ST_OP_FREE:
    st = gpb_buffer_free(rs->bufs[op->r[0].slot]);
    drop_slot(rs, op->r[0].slot);
    return !api_failed(rs, i, st, "gpb_buffer_free");
  case ST_OP_DISPATCH:
    if (i != rs->skip_op) st = device_dispatch(rs, op);
    if (op->captured)
      note_captured(rs, i, op);
    else
      model_dispatch(rs, op);
    return !api_failed(rs, i, st, "gpb_stream_dispatch");
  case ST_OP_UPLOAD: return op_upload(rs, i, op);
  case ST_OP_COPY:
    st = gpb_stream_copy_buffer(s, rs->bufs[op->r[0].slot], op->r[0].offset, rs->bufs[op->r[1].slot], op->r[1].offset,
                                op->r[0].bytes);
    if (op->captured)
      note_captured(rs, i, op);
    else
      model_copy(rs, op);
    return !api_failed(rs, i, st, "gpb_stream_copy_buffer");
  case ST_OP_READBACK: return op_readback(rs, i, op);
  case ST_OP_MAP_READ:
  case ST_OP_MAP_WRITE: return op_map(rs, i, op);
  case ST_OP_SYNC: return !api_failed(rs, i, gpb_stream_sync(s), "gpb_stream_sync");
  case ST_OP_FLUSH: return !api_failed(rs, i, gpb_stream_flush(s), "gpb_stream_flush");
  case ST_OP_WAIT:
    return !api_failed(rs, i, gpb_stream_wait_stream(s, rs->streams[op->signaler]), "gpb_stream_wait_stream");
  case ST_OP_DEVICE_SYNC: return !api_failed(rs, i, gpb_device_sync(rs->d->dev), "gpb_device_sync");
  case ST_OP_RECREATE:
    st = gpb_stream_destroy(s);
    rs->streams[op->stream] = NULL;
    if (api_failed(rs, i, st, "gpb_stream_destroy")) return false;
    st = gpb_stream_create(rs->d->dev, &rs->p->options[op->stream], &rs->streams[op->stream]);
    return !api_failed(rs, i, st, "gpb_stream_create");
  case ST_OP_CAPTURE:
  case ST_OP_END_CAPTURE:
  case ST_OP_REPLAY:
  case ST_OP_DROP_CAPTURE: return op_capture(rs, i, op);
  case ST_OP_KIND_COUNT: break;
  }
  return true;
}

// Syncs every stream, then reads every live buffer back and compares it.
static bool final_check(run_state *rs) {
  for (uint32_t s = 0; s < rs->p->stream_count; s++) {
    if (api_failed(rs, -1, gpb_stream_sync(rs->streams[s]), "final gpb_stream_sync")) return false;
  }
  for (uint8_t slot = 0; slot < ST_MAX_SLOTS; slot++) {
    if (!rs->bufs[slot]) continue;
    const uint8_t *got = rs->host;
    if (rs->shared[slot]) {
      void *ptr = NULL;
      if (api_failed(rs, -1, gpb_buffer_map(rs->bufs[slot], GPB_HOST_READ, &ptr), "final gpb_buffer_map")) return false;
      got = ptr;
    } else {
      memset(rs->host, 0x5a, rs->size[slot]);
      gpb_status st = gpb_stream_copy_to_host(rs->streams[0], rs->bufs[slot], 0, rs->host, rs->size[slot]);
      if (api_failed(rs, -1, st, "final gpb_stream_copy_to_host")) return false;
    }
    if (!compare(rs, -1, slot, 0, got, rs->size[slot], "the final readback")) return false;
  }
  return true;
}

void st_run_program(st_device *d, const st_program *p, st_result *out) {
  memset(out, 0, sizeof *out);
  out->op_index = -1;
  run_state rs = {.d = d, .p = p, .res = out, .skip_op = -1, .capturing = -1};
  if (d->inject_bug) {
    for (uint32_t i = 0; i < p->op_count; i++) {
      if (p->ops[i].kind == ST_OP_DISPATCH) rs.skip_op = i;
    }
  }
  rs.host = malloc(ST_MAX_BUFFER);
  bool ok = !api_failed(&rs, -1, rs.host ? GPB_OK : GPB_ERROR_OUT_OF_HOST_MEMORY, "host buffer");
  rs.streams[0] = gpb_device_default_stream(d->dev);
  for (uint32_t s = 1; ok && s < p->stream_count; s++) {
    ok = !api_failed(&rs, -1, gpb_stream_create(d->dev, &p->options[s], &rs.streams[s]), "gpb_stream_create");
  }
  for (uint32_t i = 0; ok && i < p->op_count; i++) {
    if (d->trace) st_print_op(stderr, &p->ops[i], i, "trace ");
    ok = run_op(&rs, (int32_t)i, &p->ops[i]);
    out->ops_run++;
  }
  if (ok) final_check(&rs);
  // Cleanup goes on after a failure so the next program starts clean; its
  // errors are reported only if nothing failed before. Captures go first:
  // the buffers they use cannot be freed while they exist.
  if (rs.capturing >= 0) {
    gpb_program *unfinished = NULL;
    gpb_stream_end_capture(rs.streams[rs.capturing], &unfinished);
    gpb_program_destroy(unfinished);
  }
  for (uint8_t c = 0; c < ST_MAX_CAPTURES; c++) {
    gpb_status st = gpb_program_destroy(rs.captures[c]);
    if (out->outcome == ST_PASS) api_failed(&rs, -1, st, "gpb_program_destroy at the end");
  }
  for (uint8_t slot = 0; slot < ST_MAX_SLOTS; slot++) {
    if (!rs.bufs[slot]) continue;
    gpb_status st = gpb_buffer_free(rs.bufs[slot]);
    if (out->outcome == ST_PASS) api_failed(&rs, -1, st, "gpb_buffer_free at the end");
    drop_slot(&rs, slot);
  }
  for (uint32_t s = 1; s < p->stream_count; s++) {
    gpb_status st = gpb_stream_destroy(rs.streams[s]); // right after its last batch, as users do
    if (out->outcome == ST_PASS) api_failed(&rs, -1, st, "gpb_stream_destroy");
  }
  free(rs.host);
}
