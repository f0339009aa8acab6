// `gpubatch selftest`: legalization (see selftest.h): from intent ops to a
// valid, race-free program.
//
// Streams are ordered only by gpb_stream_wait_stream, so the tracker knows,
// per stream, how many GPU commands it recorded (seq), how many of those the
// host saw finish (done: a sync of that stream, or a readback of a private
// buffer on it, which waits for everything recorded before), and for each
// pair how many of one stream's commands the other's later work waits for
// (ordered). Per slot and stream it keeps the seq of the last write and read.
// An op on stream B that writes a slot stream A read or wrote, or reads a slot
// A wrote, since what B knows to be ordered or finished, gets a wait first.
// No transitivity is assumed: a wait that was never submitted orders nothing.
// Host accesses to shared buffers and frees wait in the library for the GPU
// uses they conflict with, so they clear those uses here.
//
// Captures: between ST_OP_CAPTURE and ST_OP_END_CAPTURE a stream takes only
// dispatches and copies, which run nothing; any other op ends the capture
// first (an inserted end), so at most one is open. A replay is one command
// whose footprint is every slot its captured commands touch (written if any
// writes it), which is how the runtime tracks it too. A capture is dropped
// (inserted) before a buffer it uses is freed, as the runtime requires, and
// before its slot captures again.
#include <string.h>

#include "selftest.h"

typedef struct capture_state {
  bool live;
  uint32_t ops;
  bool writes[ST_MAX_SLOTS], reads[ST_MAX_SLOTS];
} capture_state;

typedef struct race_state {
  uint32_t streams;
  uint64_t align;
  uint64_t seq[ST_MAX_STREAMS], done[ST_MAX_STREAMS];
  uint64_t ordered[ST_MAX_STREAMS][ST_MAX_STREAMS]; // [waiter][signaler]
  bool live[ST_MAX_SLOTS], shared[ST_MAX_SLOTS];
  uint64_t size[ST_MAX_SLOTS];
  uint64_t last_write[ST_MAX_SLOTS][ST_MAX_STREAMS], last_read[ST_MAX_SLOTS][ST_MAX_STREAMS];
  int open_stream; // stream capturing now, or -1
  uint8_t open_capture;
  capture_state captures[ST_MAX_CAPTURES];
  st_program *out;
} race_state;

static bool range_fits(const race_state *rs, st_range r) {
  return r.slot < ST_MAX_SLOTS && rs->live[r.slot] && r.offset <= rs->size[r.slot] &&
         r.bytes <= rs->size[r.slot] - r.offset;
}

static bool capture_usable(const race_state *rs, uint8_t c) {
  return c < ST_MAX_CAPTURES && (rs->captures[c].live || (rs->open_stream >= 0 && rs->open_capture == c));
}

// Whether `op` can run in the current state (minimization removes creates).
static bool op_valid(const race_state *rs, const st_op *op) {
  if (op->stream >= rs->streams) return false;
  switch (op->kind) {
  case ST_OP_CREATE: return op->r[0].slot < ST_MAX_SLOTS && !rs->live[op->r[0].slot];
  case ST_OP_FREE: return op->r[0].slot < ST_MAX_SLOTS && rs->live[op->r[0].slot];
  case ST_OP_MAP_READ: return op->r[0].slot < ST_MAX_SLOTS && rs->live[op->r[0].slot] && rs->shared[op->r[0].slot];
  case ST_OP_MAP_WRITE: return range_fits(rs, op->r[0]) && rs->shared[op->r[0].slot];
  case ST_OP_UPLOAD:
  case ST_OP_READBACK: return range_fits(rs, op->r[0]);
  case ST_OP_COPY: return range_fits(rs, op->r[0]) && range_fits(rs, op->r[1]);
  case ST_OP_DISPATCH:
    for (uint32_t b = 0; b < st_kernels[op->kernel].bindings; b++) {
      st_range r = op->r[b];
      if (!range_fits(rs, r) || r.offset % rs->align != 0) return false;
      uint64_t bound = r.bytes ? r.bytes : rs->size[r.slot] - r.offset;
      if (bound < st_touched_bytes(op->kernel, b, op->n) || bound == 0) return false;
    }
    return true;
  case ST_OP_SYNC:
  case ST_OP_FLUSH:
  case ST_OP_DEVICE_SYNC: return true;
  case ST_OP_WAIT: return op->signaler < rs->streams && op->signaler != op->stream;
  case ST_OP_RECREATE: return op->stream >= 1;
  case ST_OP_CAPTURE: return op->capture < ST_MAX_CAPTURES;
  case ST_OP_END_CAPTURE: return rs->open_stream == op->stream && rs->open_capture == op->capture;
  case ST_OP_REPLAY:
  case ST_OP_DROP_CAPTURE: return capture_usable(rs, op->capture);
  case ST_OP_KIND_COUNT: break;
  }
  return false;
}

