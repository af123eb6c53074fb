"""Launch an AddressSanitizer build in a runner subprocess with libasan preloaded.

The parent writes each argument to a file; the runner (plain Python + ctypes, no numpy) mallocs
exactly-sized buffers for the arrays (so ASAN's redzones sit right after the last element),
launches, and writes the buffers back; the parent copies them into the caller's arrays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .toolchain import libasan_path

if TYPE_CHECKING:
    from .emulate import EmulatedFunction, LaunchArgs

SANITIZER_EXIT_CODE = 86
RUNNER_ERROR_EXIT_CODE = 3


def run_in_asan_runner(fn: EmulatedFunction, dims: tuple[int, ...], shared_mem: int,
                       marshalled: LaunchArgs, reverse: int = 0) -> None:
    from .emulate import AddressSanitizerError, EmulationError

    array_at = dict(marshalled.arrays)
    with tempfile.TemporaryDirectory(prefix="lazyflow-asan-") as tmp:
        d = Path(tmp)
        args_meta = []
        for i, holder in enumerate(marshalled.holders):
            if i in array_at:
                a = array_at[i]
                if not a.flags.c_contiguous:
                    raise ValueError(f"kernel {fn.name} argument {i}: the ASAN runner needs "
                                     "C-contiguous arrays")
                (d / f"arg{i}.bin").write_bytes(a.tobytes())
                args_meta.append({"kind": "array", "nbytes": a.nbytes,
                                  "writeback": not fn.signature.params[i].const})
            else:
                args_meta.append({"kind": "scalar", "hex": holder.tobytes().hex()})
        meta = {"library": str(fn.module.path), "kernel": fn.name, "dims": list(dims),
                "shared_mem": shared_mem, "reverse": reverse, "args": args_meta}
        (d / "meta.json").write_text(json.dumps(meta))
        env = dict(os.environ)
        env["LD_PRELOAD"] = libasan_path() or ""
        opts = (f"detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode={SANITIZER_EXIT_CODE}"
                ":allocator_may_return_null=1:detect_stack_use_after_return=0")
        env["ASAN_OPTIONS"] = opts
        env["UBSAN_OPTIONS"] = (f"print_stacktrace=1:halt_on_error=1:"
                                f"exitcode={SANITIZER_EXIT_CODE}")
        runner = Path(__file__).with_name("_asan_runner.py")
        proc = subprocess.run([sys.executable, "-I", str(runner), str(d)], capture_output=True,
                              text=True, env=env)
        if proc.returncode != 0:
            report = proc.stderr[-20000:]
            sanitizer = ("AddressSanitizer" in report or "runtime error:" in report
                         or proc.returncode == SANITIZER_EXIT_CODE)
            if sanitizer:
                raise AddressSanitizerError(f"kernel {fn.name}: sanitizer report", report)
            raise EmulationError(f"kernel {fn.name}: ASAN runner failed "
                                 f"(exit {proc.returncode})\n{report}")
        for i, a in marshalled.arrays:
            if fn.signature.params[i].const:
                continue
            data = np.frombuffer((d / f"arg{i}.bin").read_bytes(), dtype=a.dtype)
            a[...] = data.reshape(a.shape)
