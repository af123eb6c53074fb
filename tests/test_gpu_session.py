"""The prepared real-GPU session (bench/gpu_session.sh) and its sanitizer workload
(bench/gpu_smoke.py): the workload passes on the CPU emulation of the CUDA kernels, and the
session script is valid bash that goes on past missing devices and tools."""

import os
import subprocess
import sys

import pytest

from lazyflow.runtime.cuda_emulation import emulation_available

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench")


def _gpu_smoke():
    sys.path.insert(0, BENCH)
    try:
        import gpu_smoke
    finally:
        sys.path.pop(0)
    return gpu_smoke


@pytest.mark.skipif(not emulation_available(), reason="CUDA emulator not installed")
def test_smoke_workload_matches_the_cpu_backend_on_the_emulation(capsys):
    assert _gpu_smoke().main(["--emulate"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "12/12 cases match the CPU backend" in out


def test_session_script_is_valid_bash():
    script = os.path.join(BENCH, "gpu_session.sh")
    assert subprocess.run(["bash", "-n", script], capture_output=True).returncode == 0
