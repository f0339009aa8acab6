// The fake backend's host kernels: those tests register, and the built-in
// host versions of the test kernels (tests/kernels).
#include <string.h>

#include "fake/fake_internal.h"

// ---- kernels registry ---------------------------------------------------------

typedef struct kernel_entry {
  char name[64];
  gpb_fake_kernel_fn fn;
  void *user;
} kernel_entry;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static kernel_entry registry[64];
static uint32_t registry_count;

void gpb_fake_register_kernel(const char *name, gpb_fake_kernel_fn fn, void *user) {
  pthread_mutex_lock(&registry_lock);
  uint32_t i = 0;
  while (i < registry_count && strcmp(registry[i].name, name) != 0) i++;
  if (i == registry_count && registry_count < sizeof registry / sizeof registry[0]) {
    gpb_format(registry[i].name, sizeof registry[i].name, "%s", name);
    registry_count++;
  }
  if (i < registry_count) {
    registry[i].fn = fn;
    registry[i].user = user;
  }
  pthread_mutex_unlock(&registry_lock);
}

static const kernel_entry *builtin_find(const char *name);

void gpb_fake_kernel_find(const char *name, gpb_fake_kernel_fn *fn, void **user) {
  *fn = NULL;
  *user = NULL;
  bool found = false;
  pthread_mutex_lock(&registry_lock);
  for (uint32_t i = 0; i < registry_count; i++) {
    if (strcmp(registry[i].name, name) == 0) {
      *fn = registry[i].fn;
      *user = registry[i].user;
      found = true;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  const kernel_entry *b = found ? NULL : builtin_find(name);
  if (b) *fn = b->fn;
}

// The invocations of a 1-D dispatch over `n` elements that exist.
static uint32_t invocations_1d(const gpb_fake_invocation *inv, uint32_t n) {
  uint64_t total = (uint64_t)inv->groups[0] * inv->workgroup_size[0];
  return total < n ? (uint32_t)total : n;
}

static void push_u32(const gpb_fake_invocation *inv, uint32_t *out, uint32_t count) {
  memset(out, 0, count * sizeof *out);
  uint32_t bytes = inv->push_constant_bytes < count * 4 ? inv->push_constant_bytes : count * 4;
  if (inv->push_constants) memcpy(out, inv->push_constants, bytes);
}

static uint32_t arg_words(const gpb_fake_invocation *inv, uint32_t index) {
  return index < inv->arg_count ? (uint32_t)(inv->args[index].size / 4) : 0;
}

static void kernel_add_one(void *user, const gpb_fake_invocation *inv) {
  uint32_t p[1];
  push_u32(inv, p, 1);
  uint32_t n = invocations_1d(inv, p[0]), words = arg_words(inv, 0);
  uint32_t *x = words ? (uint32_t *)inv->args[0].data : NULL;
  for (uint32_t i = 0; i < n && i < words; i++) x[i] += 1;
}

static void kernel_fill(void *user, const gpb_fake_invocation *inv) {
  uint32_t p[2];
  push_u32(inv, p, 2);
  uint32_t n = invocations_1d(inv, p[0]), words = arg_words(inv, 0);
  uint32_t *v = words ? (uint32_t *)inv->args[0].data : NULL;
  for (uint32_t i = 0; i < n && i < words; i++) v[i] = p[1] + i;
}

static void kernel_axpy(void *user, const gpb_fake_invocation *inv) {
  uint32_t p[2];
  push_u32(inv, p, 2);
  uint32_t n = invocations_1d(inv, p[0]), xw = arg_words(inv, 0), yw = arg_words(inv, 1);
  if (!xw || !yw) return;
  const uint32_t *x = (const uint32_t *)inv->args[0].data;
  uint32_t *y = (uint32_t *)inv->args[1].data;
  for (uint32_t i = 0; i < n && i < xw && i < yw; i++) y[i] += p[1] * x[i];
}

static void kernel_spin(void *user, const gpb_fake_invocation *inv) {
  uint32_t p[2];
  push_u32(inv, p, 2);
  if (arg_words(inv, 0) >= 1 && inv->groups[0] > 0) ((uint32_t *)inv->args[0].data)[0] = p[1];
}

// Built in, so that a test written for any backend runs on the fake as it is.
static const kernel_entry builtins[] = {
    {"add_one", kernel_add_one, NULL},
    {"fill", kernel_fill, NULL},
    {"axpy", kernel_axpy, NULL},
    {"spin", kernel_spin, NULL},
};

static const kernel_entry *builtin_find(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}
