// `gpubatch selftest`: program generation, legalization and printing (see
// selftest.h).
#include <stdlib.h>
#include <string.h>

#include "selftest.h"

const st_kernel_desc st_kernels[ST_KERNEL_COUNT] = {
    [ST_K_SCALE] = {"scale", 2, 0x2, true, false, false},
    [ST_K_SCALE_INPLACE] = {"scale_inplace", 1, 0x1, true, false, false},
    [ST_K_ADD] = {"add", 3, 0x4, false, false, false},
    [ST_K_COPY] = {"copy", 2, 0x2, false, false, false},
    [ST_K_SCAN] = {"scan", 2, 0x2, false, true, false},
    [ST_K_SCAN_INPLACE] = {"scan_inplace", 1, 0x1, false, true, false},
    [ST_K_REDUCE] = {"reduce", 2, 0x2, false, true, true},
};

uint64_t st_touched_bytes(st_kernel_id k, uint32_t binding, uint32_t n) {
  if (st_kernels[k].reduce && binding == st_kernels[k].bindings - 1) return 4;
  return 4ull * n;
}

uint64_t st_program_seed(uint64_t seed, uint64_t index) {
  uint64_t state = seed;
  uint64_t mixed = st_next(&state) ^ (index * 0xd1b54a32d192ed03ull);
  return st_next(&mixed);
}

void st_fill_bytes(uint64_t seed, uint8_t *out, uint64_t bytes) {
  uint64_t state = seed;
  for (uint64_t i = 0; i < bytes; i += 8) {
    uint64_t v = st_next(&state);
    uint64_t n = bytes - i < 8 ? bytes - i : 8;
    memcpy(out + i, &v, n);
  }
}

// ---- programs ----------------------------------------------------------------

bool st_program_push(st_program *p, const st_op *op) {
  if (p->op_count == p->op_cap) {
    uint32_t cap = p->op_cap ? p->op_cap * 2 : 64;
    st_op *ops = realloc(p->ops, cap * sizeof *ops);
    if (!ops) return false;
    p->ops = ops;
    p->op_cap = cap;
  }
  p->ops[p->op_count++] = *op;
  return true;
}

void st_program_free(st_program *p) {
  free(p->ops);
  p->ops = NULL;
  p->op_count = p->op_cap = 0;
}

bool st_program_copy(const st_program *src, st_program *dst) {
  *dst = *src;
  dst->ops = NULL;
  dst->op_count = dst->op_cap = 0;
  for (uint32_t i = 0; i < src->op_count; i++) {
    if (!st_program_push(dst, &src->ops[i])) return false;
  }
  return true;
}

// ---- generation ----------------------------------------------------------------
//
// The generator favours hazards: ops cluster on a few slots and, half the
// time, on ranges near ones touched just before (read-after-write,
// write-after-read and write-after-write across sub-ranges), and a stream
// usually keeps going for a few ops so batches get long enough to hold them.

#define RECENT 4

typedef struct gen_slot {
  bool live, shared;
  uint64_t size;
} gen_slot;

typedef struct gen_state {
  uint64_t rng;
  const st_gen_params *params;
  st_program *p;
  uint32_t slot_count;
  gen_slot slots[ST_MAX_SLOTS];
  st_range recent[RECENT];
  uint32_t recent_count, recent_next;
  uint8_t stream;
  int forced_stream; // >= 0: the stream of the next ops, whatever pick_stream would say
} gen_state;

static void note_recent(gen_state *g, uint8_t slot, uint64_t offset, uint64_t bytes) {
  g->recent[g->recent_next] = (st_range){slot, offset, bytes};
  g->recent_next = (g->recent_next + 1) % RECENT;
  if (g->recent_count < RECENT) g->recent_count++;
}

static uint64_t random_buffer_size(gen_state *g) {
  uint32_t log2 = 6 + (uint32_t)st_below(&g->rng, 11); // 64 B .. 64 KiB
  uint64_t hi = 1ull << log2, lo = hi / 2;
  uint64_t size = (lo + st_below(&g->rng, hi - lo + 1)) / 16 * 16;
  return size < ST_MIN_BUFFER ? ST_MIN_BUFFER : size;
}

