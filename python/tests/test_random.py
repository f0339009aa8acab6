"""Randomized: chains of dispatches and copies on random sizes, offsets and
streams, compared with the same operations in numpy."""

import numpy as np
import pytest

import gpubatch
from conftest import AXPBY_PC


@pytest.mark.parametrize("seed", range(4))
def test_against_numpy(dev, kernels, seed):
    rng = np.random.default_rng(seed)
    axpby, add_one = kernels["axpby"], kernels["add_one"]
    align = dev.info.min_storage_buffer_offset_alignment // 4  # in floats
    streams = [dev.default_stream, dev.stream(mode="batched"), dev.stream(mode="immediate")]
    n_bufs = 4
    sizes = rng.integers(64, 3000, n_bufs)
    host = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    kinds = rng.choice(["private", "shared"], n_bufs)
    bufs = [dev.buffer_from(h, kind) for h, kind in zip(host, kinds)]
    counts = [np.zeros(256, np.uint32)]
    cbuf = dev.buffer_from(counts[0])
    s = streams[0]
    for _ in range(40):
        op = rng.integers(0, 5)
        prev, s = s, streams[rng.integers(0, len(streams))]
        s.wait(prev)  # keep the operations in one order across streams
        i, j = rng.choice(n_bufs, 2, replace=False)
        if op <= 1:  # y = a x + b y over a sub-range
            n = int(min(sizes[i], sizes[j]))
            off = int(rng.integers(0, n // align)) * align if n > align else 0
            m = int(rng.integers(1, n - off + 1))
            a, b = (float(v) for v in rng.uniform(-2, 2, 2))
            s.dispatch(axpby, axpby.groups(m), [bufs[i].arg(off * 4, m * 4), bufs[j].arg(off * 4)],
                       push_constants=np.array((a, b, m), AXPBY_PC)[()])
            host[j][off:off + m] = np.float32(a) * host[i][off:off + m] + np.float32(b) * host[j][off:off + m]
        elif op == 2:  # device copy
            n = int(min(sizes[i], sizes[j]))
            src, dst = (int(v) for v in rng.integers(0, n, 2))
            m = int(rng.integers(1, n - max(src, dst) + 1))
            s.copy_buffer(bufs[i], bufs[j], m * 4, src * 4, dst * 4)
            host[j][dst:dst + m] = host[i][src:src + m]
        elif op == 3:  # upload or fill
            off = int(rng.integers(0, sizes[j]))
            m = int(rng.integers(1, sizes[j] - off + 1))
            if rng.integers(0, 2):
                v = rng.standard_normal(m).astype(np.float32)
                s.copy_to_device(v, bufs[j], off * 4)
                host[j][off:off + m] = v
            else:
                v = np.float32(rng.standard_normal())
                s.fill(bufs[j], v, np.float32, off * 4, m * 4)
                host[j][off:off + m] = v
        else:  # integer kernel on its own buffer, read back now and then
            n = int(rng.integers(1, 257))
            s.dispatch(add_one, add_one.groups(n), [cbuf], push_constants=np.uint32(n))
            counts[0][:n] += 1
            if rng.integers(0, 3) == 0:
                np.testing.assert_array_equal(cbuf.to_numpy(np.uint32, stream=s), counts[0])
    dev.sync()
    for h, b in zip(host, bufs):
        got = b.to_numpy(np.float32) if b.kind == gpubatch.PRIVATE else np.array(b.numpy(np.float32, access="r"))
        np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-5)
        b.free()
    np.testing.assert_array_equal(cbuf.to_numpy(np.uint32), counts[0])
    cbuf.free()
    for st in streams[1:]:
        st.destroy()