static bool push_inserted(race_state *rs, st_op_kind kind, uint8_t stream, uint8_t capture) {
  st_op op = {.kind = kind, .stream = stream, .capture = capture, .inserted = true};
  return st_program_push(rs->out, &op);
}

static bool end_open_capture(race_state *rs) {
  if (rs->open_stream < 0) return true;
  rs->captures[rs->open_capture].live = true;
  uint8_t s = (uint8_t)rs->open_stream;
  rs->open_stream = -1;
  return push_inserted(rs, ST_OP_END_CAPTURE, s, rs->open_capture);
}

static bool drop_capture(race_state *rs, uint8_t c) {
  if (!rs->captures[c].live) return true;
  rs->captures[c].live = false;
  return push_inserted(rs, ST_OP_DROP_CAPTURE, 0, c);
}

static void clear_uses(race_state *rs, uint8_t slot, bool reads_too) {
  for (uint32_t s = 0; s < ST_MAX_STREAMS; s++) {
    rs->last_write[slot][s] = 0;
    if (reads_too) rs->last_read[slot][s] = 0;
  }
}

// Before stream b's command touching `slot`: a wait (or a sync of the other
// stream) for every other stream whose conflicting use is not yet ordered.
static bool order_access(race_state *rs, uint8_t b, uint8_t slot, bool write, uint64_t *rng) {
  for (uint8_t a = 0; a < rs->streams; a++) {
    if (a == b) continue;
    uint64_t need = rs->last_write[slot][a];
    if (write && rs->last_read[slot][a] > need) need = rs->last_read[slot][a];
    uint64_t known = rs->ordered[b][a] > rs->done[a] ? rs->ordered[b][a] : rs->done[a];
    if (need <= known) continue;
    st_op fix = {.inserted = true, .r[0].slot = slot};
    if (st_chance(rng, 80)) {
      fix.kind = ST_OP_WAIT;
      fix.stream = b;
      fix.signaler = a;
      rs->ordered[b][a] = rs->seq[a];
    } else {
      fix.kind = ST_OP_SYNC;
      fix.stream = a;
      rs->done[a] = rs->seq[a];
    }
    if (!st_program_push(rs->out, &fix)) return false;
  }
  return true;
}

// The slots a command touches, for ordering; `count` of them.
typedef struct accesses {
  uint8_t slots[ST_MAX_SLOTS];
  bool writes[ST_MAX_SLOTS];
  uint32_t count;
} accesses;

static void add_access(accesses *acc, uint8_t slot, bool write) {
  acc->slots[acc->count] = slot;
  acc->writes[acc->count++] = write;
}

static void command_accesses(const st_op *op, accesses *acc) {
  if (op->kind == ST_OP_COPY) {
    add_access(acc, op->r[0].slot, false);
    add_access(acc, op->r[1].slot, true);
  } else {
    for (uint32_t b = 0; b < st_kernels[op->kernel].bindings; b++) {
      add_access(acc, op->r[b].slot, st_kernels[op->kernel].written >> b & 1);
    }
  }
}

