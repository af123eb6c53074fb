"""The allocator policy: after the first CPU execution, freed large arrays keep their pages
(glibc's mmap/trim thresholds raised), unless LAZYFLOW_KEEP_HEAP=0. Observed through the
process's minor page faults when a step-like set of arrays (16 + 16 + 8 MiB) is allocated,
filled and freed repeatedly: glibc by default trims that much freed memory (or unmaps it)."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="glibc allocator policy")

_PROBE = textwrap.dedent("""
    import resource, numpy as np, lazyflow as lf
    from lazyflow.runtime.heap import heap_kept
    before = heap_kept()
    (lf.ones(4) * 2).sum().item()             # first execution: configures the allocator
    faults = []
    for _ in range(6):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.empty(n << 20, np.float32) for n in (4, 4, 2)]
        for a in arrays:
            a.fill(1.0)
        del a, arrays
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print(before, heap_kept(), min(faults[2:]))
""")


def _probe(keep: str | None):
    env = dict(os.environ)
    env.pop("LAZYFLOW_KEEP_HEAP", None)
    if keep is not None:
        env["LAZYFLOW_KEEP_HEAP"] = keep
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return out[0] == "True", out[1] == "True", int(out[2])


def test_first_execution_keeps_freed_pages():
    before, after, faults = _probe(None)
    assert not before and after
    assert faults <= 8          # the arrays reuse already-mapped heap pages


def test_opt_out_leaves_the_allocator_alone():
    before, after, faults = _probe("0")
    assert not before and not after
    assert faults > 8           # glibc returned the pages: every step faults them in
