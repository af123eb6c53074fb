"""The CUDA verification harness itself: hand-written kernels through NVRTC and the emulation.

Every kernel below is compiled with NVRTC for sm_80 and sm_90 (no spills allowed) and run on the
CPU emulation, with results compared to numpy. All kernels share one translation unit so g++
runs once (cached on disk by hash across runs).
"""

from __future__ import annotations

import numpy as np
import pytest

from lazyflow.codegen.cuda.verify import (
    DEFAULT_ARCHS,
    AddressSanitizerError,
    CudaCompileError,
    EmulationError,
    RegisterSpillError,
    asan_unavailable_reason,
    check_no_spills,
    emulate_module,
    gxx_unavailable_reason,
    nvrtc_compile,
    nvrtc_unavailable_reason,
    parse_kernels,
)
from lazyflow.codegen.cuda.verify.nvrtc import parse_ptxas_log

_NVRTC = nvrtc_unavailable_reason()
_GXX = gxx_unavailable_reason()
_ASAN = asan_unavailable_reason()
needs_nvrtc = pytest.mark.skipif(_NVRTC is not None, reason=f"NVRTC unavailable: {_NVRTC}")
needs_gxx = pytest.mark.skipif(_GXX is not None, reason=f"g++ unavailable: {_GXX}")
needs_asan = pytest.mark.skipif(_ASAN is not None, reason=f"ASAN unavailable: {_ASAN}")

KERNELS = r"""
#include "lazyflow_cuda.h"

// Elementwise GELU (tanh form) over a grid-stride loop.
extern "C" __global__ void gelu_f32(const float* __restrict__ x, float* __restrict__ y,
                                    long long n) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x) {
    float v = x[i];
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    y[i] = 0.5f * v * (1.0f + tanhf(u));
  }
}
"""


@pytest.fixture(scope="module")
def module():
    if _GXX is not None:
        pytest.skip(f"g++ unavailable: {_GXX}")
    return emulate_module(KERNELS)


def _rng(seed=0):
    return np.random.default_rng(seed)


@needs_nvrtc
@pytest.mark.parametrize("arch", DEFAULT_ARCHS)
def test_all_kernels_compile_without_spills(arch):
    result = nvrtc_compile(KERNELS, arch)
    assert set(result.kernels) == set(parse_kernels(KERNELS))
    assert result.cubin and ".entry gelu_f32" in result.ptx
    assert all(r.registers > 0 for r in result.kernels.values())
    check_no_spills(result)


@needs_gxx
@pytest.mark.parametrize("n", [1, 255, 1000, 4099])
def test_elementwise_grid_stride_odd_sizes(module, n):
    x = _rng(n).standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    module.get_function("gelu_f32")((3,), (128,), (x, y, np.int64(n)))
    ref = 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@needs_nvrtc
def test_compile_error_carries_nvrtc_log():
    bad = '#include "lazyflow_cuda.h"\nextern "C" __global__ void k(float* y) { y[0] = INFINITY; }\n'
    with pytest.raises(CudaCompileError) as info:
        nvrtc_compile(bad, "sm_90")
    assert "INFINITY" in info.value.log and "error" in info.value.log


def test_spill_report_is_parsed_and_rejected():
    log = ("ptxas info    : Compiling entry function 'big' for 'sm_90'\n"
           "ptxas info    : Function properties for big\n"
           "ptxas         .     48 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads\n"
           "ptxas info    : Used 255 registers, used 1 barriers, 1024 bytes smem\n")
    kernels = parse_ptxas_log(log)
    assert kernels["big"].registers == 255 and kernels["big"].spill_bytes == 76
    assert kernels["big"].shared_bytes == 1024 and kernels["big"].barriers == 1
    from lazyflow.codegen.cuda.verify import CompileResult
    with pytest.raises(RegisterSpillError, match="big"):
        check_no_spills(CompileResult("sm_90", (), b"", "", log, kernels))


@needs_asan
def test_asan_catches_out_of_bounds_read():
    src = ('#include "lazyflow_cuda.h"\n'
           'extern "C" __global__ void shifted(const float* x, float* y, int n) {\n'
           '  int i = blockIdx.x * blockDim.x + threadIdx.x;\n'
           '  if (i < n) y[i] = x[i + 1];  // planted: reads one past the end\n'
           '}\n')
    mod = emulate_module(src, asan=True)
    x = np.arange(100, dtype=np.float32)
    y = np.zeros(100, np.float32)
    with pytest.raises(AddressSanitizerError, match="heap-buffer-overflow"):
        mod.get_function("shifted")((1,), (128,), (x, y, np.int32(100)))
    # The same kernel inside bounds runs and writes back through the runner.
    mod.get_function("shifted")((1,), (128,), (x, y, np.int32(99)))
    np.testing.assert_array_equal(y[:99], x[1:])


@needs_gxx
def test_block_over_1024_threads_is_an_invalid_configuration(module):
    with pytest.raises(EmulationError, match="invalid configuration"):
        module.get_function("gelu_f32")((1,), (2048,), (np.zeros(1, np.float32),
                                                        np.zeros(1, np.float32), np.int64(1)))
