"""The pass manager: fixed points terminate, the verifier runs after every pass, rewrites are
visible (LAZYFLOW_DEBUG=2, metrics, dump folder), LAZYFLOW_OPT=0, and stable hashes."""

import os
import subprocess
import sys

import numpy as np
import pytest
from filecheck import check_order, ops_of

import lazyflow as lf
from lazyflow.ir.dtypes import float64
from lazyflow.ir.graph import Graph
from lazyflow.ir.verifier import VerificationError
from lazyflow.passes import FixedPoint, PassContext, PassManager, default_pipeline

RNG = np.random.default_rng(1)


def _program():
    x = lf.tensor(RNG.standard_normal((4, 3)).astype(np.float32))
    w = lf.tensor(RNG.standard_normal((5, 3)).astype(np.float32))
    y = (x * 1) @ w.t()
    return (y.exp() + y.exp()).sum(1)


class _AlwaysChanges:
    name = "always"

    def __init__(self):
        self.calls = 0

    def run(self, g, ctx):
        self.calls += 1
        ctx.rewrite(self.name, "claims a change")
        return 1


def test_fixed_point_stops_at_its_cap():
    p = _AlwaysChanges()
    g = Graph([], [], 0)
    PassManager([FixedPoint("loop", [p], max_iters=5)]).run(g, PassContext())
    assert p.calls == 5


def test_default_pipeline_converges_on_long_chains():
    x = lf.tensor(RNG.standard_normal(3).astype(np.float32))
    y = x
    for _ in range(40):
        y = -y * 1
    opt = lf.debug.inspect(y.exp()).optimized_ir
    assert ops_of(opt) == ["input", "exp"]
    np.testing.assert_array_equal(y.exp().numpy(), np.exp(x.numpy()))


def test_pipeline_order_and_fusion_slot():
    names = default_pipeline().names()
    assert names[0] == "dce" and names[1].startswith("simplify_group[fold, simplify, cse")
    assert names.index("transpose_fold") > 1 and names[-2:] == ["fusion", "memory"]


class _Mistypes:
    name = "mistype"

    def run(self, g, ctx):
        for n in g.nodes:
            if n.op == "exp":
                n.dtype = float64
                return 1
        return 0


def test_verifier_runs_after_every_pass():
    assert os.environ.get("LAZYFLOW_VERIFY") == "1"     # set by conftest for every test
    x = lf.tensor([1.0, 2.0])
    g = lf.debug.inspect(x.exp()).graph
    with pytest.raises(VerificationError, match="exp"):
        PassManager([_Mistypes()]).run(g)


def test_optimized_graphs_hash_stably():
    r1 = lf.debug.inspect(_program())
    r2 = lf.debug.inspect(_program())
    assert r1.optimized_ir == r2.optimized_ir
    assert hash(r1.graph) == hash(r2.graph) and r1.graph == r2.graph
    code = ("import numpy as np, lazyflow as lf\n"
            "x = lf.tensor(np.ones((4, 3), np.float32)); w = lf.tensor(np.ones((5, 3), np.float32))\n"
            "y = (x * 1) @ w.t()\n"
            "print(lf.debug.inspect((y.exp() + y.exp()).sum(1)).optimized_ir)\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd(), PYTHONHASHSEED="random")
    outs = {subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout for _ in range(2)}
    assert len(outs) == 1 and "matmul_t" in outs.pop()


def test_debug_2_prints_rewrites_and_refusals(monkeypatch, capfd):
    monkeypatch.setenv("LAZYFLOW_DEBUG", "2")
    lf.debug.clear_compile_cache()
    x = lf.tensor(RNG.standard_normal(3).astype(np.float32))
    ((x * 1).exp() + (x + 0).exp()).numpy()
    err = capfd.readouterr().err
    check_order(err, "pass=simplify rewrite reason=", "x*1 -> x")
    assert "pass=simplify refused reason=" in err and "x+0 kept" in err
    assert "pass=cse rewrite reason=" not in err or "recomputes" in err


def test_metrics_count_rewrites_per_pass():
    lf.debug.clear_compile_cache()
    _program().numpy()
    assert lf.debug.counter_value("Pass.cse") >= 1
    assert lf.debug.counter_value("Pass.simplify") >= 1
    assert lf.debug.counter_value("Pass.transpose_fold") == 1
    report = lf.debug.metrics_report()
    assert "Counter: Pass.cse" in report and "Counter: Pass.transpose_fold" in report


def test_dump_dir_has_ir_after_each_changing_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYFLOW_DUMP_DIR", str(tmp_path))
    lf.debug.clear_compile_cache()
    _program().numpy()
    files = sorted(os.listdir(tmp_path))
    per_pass = [f for f in files if ".pass" in f]
    assert any(f.endswith(".simplify.txt") for f in per_pass)
    assert any(f.endswith(".cse.txt") for f in per_pass)
    assert any(f.endswith(".transpose_fold.txt") for f in per_pass)
    assert any(f.endswith(".ir.txt") for f in files) and any(f.endswith(".opt.txt")
                                                              for f in files)
    tf = next(f for f in per_pass if f.endswith(".transpose_fold.txt"))
    assert "matmul_t" in (tmp_path / tf).read_text()


def test_opt_0_keeps_only_dead_code_elimination(monkeypatch):
    monkeypatch.setenv("LAZYFLOW_OPT", "0")
    assert default_pipeline().names() == ["dce"]
    x = lf.tensor(RNG.standard_normal(3).astype(np.float32))
    dead = x.sin()   # noqa: F841
    opt = lf.debug.inspect((x * 1).exp() + (x * 1).exp()).optimized_ir
    assert ops_of(opt).count("mul") == 2 and "sin" not in opt


def test_pipeline_is_idempotent():
    g = lf.debug.inspect(_program()).graph
    before = g.structural_key()
    ctx = default_pipeline().run(g)
    assert g.structural_key() == before
    assert not [r for p, r in ctx.reasons if p != "memory"]


@pytest.mark.parametrize("switch", ["LAZYFLOW_OPT", "LAZYFLOW_FUSION"])
def test_switching_the_pipeline_recompiles(switch, monkeypatch):
    """A program compiled with optimization (or fusion) on is not reused after the switch is
    turned off mid-process: the run compiles again, unfused, with the same values."""
    monkeypatch.delenv(switch, raising=False)
    x = lf.tensor(RNG.standard_normal((8, 8)).astype(np.float32))

    def run():
        return ((x * 2 + 1).exp() + x).sum(1).numpy()
    lf.debug.clear_compile_cache()
    fused = run()
    run()
    lf.debug.reset_metrics()
    monkeypatch.setenv(switch, "0")
    unfused = run()
    assert lf.debug.counter_value("UncachedCompile") == 1
    run()
    assert lf.debug.counter_value("UncachedCompile") == 1      # cached again under the switch
    monkeypatch.delenv(switch)
    run()
    assert lf.debug.counter_value("UncachedCompile") == 2
    np.testing.assert_allclose(fused, unfused, rtol=1e-6)
