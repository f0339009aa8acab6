"""Fixtures: one device for the session (validation from GPB_VALIDATION;
scripts/check-python.sh sets it to 1), kernels compiled from GLSL once, and a
check after every test that the validation layer stayed silent."""

import numpy as np
import pytest

import gpubatch

ADD_ONE = """
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
layout(push_constant) uniform Params { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) x[i] += 1u;
}
"""

# y[i] = a * x[i] + b * y[i] for i < n
AXPBY = """
#version 450
layout(local_size_x = 128) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Params { float a; float b; uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] = a * x[i] + b * y[i];
}
"""
AXPBY_PC = np.dtype([("a", "<f4"), ("b", "<f4"), ("n", "<u4")])

# Reflection: bindings 0, 2 and 5 (one read-only, one a fixed block), a
# 16-byte push-constant block, an 8x4x1 workgroup with shared memory.
REFLECT = """
#version 450
layout(local_size_x = 8, local_size_y = 4) in;
layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 2) buffer B { uvec4 head; uint b[]; };
layout(std430, set = 0, binding = 5) buffer C { uint c[4]; };
layout(push_constant) uniform Params { uint n; uint m; float s; uint k; };
shared uint tile[32];
void main() {
  uint i = gl_LocalInvocationIndex;
  tile[i] = a[i] + k;
  barrier();
  if (i < n) b[i] = tile[(i + 1u) % 32u] + head.x + c[i % 4u] + uint(s) + m;
}
"""


@pytest.fixture(scope="session")
def spirv():
    return {name: gpubatch.compile_glsl(src) for name, src in
            (("add_one", ADD_ONE), ("axpby", AXPBY), ("reflect", REFLECT))}


@pytest.fixture(scope="session")
def session_device():
    dev = gpubatch.open()
    yield dev
    assert dev.validation_message_count == 0, dev.validation_messages
    dev.close()


@pytest.fixture
def dev(session_device):
    before = session_device.validation_message_count
    yield session_device
    assert session_device.validation_message_count == before, session_device.validation_messages


@pytest.fixture
def fresh_device():
    """A device of the test's own, for tests that close it or break it."""
    dev = gpubatch.open()
    yield dev
    if not dev.closed:
        assert dev.validation_message_count == 0, dev.validation_messages
        dev.close()


@pytest.fixture(scope="session")
def kernels(session_device, spirv):
    return {name: session_device.kernel(code, name=name) for name, code in spirv.items()}
