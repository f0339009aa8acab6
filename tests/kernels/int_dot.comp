#version 450
// Dot products of 4-component vectors of 8-bit integers packed in 32-bit
// words (SPV_KHR_integer_dot_product, through GL_EXT_spirv_intrinsics:
// this glslang has no GLSL built-ins for them): out[3i..3i+2] = signed .
// signed, unsigned . unsigned and signed . unsigned of words a[2i], a[2i+1].
#extension GL_EXT_spirv_intrinsics : require
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { int result[]; };
layout(push_constant) uniform Params { uint n; };

// 6019 DotProduct, 6018 DotProductInput4x8BitPacked; the last operand is
// PackedVectorFormat4x8Bit (0).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint x, uint y, spirv_literal int packed_format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4451)
uint udot(uint x, uint y, spirv_literal int packed_format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4452)
int sudot(uint x, uint y, spirv_literal int packed_format);

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= n) return;
  uint x = a[2u * i], y = a[2u * i + 1u];
  result[3u * i] = sdot(x, y, 0);
  result[3u * i + 1u] = int(udot(x, y, 0));
  result[3u * i + 2u] = sudot(x, y, 0);
}