static uint8_t pick_stream(gen_state *g) {
  if (g->forced_stream >= 0) return (uint8_t)g->forced_stream;
  if (!st_chance(&g->rng, 70)) g->stream = (uint8_t)st_below(&g->rng, g->p->stream_count);
  return g->stream;
}

// A live slot (shared only if asked); half the time one touched recently.
static int pick_slot(gen_state *g, bool shared_only) {
  if (g->recent_count && st_chance(&g->rng, 50)) {
    const st_range *r = &g->recent[st_below(&g->rng, g->recent_count)];
    if (g->slots[r->slot].live && (!shared_only || g->slots[r->slot].shared)) return r->slot;
  }
  int live[ST_MAX_SLOTS], count = 0;
  for (uint32_t i = 0; i < g->slot_count; i++) {
    if (g->slots[i].live && (!shared_only || g->slots[i].shared)) live[count++] = (int)i;
  }
  return count ? live[st_below(&g->rng, (uint64_t)count)] : -1;
}

// An offset (a multiple of `align`) for `bytes` in `slot`, near a recent
// range of that slot half the time. Requires bytes <= the slot's size.
static uint64_t pick_offset(gen_state *g, uint8_t slot, uint64_t bytes, uint64_t align) {
  uint64_t max_off = (g->slots[slot].size - bytes) / align * align;
  for (uint32_t i = 0; i < g->recent_count; i++) {
    const st_range *r = &g->recent[(g->recent_next + RECENT - 1 - i) % RECENT];
    if (r->slot != slot || !st_chance(&g->rng, 50)) continue;
    int64_t off = (int64_t)r->offset + (int64_t)st_below(&g->rng, r->bytes + 1) - (int64_t)st_below(&g->rng, bytes + 1);
    if (off < 0) off = 0;
    if ((uint64_t)off > max_off) off = (int64_t)max_off;
    return (uint64_t)off / align * align;
  }
  return st_below(&g->rng, max_off / align + 1) * align;
}

// Length of a host transfer: small ones go inline, large ones through staging.
static uint64_t pick_length(gen_state *g, uint64_t limit, bool aligned) {
  uint64_t n;
  uint32_t r = (uint32_t)st_below(&g->rng, 100);
  if (r < 35)
    n = 1 + st_below(&g->rng, 64);
  else if (r < 70)
    n = 65 + st_below(&g->rng, 4032);
  else
    n = 4097 + st_below(&g->rng, ST_MAX_BUFFER);
  if (n > limit) n = limit;
  if (aligned) n = n < 4 ? 4 : n / 4 * 4;
  return n;
}

static bool ranges_overlap(st_range a, uint64_t a_size, st_range b, uint64_t b_size) {
  uint64_t a_end = a.bytes ? a.offset + a.bytes : a_size, b_end = b.bytes ? b.offset + b.bytes : b_size;
  return a.slot == b.slot && a.offset < b_end && b.offset < a_end;
}

static bool push_op(gen_state *g, st_op *op) {
  op->seed = st_next(&g->rng);
  return st_program_push(g->p, op);
}

static bool gen_create(gen_state *g, uint8_t slot) {
  st_op op = {
      .kind = ST_OP_CREATE, .stream = pick_stream(g), .size = random_buffer_size(g), .shared = st_chance(&g->rng, 30)};
  op.r[0] = (st_range){slot, 0, op.size};
  g->slots[slot] = (gen_slot){true, op.shared, op.size};
  return push_op(g, &op);
}

