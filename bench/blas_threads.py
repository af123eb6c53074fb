"""Pin every library's BLAS thread pool to one count before numpy or torch is imported.

Thread pools are sized when a library loads, so a bench script imports this module first:
torch and lazyflow (through numpy) then both run on `--threads N` threads (default 1), which
keeps the comparison fair and avoids OpenBLAS's spin-waiting when threads outnumber cores.
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
