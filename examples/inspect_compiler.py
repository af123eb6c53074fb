"""A walk through the compiler: pending IR, optimized IR, kernels, metrics, recompiles.

    python examples/inspect_compiler.py [--quick]

1. Record a small program and look at its IR before anything runs.
2. See what the passes did (`optimized_ir`: no-ops simplified away, the repeated expression
   computed once, elementwise chains fused into groups marked `fusion`) and the numpy code.
3. Run it at a barrier, then run it again with new data: one compile, then cache hits.
4. Change a shape and read LAZYFLOW_DEBUG's explanation of why it recompiled.
"""

import argparse
import os
import subprocess
import sys
import textwrap

import numpy as np

import lazyflow as lf


def program(x, w, b):
    h = (x @ w + b).relu()
    g = h * 1.0 + 0.0               # no-ops: the simplifier removes them
    a = (g * 0.5).tanh()            # computed twice: CSE keeps one copy
    c = (g * 0.5).tanh()
    return (a + c).sum(dim=1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="(the example is already short)")
    p.parse_args(argv)
    lf.manual_seed(0)
    x, w, b = lf.randn(8, 16), lf.randn(16, 32), lf.randn(32)
    lf.mark_step()                  # materialize the inputs: the program below starts fresh
    lf.debug.reset_metrics()

    y = program(x, w, b)
    report = lf.debug.inspect(y)    # nothing runs
    print("== 1. IR as recorded ==\n" + report.ir)
    print("== 2. after the passes ==\n" + report.optimized_ir)
    print(f"{report.num_nodes} nodes -> {report.num_optimized_nodes}, "
          f"{report.num_kernels} kernel(s) would launch")
    print("== generated numpy code ==\n" + report.code)
    print("executions so far:", lf.debug.counter_value("Execute"))

    print("== 3. barrier, then the same program on new data ==")
    print("sum:", y.sum().item())
    rng = np.random.default_rng(0)
    for _ in range(3):              # new data enters as an input: same graph, no compile
        xb = lf.from_numpy(rng.standard_normal((8, 16), dtype=np.float32))
        program(xb, w, b).sum().item()
    print(f"UncachedCompile={lf.debug.counter_value('UncachedCompile')} "
          f"CachedCompile={lf.debug.counter_value('CachedCompile')}")

    print("== 4. a new batch size recompiles; LAZYFLOW_DEBUG=1 says why ==")
    child = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        import lazyflow as lf
        from inspect_compiler import program
        w, b = lf.randn(16, 32), lf.randn(32)
        program(lf.randn(8, 16), w, b).sum().item()
        program(lf.randn(4, 16), w, b).sum().item()
    """)
    env = dict(os.environ, LAZYFLOW_DEBUG="1")
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                         check=True)
    print(out.stderr + out.stdout)
    print("== metrics ==\n" + lf.debug.metrics_report())
    return 0


if __name__ == "__main__":
    main()