static bool gen_dispatch(gen_state *g) {
  st_op op = {.kind = ST_OP_DISPATCH, .stream = pick_stream(g)};
  op.kernel = (st_kernel_id)st_below(&g->rng, ST_KERNEL_COUNT);
  const st_kernel_desc *k = &st_kernels[op.kernel];
  uint32_t r = (uint32_t)st_below(&g->rng, 100);
  uint32_t n = 1 + (uint32_t)st_below(&g->rng, r < 60 ? 256 : r < 90 ? 4096 : 16384);
  uint64_t align = g->params->align;
  op.a = (uint32_t)st_next(&g->rng);
  op.b = (uint32_t)st_next(&g->rng);
  for (int attempt = 0; attempt < 8; attempt++) {
    for (uint32_t b = 0; b < k->bindings; b++) {
      int slot = pick_slot(g, false);
      if (slot < 0) return true;
      op.r[b].slot = (uint8_t)slot;
      uint64_t elems = g->slots[slot].size / 4;
      if (!(k->reduce && b == k->bindings - 1) && elems < n) n = 1 + (uint32_t)st_below(&g->rng, elems);
    }
    op.n = n;
    bool disjoint = true;
    for (uint32_t b = 0; b < k->bindings; b++) {
      uint64_t size = g->slots[op.r[b].slot].size, touched = st_touched_bytes(op.kernel, b, n);
      op.r[b].offset = pick_offset(g, op.r[b].slot, touched, align);
      uint32_t how = (uint32_t)st_below(&g->rng, 10);
      uint64_t spare = (size - op.r[b].offset - touched) / 4;
      op.r[b].bytes = how == 0 ? 0 : how == 1 ? touched + 4 * st_below(&g->rng, spare + 1) : touched;
    }
    // A written binding must not alias another binding: the kernel itself
    // would race, and the model would be undefined.
    for (uint32_t w = 0; w < k->bindings; w++) {
      if (!(k->written >> w & 1)) continue;
      for (uint32_t o = 0; o < k->bindings; o++) {
        if (o != w && ranges_overlap(op.r[w], g->slots[op.r[w].slot].size, op.r[o], g->slots[op.r[o].slot].size)) {
          disjoint = false;
        }
      }
    }
    if (!disjoint) continue;
    for (uint32_t b = 0; b < k->bindings; b++)
      note_recent(g, op.r[b].slot, op.r[b].offset, st_touched_bytes(op.kernel, b, n));
    return push_op(g, &op);
  }
  return true; // no legal placement found: skip the op
}

static bool gen_transfer(gen_state *g, st_op_kind kind) {
  st_op op = {.kind = kind, .stream = pick_stream(g)};
  int slot = pick_slot(g, kind == ST_OP_MAP_WRITE);
  if (slot < 0) return true;
  uint64_t size = g->slots[slot].size;
  bool aligned = st_chance(&g->rng, 60);
  uint64_t bytes = kind == ST_OP_READBACK && st_chance(&g->rng, 30) ? size : pick_length(g, size, aligned);
  op.r[0] = (st_range){(uint8_t)slot, pick_offset(g, (uint8_t)slot, bytes, aligned ? 4 : 1), bytes};
  note_recent(g, op.r[0].slot, op.r[0].offset, bytes);
  return push_op(g, &op);
}

static bool gen_copy(gen_state *g) {
  st_op op = {.kind = ST_OP_COPY, .stream = pick_stream(g)};
  int src = pick_slot(g, false), dst = pick_slot(g, false);
  if (src < 0) return true;
  uint64_t limit = g->slots[src].size < g->slots[dst].size ? g->slots[src].size : g->slots[dst].size;
  if (src == dst) limit /= 2; // the two ranges of one buffer must not overlap
  bool aligned = st_chance(&g->rng, 60);
  uint64_t bytes = pick_length(g, limit, aligned), step = aligned ? 4 : 1;
  for (int attempt = 0; attempt < 8; attempt++) {
    op.r[0] = (st_range){(uint8_t)src, pick_offset(g, (uint8_t)src, bytes, step), bytes};
    op.r[1] = (st_range){(uint8_t)dst, pick_offset(g, (uint8_t)dst, bytes, step), bytes};
    if (src != dst || !ranges_overlap(op.r[0], 0, op.r[1], 0)) {
      note_recent(g, op.r[1].slot, op.r[1].offset, bytes);
      return push_op(g, &op);
    }
  }
  return true;
}

const unsigned st_default_op_weights[ST_OP_KIND_COUNT] = {
    [ST_OP_DISPATCH] = 38,   [ST_OP_UPLOAD] = 12,  [ST_OP_COPY] = 10,   [ST_OP_READBACK] = 8, [ST_OP_MAP_READ] = 4,
    [ST_OP_MAP_WRITE] = 3,   [ST_OP_FREE] = 6,     [ST_OP_SYNC] = 5,    [ST_OP_FLUSH] = 5,    [ST_OP_WAIT] = 6,
    [ST_OP_DEVICE_SYNC] = 1, [ST_OP_RECREATE] = 2, [ST_OP_CAPTURE] = 3, [ST_OP_REPLAY] = 6,   [ST_OP_DROP_CAPTURE] = 1,
};

