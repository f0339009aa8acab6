// cpu_forward.c: run.c's forward() with a thread pool.
#include "cpu_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thread_pool.h"

struct llama_cpu {
  const llama_checkpoint *ck;
  llama_pool *pool;
  float *rope;
  // Activations (run.c's RunState).
  float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits;
  float *key_cache, *value_cache; // layers x seq_len x kv_dim
};

float *llama_rope_table(const llama_config *c) {
  uint32_t head_size = llama_head_size(c), half = head_size / 2;
  float theta = c->rope_theta > 0.0f ? c->rope_theta : 10000.0f;
  float *table = malloc((size_t)c->seq_len * half * 2 * sizeof(float));
  if (!table) return NULL;
  for (int32_t pos = 0; pos < c->seq_len; pos++) {
    for (uint32_t p = 0; p < half; p++) {
      // run.c: head_dim = i % head_size for even i, i.e. 2p.
      float freq = 1.0f / powf(theta, (float)(2 * p) / (float)head_size);
      float angle = (float)pos * freq;
      table[((size_t)pos * half + p) * 2 + 0] = cosf(angle);
      table[((size_t)pos * half + p) * 2 + 1] = sinf(angle);
    }
  }
  return table;
}

int32_t llama_argmax(const float *v, int32_t n) {
  int32_t best = -1;
  for (int32_t i = 0; i < n; i++)
    if (!isnan(v[i]) && (best < 0 || v[i] > v[best])) best = i;
  return best;
}

void llama_cpu_destroy(llama_cpu *cpu) {
  if (!cpu) return;
  llama_pool_destroy(cpu->pool);
  float *arrays[] = {cpu->rope, cpu->x,   cpu->xb,     cpu->xb2,       cpu->hb,         cpu->hb2,
                     cpu->q,    cpu->att, cpu->logits, cpu->key_cache, cpu->value_cache};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(arrays[i]);
  free(cpu);
}

int llama_cpu_create(const llama_checkpoint *ck, uint32_t threads, llama_cpu **out, llama_error *err) {
  *out = NULL;
  const llama_config *c = &ck->config;
  llama_cpu *cpu = calloc(1, sizeof *cpu);
  if (!cpu) return llama_error_set(err, "cpu decoder: out of memory");
  cpu->ck = ck;
  size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
  size_t cache = (size_t)c->n_layers * (size_t)c->seq_len * llama_kv_dim(c);
  cpu->x = calloc(dim, sizeof(float));
  cpu->xb = calloc(dim, sizeof(float));
  cpu->xb2 = calloc(dim, sizeof(float));
  cpu->hb = calloc(hidden, sizeof(float));
  cpu->hb2 = calloc(hidden, sizeof(float));
  cpu->q = calloc(dim, sizeof(float));
  cpu->att = calloc((size_t)c->n_heads * (size_t)c->seq_len, sizeof(float));
  cpu->logits = calloc((size_t)c->vocab_size, sizeof(float));
  cpu->key_cache = calloc(cache, sizeof(float));
  cpu->value_cache = calloc(cache, sizeof(float));
  cpu->rope = llama_rope_table(c);
  if (!cpu->x || !cpu->xb || !cpu->xb2 || !cpu->hb || !cpu->hb2 || !cpu->q || !cpu->att || !cpu->logits ||
      !cpu->key_cache || !cpu->value_cache || !cpu->rope) {
    llama_cpu_destroy(cpu);
    return llama_error_set(err, "cpu decoder: out of memory for activations and KV cache");
  }
  if (llama_pool_create(threads, &cpu->pool, err)) {
    llama_cpu_destroy(cpu);
    return -1;
  }
  *out = cpu;
  return 0;
}

static void rmsnorm(float *o, const float *x, const float *weight, int32_t size) {
  float ss = 0.0f;
  for (int32_t j = 0; j < size; j++) ss += x[j] * x[j];
  ss /= (float)size;
  ss += 1e-5f;
  ss = 1.0f / sqrtf(ss);
  for (int32_t j = 0; j < size; j++) o[j] = weight[j] * (ss * x[j]);
}

static void softmax(float *x, int32_t size) {
  float max_val = x[0];
  for (int32_t i = 1; i < size; i++)
    if (x[i] > max_val) max_val = x[i];
  float sum = 0.0f;
  for (int32_t i = 0; i < size; i++) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  for (int32_t i = 0; i < size; i++) x[i] /= sum;
}

typedef struct matvec_job {
  float *out;
  const float *x, *w;
  uint32_t n; // input length
} matvec_job;

static void matvec_rows(void *ctx, uint32_t begin, uint32_t end) {
  const matvec_job *job = ctx;
  for (uint32_t i = begin; i < end; i++) {
    const float *row = job->w + (size_t)i * job->n;
    float val = 0.0f;
    for (uint32_t j = 0; j < job->n; j++) val += row[j] * job->x[j];
    job->out[i] = val;
  }
}

// out (d) = W (d x n) * x (n)
static void matvec(llama_cpu *cpu, float *out, const float *x, const float *w, int32_t n, int32_t d) {
  matvec_job job = {out, x, w, (uint32_t)n};
  llama_pool_run(cpu->pool, (uint32_t)d, matvec_rows, &job);
}

