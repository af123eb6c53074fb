"""Pin every library's BLAS thread pool to one count before numpy or torch is imported.

Thread pools are sized when a library loads, so a bench script imports this module first:
torch and lazyflow (through numpy) then both run on `--threads N` threads (default 1), which
keeps the comparison fair and avoids OpenBLAS's spin-waiting when threads outnumber cores.

numpy's OpenBLAS picks its kernels from the CPU unless OPENBLAS_CORETYPE names them. Some
machines here set OPENBLAS_CORETYPE=Haswell (and OPENBLAS_L2_SIZE) for every process, which
holds numpy's GEMMs to AVX2 kernels at about half the AVX-512 speed while torch (MKL) is
unaffected: an unfair comparison. Benchmark with both unset for that one command:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/run_all.py

`blas_kernel()` names the kernel numpy's OpenBLAS runs (printed by the scripts); a notice goes
to stderr when the core type is pinned.
"""

from __future__ import annotations

import os
import sys


def threads_from_argv(argv: list[str] | None = None, default: int = 1) -> int:
    """The value of `--threads N` / `--threads=N` in the command line (before argparse runs)."""
    argv = sys.argv if argv is None else argv
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


THREADS = threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))


def blas_kernel() -> str:
    """The OpenBLAS kernel numpy uses (e.g. 'SkylakeX', 'Haswell'), or 'unknown' when numpy
    was built against another BLAS."""
    import numpy  # noqa: F401 - loads the BLAS library threadpoolctl inspects
    import threadpoolctl
    for info in threadpoolctl.threadpool_info():
        if info.get("internal_api") == "openblas":
            return str(info.get("architecture") or "unknown")
    return "unknown"


if os.environ.get("OPENBLAS_CORETYPE"):
    print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} pins numpy's OpenBLAS "
          "kernels (torch's MKL is unaffected); for a fair comparison run with "
          "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`", file=sys.stderr)