// Ops drawn only as part of another (a free's create, a capture's end).
static bool drawn_alone(int kind) { return kind != ST_OP_CREATE && kind != ST_OP_END_CAPTURE; }

static st_op_kind draw_kind(gen_state *g) {
  unsigned total = 0;
  for (int k = 0; k < ST_OP_KIND_COUNT; k++) total += drawn_alone(k) ? g->params->weights[k] : 0;
  if (total == 0) return ST_OP_KIND_COUNT;
  unsigned r = (unsigned)st_below(&g->rng, total);
  for (int k = 0; k < ST_OP_KIND_COUNT; k++) {
    unsigned w = drawn_alone(k) ? g->params->weights[k] : 0;
    if (r < w) return (st_op_kind)k;
    r -= w;
  }
  return ST_OP_KIND_COUNT;
}

// Destroys a created stream (the default one cannot be) and creates it again.
// Half the time another stream has just waited for it and submitted work
// behind that wait: destroy must not pull the semaphore from under it.
static bool gen_recreate(gen_state *g) {
  uint8_t s = (uint8_t)(1 + st_below(&g->rng, g->p->stream_count - 1));
  if (st_chance(&g->rng, 50)) {
    uint8_t other = (uint8_t)((s + 1 + st_below(&g->rng, g->p->stream_count - 1)) % g->p->stream_count);
    st_op wait = {.kind = ST_OP_WAIT, .stream = other, .signaler = s}, flush = {.kind = ST_OP_FLUSH, .stream = other};
    st_op sync = {.kind = ST_OP_SYNC, .stream = s}, free_op = {.kind = ST_OP_FREE};
    g->forced_stream = s;
    bool ok = gen_dispatch(g) && push_op(g, &wait);
    // Sometimes the host sees s finish first (a sync, or freeing what s wrote).
    uint32_t how = (uint32_t)st_below(&g->rng, 3);
    if (ok && how == 1) ok = push_op(g, &sync);
    if (ok && how == 2 && g->recent_count) {
      free_op.r[0].slot = g->recent[(g->recent_next + RECENT - 1) % RECENT].slot;
      ok = push_op(g, &free_op) && gen_create(g, free_op.r[0].slot);
    }
    g->forced_stream = other;
    ok = ok && gen_dispatch(g) && push_op(g, &flush);
    g->forced_stream = -1;
    if (!ok) return false;
  }
  st_op op = {.kind = ST_OP_RECREATE, .stream = s};
  return push_op(g, &op);
}

// Captures 1-4 dispatches and copies on one stream into a gpb_program and,
// half the time, replays it at once (replays are also drawn on their own).
static bool gen_capture(gen_state *g) {
  st_op begin = {.kind = ST_OP_CAPTURE, .stream = pick_stream(g)};
  begin.capture = (uint8_t)st_below(&g->rng, ST_MAX_CAPTURES);
  st_op end = begin, replay = {.kind = ST_OP_REPLAY, .capture = begin.capture};
  end.kind = ST_OP_END_CAPTURE;
  bool ok = push_op(g, &begin);
  g->forced_stream = begin.stream;
  for (uint32_t n = 1 + (uint32_t)st_below(&g->rng, 4); ok && n > 0; n--) {
    ok = st_chance(&g->rng, 70) ? gen_dispatch(g) : gen_copy(g);
  }
  g->forced_stream = -1;
  ok = ok && push_op(g, &end);
  if (ok && st_chance(&g->rng, 50)) {
    replay.stream = pick_stream(g);
    ok = push_op(g, &replay);
  }
  return ok;
}

