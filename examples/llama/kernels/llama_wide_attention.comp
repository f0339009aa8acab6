#version 450
// The wide plan's attention: workgroup (h, s) takes query head h over the
// cached positions [s * split_len, min((s + 1) * split_len, pos + 1)) (the
// q/k/v kernel has already put position pos into the cache) and leaves,
// in slot s of head h, the split's largest score m, l = sum exp(score - m)
// and acc = sum exp(score - m) v. The head's last workgroup to finish (a
// counter per head says which) merges its slots into the head's output:
// sum over slots of exp(m_s - M) acc_s / L (M: the largest m_s, L: sum of
// l_s exp(m_s - M)), written in the wo kernel's unit order. Scores are
// q . k / sqrt(head_size).
#extension GL_GOOGLE_include_directive : require
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 1) readonly buffer KV { vec4 kv4[]; }; // [layer][k, v][seq_len][kv_dim4]
// [head][slot] (m, l, -, -), then from n_heads * slot_stride: [head][slot][head_size4] acc.
// Other workgroups' slots are read by the last one: coherent.
layout(std430, set = 0, binding = 2) coherent buffer Slots { vec4 slots[]; };
layout(std430, set = 0, binding = 3) readonly buffer Step { uint pos; uint token; } step;
layout(std430, set = 0, binding = 4) writeonly buffer Att { vec4 att4[]; }; // [dim4], wo's unit order
// Per head, the workgroups done with this dispatch; the last one sets it
// back to 0 for the next.
layout(std430, set = 0, binding = 5) coherent buffer Done { uint done[]; };

#define Q_AT(layer, i) q4[i]
#define ATT_STORE(layer, j4, v) att4[in_slot(j4, pc.cols, pc.out_vec4)] = (v)
#include "llama_wide_attend.glsl"

void main() { attend(gl_WorkGroupID.x, gl_WorkGroupID.y, gl_NumWorkGroups.y, pc.layer, step.pos); }