// Applies a valid op to the state and says which slots its GPU command (if
// it records one on its stream) touches. False when out of memory.
static bool apply_op(race_state *rs, const st_op *op, accesses *acc) {
  uint8_t s = op->stream, slot = op->r[0].slot;
  switch (op->kind) {
  case ST_OP_CREATE:
    rs->live[slot] = true;
    rs->shared[slot] = op->shared;
    rs->size[slot] = op->size;
    clear_uses(rs, slot, true);
    if (!op->shared) add_access(acc, slot, true);
    break;
  case ST_OP_FREE:
    for (uint8_t c = 0; c < ST_MAX_CAPTURES; c++) {
      capture_state *cap = &rs->captures[c];
      if (cap->live && (cap->writes[slot] || cap->reads[slot]) && !drop_capture(rs, c)) return false;
    }
    rs->live[slot] = false;
    clear_uses(rs, slot, true);
    break;
  case ST_OP_UPLOAD:
    if (rs->shared[slot])
      clear_uses(rs, slot, true); // host write: the library waits
    else
      add_access(acc, slot, true);
    break;
  case ST_OP_READBACK:
    if (rs->shared[slot])
      clear_uses(rs, slot, false); // host read: waits for writers
    else
      add_access(acc, slot, false);
    break;
  case ST_OP_MAP_READ: clear_uses(rs, slot, false); break;
  case ST_OP_MAP_WRITE: clear_uses(rs, slot, true); break;
  case ST_OP_COPY:
  case ST_OP_DISPATCH: command_accesses(op, acc); break;
  case ST_OP_SYNC: rs->done[s] = rs->seq[s]; break;
  case ST_OP_FLUSH: break;
  case ST_OP_WAIT: rs->ordered[s][op->signaler] = rs->seq[op->signaler]; break;
  case ST_OP_DEVICE_SYNC:
    for (uint32_t t = 0; t < rs->streams; t++) rs->done[t] = rs->seq[t];
    break;
  case ST_OP_RECREATE: // destroy syncs the old stream; the new one has waited for nothing
    rs->done[s] = rs->seq[s];
    for (uint32_t t = 0; t < rs->streams; t++) rs->ordered[s][t] = 0;
    break;
  case ST_OP_CAPTURE:
    if (!drop_capture(rs, op->capture)) return false;
    rs->open_stream = s;
    rs->open_capture = op->capture;
    memset(&rs->captures[op->capture], 0, sizeof rs->captures[op->capture]);
    break;
  case ST_OP_END_CAPTURE:
    rs->captures[op->capture].live = true;
    rs->open_stream = -1;
    break;
  case ST_OP_REPLAY:
    for (uint8_t t = 0; t < ST_MAX_SLOTS; t++) {
      const capture_state *cap = &rs->captures[op->capture];
      if (cap->writes[t] || cap->reads[t]) add_access(acc, t, cap->writes[t]);
    }
    break;
  case ST_OP_DROP_CAPTURE: rs->captures[op->capture].live = false; break;
  case ST_OP_KIND_COUNT: break;
  }
  return true;
}

// A dispatch or copy on the capturing stream: recorded into the capture.
static bool capture_op(race_state *rs, const st_op *op) {
  capture_state *cap = &rs->captures[rs->open_capture];
  if (cap->ops == ST_MAX_CAPTURE_OPS) return true; // full: leave the op out
  cap->ops++;
  accesses acc = {.count = 0};
  command_accesses(op, &acc);
  for (uint32_t a = 0; a < acc.count; a++) {
    if (acc.writes[a])
      cap->writes[acc.slots[a]] = true;
    else
      cap->reads[acc.slots[a]] = true;
  }
  st_op recorded = *op;
  recorded.captured = true;
  recorded.capture = rs->open_capture;
  return st_program_push(rs->out, &recorded);
}

bool st_legalize(const st_program *intent, uint64_t align, st_program *out) {
  *out = *intent;
  out->ops = NULL;
  out->op_count = out->op_cap = 0;
  race_state rs = {.streams = intent->stream_count, .align = align ? align : 1, .open_stream = -1, .out = out};
  for (uint32_t i = 0; i < intent->op_count; i++) {
    const st_op *op = &intent->ops[i];
    if (op->inserted || !op_valid(&rs, op)) continue;
    bool into_capture = rs.open_stream == op->stream && (op->kind == ST_OP_DISPATCH || op->kind == ST_OP_COPY);
    if (into_capture) {
      if (!capture_op(&rs, op)) return false;
      continue;
    }
    if (op->kind != ST_OP_END_CAPTURE && !end_open_capture(&rs)) return false;
    accesses acc = {.count = 0};
    if (!apply_op(&rs, op, &acc)) return false;
    uint64_t rng = op->seed;
    for (uint32_t a = 0; a < acc.count; a++) {
      if (!order_access(&rs, op->stream, acc.slots[a], acc.writes[a], &rng)) return false;
    }
    if (acc.count) rs.seq[op->stream]++;
    for (uint32_t a = 0; a < acc.count; a++) {
      uint64_t *last = acc.writes[a] ? rs.last_write[acc.slots[a]] : rs.last_read[acc.slots[a]];
      last[op->stream] = rs.seq[op->stream];
    }
    st_op legal = *op;
    legal.captured = false;
    if (!st_program_push(out, &legal)) return false;
    // A private readback waits for all the stream recorded before it.
    if (op->kind == ST_OP_READBACK && !rs.shared[op->r[0].slot]) rs.done[op->stream] = rs.seq[op->stream];
  }
  return end_open_capture(&rs);
}