static bool gen_one(gen_state *g) {
  st_op_kind kind = draw_kind(g);
  switch (kind) {
  case ST_OP_DISPATCH: return gen_dispatch(g);
  case ST_OP_UPLOAD:
  case ST_OP_READBACK:
  case ST_OP_MAP_WRITE: return gen_transfer(g, kind);
  case ST_OP_COPY: return gen_copy(g);
  case ST_OP_MAP_READ:
  case ST_OP_FREE: {
    st_op op = {.kind = kind};
    int slot = pick_slot(g, kind == ST_OP_MAP_READ);
    if (slot < 0) return true;
    op.r[0].slot = (uint8_t)slot;
    // A free (pending work and all) is followed by a new buffer in its slot.
    return push_op(g, &op) && (kind != ST_OP_FREE || gen_create(g, (uint8_t)slot));
  }
  case ST_OP_SYNC:
  case ST_OP_FLUSH:
  case ST_OP_DEVICE_SYNC: {
    st_op op = {.kind = kind, .stream = pick_stream(g)};
    return push_op(g, &op);
  }
  case ST_OP_WAIT: {
    st_op op = {.kind = kind, .stream = pick_stream(g)};
    op.signaler = (uint8_t)((op.stream + 1 + st_below(&g->rng, g->p->stream_count - 1)) % g->p->stream_count);
    return push_op(g, &op);
  }
  case ST_OP_RECREATE: return gen_recreate(g);
  case ST_OP_CAPTURE: return gen_capture(g);
  case ST_OP_REPLAY:
  case ST_OP_DROP_CAPTURE: {
    st_op op = {.kind = kind, .stream = pick_stream(g), .capture = (uint8_t)st_below(&g->rng, ST_MAX_CAPTURES)};
    return push_op(g, &op);
  }
  case ST_OP_CREATE:
  case ST_OP_END_CAPTURE:
  case ST_OP_KIND_COUNT: break;
  }
  return true;
}

// Options of a created stream: mostly batched, with small dispatch caps,
// small staging pools and varied inline-upload limits to force flushes,
// staging waits and split uploads; now and then immediate mode or
// GPB_BARRIERS_ALWAYS as controls.
static gpb_stream_options random_options(uint64_t *rng) {
  gpb_stream_options o = {.mode = GPB_MODE_BATCHED};
  if (st_chance(rng, 10)) o.mode = GPB_MODE_IMMEDIATE;
  if (st_chance(rng, 10)) o.barriers = GPB_BARRIERS_ALWAYS;
  if (st_chance(rng, 30)) o.max_batch_dispatches = 1 + (uint32_t)st_below(rng, 4);
  if (st_chance(rng, 35)) {
    static const uint64_t sizes[] = {1024, 4096, 65536};
    o.staging_buffer_bytes = sizes[st_below(rng, 3)];
    o.staging_max_buffers = 1 + (uint32_t)st_below(rng, 3);
    o.staging_max_bytes = o.staging_buffer_bytes * o.staging_max_buffers;
  }
  static const uint32_t inline_limits[] = {0, 0, 4, 64, 1024, 65536, GPB_NO_INLINE_UPLOADS};
  o.inline_upload_max_bytes = inline_limits[st_below(rng, 7)];
  return o;
}

bool st_generate(uint64_t seed, const st_gen_params *params, st_program *out) {
  memset(out, 0, sizeof *out);
  out->seed = seed;
  out->stream_count = params->streams;
  gen_state g = {.rng = seed, .params = params, .p = out, .forced_stream = -1};
  for (uint32_t s = 1; s < out->stream_count; s++) out->options[s] = random_options(&g.rng);
  g.slot_count = 2 + (uint32_t)st_below(&g.rng, ST_MAX_SLOTS - 1);
  bool ok = true;
  for (uint32_t i = 0; ok && i < g.slot_count; i++) ok = gen_create(&g, (uint8_t)i);
  for (uint32_t i = 0; ok && i < params->ops; i++) ok = gen_one(&g);
  if (!ok) st_program_free(out);
  return ok;
}

// ---- printing --------------------------------------------------------------------

static const char *const op_names[ST_OP_KIND_COUNT] = {
    "create", "free", "dispatch", "upload",   "copy",    "readback",    "map-read", "map-write",    "sync",
    "flush",  "wait", "dev-sync", "recreate", "capture", "end-capture", "replay",   "drop-capture",
};

int st_op_kind_from_name(const char *name) {
  for (int k = 0; k < ST_OP_KIND_COUNT; k++) {
    if (strcmp(op_names[k], name) == 0) return k;
  }
  return -1;
}

