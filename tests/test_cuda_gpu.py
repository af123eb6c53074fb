"""Real-GPU checks: skipped unless CuPy sees a CUDA device.

The corpus runs on the GPU against the numpy backend; the disk cache serves a second process;
launches are counted. The whole parity suite runs on the GPU with LAZYFLOW_TEST_DEVICE=cuda
(see tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cuda_corpus import CASES, TOL, run_case

import lazyflow as lf


def _gpu_skip_reason():
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install lazyflow[gpu])"
    try:
        if not cupy.cuda.is_available():
            return "cupy.cuda.is_available() is False: no CUDA device"
    except Exception as e:  # noqa: BLE001
        return f"CUDA is unusable here: {e}"
    return None


_REASON = _gpu_skip_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


@pytest.mark.parametrize("name", list(CASES))
def test_gpu_matches_numpy_backend(name):
    ref = run_case(name, "cpu")
    lf.debug.reset_metrics()
    got = run_case(name, "cuda")
    assert lf.debug.counter_value("KernelLaunch") > 0
    rtol, atol = TOL.get(CASES[name][1], TOL["float32"])
    for k, (r, g) in enumerate(zip(ref, got)):
        assert r.shape == g.shape and r.dtype == g.dtype, k
        # -ftz=true (CuPy's default) flushes float32 denormals: allow them as zeros
        np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64),
                                   rtol=max(rtol, 1e-5), atol=max(atol, 1e-6), equal_nan=True,
                                   err_msg=f"output {k}")


def test_gpu_random_is_bit_identical_to_cpu():
    lf.manual_seed(3)
    a = lf.rand(4099).numpy()
    lf.manual_seed(3)
    b = lf.rand(4099, device="cuda").cpu().numpy()
    assert np.array_equal(a, b)


def test_disk_cache_serves_a_second_process(tmp_path):
    prog = textwrap.dedent("""
        import lazyflow as lf
        x = lf.ones(1000, device="cuda")
        (x * 2.5 + 1.0).sum().item()
        print(lf.debug.counter_value("CudaCompile"), lf.debug.counter_value("CudaDiskCacheHit"))
    """)
    env = dict(os.environ, LAZYFLOW_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["1", "0"]
    assert runs[1] == ["0", "1"]