typedef struct attention_job {
  llama_cpu *cpu;
  size_t layer_offset; // into the caches
  int32_t pos;
} attention_job;

static void attention_heads(void *ctx, uint32_t begin, uint32_t end) {
  const attention_job *job = ctx;
  llama_cpu *cpu = job->cpu;
  const llama_config *c = &cpu->ck->config;
  uint32_t head_size = llama_head_size(c), kv_dim = llama_kv_dim(c);
  uint32_t kv_mul = (uint32_t)(c->n_heads / c->n_kv_heads);
  for (uint32_t h = begin; h < end; h++) {
    const float *q = cpu->q + h * head_size;
    float *att = cpu->att + (size_t)h * (size_t)c->seq_len;
    for (int32_t t = 0; t <= job->pos; t++) {
      const float *k = cpu->key_cache + job->layer_offset + (size_t)t * kv_dim + (h / kv_mul) * head_size;
      float score = 0.0f;
      for (uint32_t i = 0; i < head_size; i++) score += q[i] * k[i];
      att[t] = score / sqrtf((float)head_size);
    }
    softmax(att, job->pos + 1);
    float *xb = cpu->xb + h * head_size;
    memset(xb, 0, head_size * sizeof(float));
    for (int32_t t = 0; t <= job->pos; t++) {
      const float *v = cpu->value_cache + job->layer_offset + (size_t)t * kv_dim + (h / kv_mul) * head_size;
      for (uint32_t i = 0; i < head_size; i++) xb[i] += att[t] * v[i];
    }
  }
}

// Rotates q (all of it) and k (its kv_dim entries) by the table's angles.
static void rope(llama_cpu *cpu, float *q, float *k, int32_t pos) {
  const llama_config *c = &cpu->ck->config;
  uint32_t head_size = llama_head_size(c), kv_dim = llama_kv_dim(c), half = head_size / 2;
  const float *angles = cpu->rope + (size_t)pos * half * 2;
  for (uint32_t i = 0; i < (uint32_t)c->dim; i += 2) {
    uint32_t p = (i % head_size) / 2;
    float fcr = angles[2 * p], fci = angles[2 * p + 1];
    int rotations = i < kv_dim ? 2 : 1;
    for (int r = 0; r < rotations; r++) {
      float *vec = r == 0 ? q : k;
      float v0 = vec[i], v1 = vec[i + 1];
      vec[i] = v0 * fcr - v1 * fci;
      vec[i + 1] = v0 * fci + v1 * fcr;
    }
  }
}

const float *llama_cpu_forward(llama_cpu *cpu, int32_t token, int32_t pos) {
  const llama_config *c = &cpu->ck->config;
  const llama_weights *w = &cpu->ck->w;
  int32_t dim = c->dim, hidden = c->hidden_dim, kv_dim = (int32_t)llama_kv_dim(c);
  memcpy(cpu->x, w->token_embedding + (size_t)token * (size_t)dim, (size_t)dim * sizeof(float));
  for (int32_t l = 0; l < c->n_layers; l++) {
    size_t lo = (size_t)l;
    rmsnorm(cpu->xb, cpu->x, w->rms_att + lo * dim, dim);
    size_t cache_off = lo * (size_t)c->seq_len * (size_t)kv_dim;
    float *k = cpu->key_cache + cache_off + (size_t)pos * kv_dim;
    float *v = cpu->value_cache + cache_off + (size_t)pos * kv_dim;
    matvec(cpu, cpu->q, cpu->xb, w->wq + lo * dim * dim, dim, dim);
    matvec(cpu, k, cpu->xb, w->wk + lo * kv_dim * dim, dim, kv_dim);
    matvec(cpu, v, cpu->xb, w->wv + lo * kv_dim * dim, dim, kv_dim);
    rope(cpu, cpu->q, k, pos);
    attention_job job = {cpu, cache_off, pos};
    llama_pool_run(cpu->pool, (uint32_t)c->n_heads, attention_heads, &job);
    matvec(cpu, cpu->xb2, cpu->xb, w->wo + lo * dim * dim, dim, dim);
    for (int32_t i = 0; i < dim; i++) cpu->x[i] += cpu->xb2[i];
    rmsnorm(cpu->xb, cpu->x, w->rms_ffn + lo * dim, dim);
    matvec(cpu, cpu->hb, cpu->xb, w->w1 + lo * dim * hidden, dim, hidden);
    matvec(cpu, cpu->hb2, cpu->xb, w->w3 + lo * dim * hidden, dim, hidden);
    for (int32_t i = 0; i < hidden; i++) {
      float val = cpu->hb[i];
      val *= 1.0f / (1.0f + expf(-val)); // SiLU
      cpu->hb[i] = val * cpu->hb2[i];
    }
    matvec(cpu, cpu->xb, cpu->hb, w->w2 + lo * dim * hidden, hidden, dim);
    for (int32_t i = 0; i < dim; i++) cpu->x[i] += cpu->xb[i];
  }
  rmsnorm(cpu->x, cpu->x, w->rms_final, dim);
  matvec(cpu, cpu->logits, cpu->x, w->wcls, dim, c->vocab_size);
  return cpu->logits;
}