static void print_range(FILE *out, st_range r) {
  if (r.bytes)
    fprintf(out, "b%u[%llu,+%llu)", r.slot, (unsigned long long)r.offset, (unsigned long long)r.bytes);
  else
    fprintf(out, "b%u[%llu,end)", r.slot, (unsigned long long)r.offset);
}

void st_print_op(FILE *out, const st_op *op, uint32_t index, const char *indent) {
  fprintf(out, "%s#%-3u %-12s ", indent, index, op_names[op->kind]);
  switch (op->kind) {
  case ST_OP_CREATE:
    fprintf(out, "b%u %llu bytes %s, filled on s%u", op->r[0].slot, (unsigned long long)op->size,
            op->shared ? "shared" : "private", op->stream);
    break;
  case ST_OP_FREE: fprintf(out, "b%u", op->r[0].slot); break;
  case ST_OP_DISPATCH: {
    const st_kernel_desc *k = &st_kernels[op->kernel];
    fprintf(out, "s%u %s n=%u", op->stream, k->name, op->n);
    if (k->push_ab) fprintf(out, " a=%u b=%u", op->a, op->b);
    for (uint32_t b = 0; b < k->bindings; b++) {
      fprintf(out, " %s", k->written >> b & 1 ? "rw:" : "r:");
      print_range(out, op->r[b]);
    }
    break;
  }
  case ST_OP_UPLOAD:
  case ST_OP_READBACK:
    fprintf(out, "s%u ", op->stream);
    print_range(out, op->r[0]);
    break;
  case ST_OP_MAP_WRITE: print_range(out, op->r[0]); break;
  case ST_OP_MAP_READ: fprintf(out, "b%u", op->r[0].slot); break;
  case ST_OP_COPY:
    fprintf(out, "s%u ", op->stream);
    print_range(out, op->r[0]);
    fprintf(out, " -> ");
    print_range(out, op->r[1]);
    break;
  case ST_OP_SYNC:
  case ST_OP_FLUSH: fprintf(out, "s%u", op->stream); break;
  case ST_OP_WAIT: fprintf(out, "s%u waits for s%u", op->stream, op->signaler); break;
  case ST_OP_DEVICE_SYNC: break;
  case ST_OP_RECREATE: fprintf(out, "s%u (destroyed, then created again)", op->stream); break;
  case ST_OP_CAPTURE:
    fprintf(out, "s%u into c%u (its dispatches and copies are recorded, not run)", op->stream, op->capture);
    break;
  case ST_OP_END_CAPTURE: fprintf(out, "s%u: c%u is ready", op->stream, op->capture); break;
  case ST_OP_REPLAY: fprintf(out, "s%u c%u", op->stream, op->capture); break;
  case ST_OP_DROP_CAPTURE: fprintf(out, "c%u", op->capture); break;
  case ST_OP_KIND_COUNT: break;
  }
  if (op->captured) fprintf(out, "   [recorded into c%u]", op->capture);
  if (op->inserted && (op->kind == ST_OP_WAIT || op->kind == ST_OP_SYNC)) {
    fprintf(out, "   (inserted: b%u is used on both streams)", op->r[0].slot);
  } else if (op->inserted) {
    fprintf(out, "   (inserted)");
  }
  fprintf(out, "\n");
}

void st_print_options(FILE *out, const st_program *p, const char *indent) {
  fprintf(out, "%ss0: the default stream\n", indent);
  for (uint32_t s = 1; s < p->stream_count; s++) {
    const gpb_stream_options *o = &p->options[s];
    fprintf(out, "%ss%u: %s, barriers %s", indent, s, o->mode == GPB_MODE_IMMEDIATE ? "immediate" : "batched",
            o->barriers == GPB_BARRIERS_ALWAYS ? "always" : "tracked");
    if (o->max_batch_dispatches) fprintf(out, ", cap %u dispatches", o->max_batch_dispatches);
    if (o->staging_buffer_bytes) {
      fprintf(out, ", staging %u x %llu B", o->staging_max_buffers, (unsigned long long)o->staging_buffer_bytes);
    }
    if (o->inline_upload_max_bytes == GPB_NO_INLINE_UPLOADS)
      fprintf(out, ", no inline uploads");
    else if (o->inline_upload_max_bytes)
      fprintf(out, ", inline uploads <= %u B", o->inline_upload_max_bytes);
    fprintf(out, "\n");
  }
}
