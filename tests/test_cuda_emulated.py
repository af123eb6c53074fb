"""The generated CUDA C, verified without a GPU.

Every corpus graph (tests/cuda_corpus.py) runs on device='cuda' through the CPU emulation of
its generated translation unit (the launch plan the CuPy runtime uses, with numpy arrays) and is
compared with the numpy backend; the same translation units then compile with NVRTC for sm_80
and sm_90 without errors or register spills. An AddressSanitizer build runs an index-fuzzing
subset (random shapes, broadcasts, transposes and slices).
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_corpus import CASES, TOL, run_case

import lazyflow as lf
from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available


def _emulation_skip_reason():
    if not emulation_available():
        return "the CUDA emulator (lazyflow.codegen.cuda.verify) is not installed"
    from lazyflow.codegen.cuda.verify.toolchain import gxx_unavailable_reason
    return gxx_unavailable_reason()


_SKIP = _emulation_skip_reason()
needs_emulator = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
SOURCES: dict = {}


def _compare(ref: list, got: list, dt: str) -> None:
    rtol, atol = TOL.get(dt, TOL["float32"])
    assert len(ref) == len(got)
    for k, (r, g) in enumerate(zip(ref, got)):
        assert r.shape == g.shape and r.dtype == g.dtype, (k, r.shape, g.shape, r.dtype, g.dtype)
        np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True, err_msg=f"output {k}")


def _emulated_sources(name: str) -> list:
    if name not in SOURCES:
        with emulated_cuda() as be:
            run_case(name, "cuda")
        SOURCES[name] = list(be.runtime().sources)
    return SOURCES[name]


@needs_emulator
@pytest.mark.parametrize("name", list(CASES))
def test_emulated_kernels_match_numpy_backend(name):
    ref = run_case(name, "cpu")
    lf.debug.reset_metrics()
    with emulated_cuda() as be:
        got = run_case(name, "cuda")
    SOURCES[name] = list(be.runtime().sources)
    assert lf.debug.counter_value("KernelLaunch") > 0   # it really ran generated kernels
    _compare(ref, got, CASES[name][1])


@needs_emulator
@pytest.mark.parametrize("name", ["layouts", "reductions-float32", "rows-float16", "mlp_step"])
def test_unfused_kernels_match_numpy_backend(name, monkeypatch):
    """LAZYFLOW_OPT=0: every op its own kernel (the one-op groups the fusion pass would leave)."""
    monkeypatch.setenv("LAZYFLOW_OPT", "0")
    ref = run_case(name, "cpu")
    with emulated_cuda():
        got = run_case(name, "cuda")
    _compare(ref, got, CASES[name][1])


def test_random_streams_are_bit_identical_to_cpu():
    if _SKIP:
        pytest.skip(_SKIP)
    for dt in (lf.float32, lf.float64, lf.float16):
        lf.manual_seed(7)
        cpu = [lf.rand(1001, dtype=dt).numpy(), lf.randint(0, 1000, (77,)).numpy()]
        with emulated_cuda():
            lf.manual_seed(7)
            dev = [lf.rand(1001, dtype=dt, device="cuda").numpy(),
                   lf.randint(0, 1000, (77,), device="cuda").numpy()]
        for a, b in zip(cpu, dev):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def corpus_translation_unit() -> tuple:
    """Every distinct kernel the corpus generates, renamed k0..kN, in one translation unit
    (NVRTC parses the headers once instead of once per graph)."""
    import re
    kernels: dict = {}
    for name in CASES:
        for src in _emulated_sources(name):
            assert "INFINITY" not in src
            for m in re.finditer(r'extern "C" __global__ void (\w+)\(.*?\n}\n', src, re.S):
                kernels.setdefault(m.group(0).replace(m.group(1), "@K@"), m.group(1))
    body = [k.replace("@K@", f"k{i}") for i, k in enumerate(kernels)]
    tu = '#include "lazyflow_cuda.h"\n#include "lazyflow_device.h"\n\n' + "\n".join(body)
    return tu, len(body)


@needs_emulator
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_corpus_kernels_compile_with_nvrtc_without_spills(arch):
    from lazyflow.codegen.cuda.verify.nvrtc import check_no_spills, nvrtc_compile
    from lazyflow.codegen.cuda.verify.toolchain import nvrtc_unavailable_reason
    if nvrtc_unavailable_reason():
        pytest.skip(nvrtc_unavailable_reason())
    tu, n = corpus_translation_unit()
    assert n > 150   # every op, dtype, layout and kernel kind of the corpus
    res = nvrtc_compile(tu, arch=arch)
    check_no_spills(res)
    assert len(res.kernels) == n


def _fuzz_graph(rng, make):
    """A random elementwise/reduction graph over a random layout (shapes 1..40, broadcasts,
    transposes, strided slices)."""
    nd = int(rng.integers(1, 4))
    shape = tuple(int(rng.integers(1, 12)) for _ in range(nd))
    big = tuple(s * 2 + 1 for s in shape)
    x = make(rng.standard_normal(big).astype(np.float32))
    v = x[tuple(slice(1, 1 + 2 * s, 2) for s in shape)]           # strided slice
    if nd > 1:
        v = v.transpose(0, nd - 1).contiguous().transpose(0, nd - 1)   # transposed strides
    b = make(rng.standard_normal(shape[-1:]).astype(np.float32))      # broadcast row
    y = (v * b + 1.0).tanh()
    return [y, y.sum(-1), y.amax(0), v.softmax(-1)]


@needs_emulator
def test_asan_index_fuzzing():
    from lazyflow.codegen.cuda.verify.toolchain import asan_unavailable_reason
    if asan_unavailable_reason():
        pytest.skip(asan_unavailable_reason())
    rng = np.random.default_rng(123)
    for _ in range(3):
        state = rng.bit_generator.state

        def build(device, state=state):
            rng.bit_generator.state = state
            outs = _fuzz_graph(rng, lambda a: lf.tensor(a, device=device))
            lf.mark_step()
            return [o.numpy() for o in outs]
        ref = build("cpu")
        with emulated_cuda(asan=True):
            got = build("cuda")
        _compare(ref, got, "float32")
