"""Inspection without running: debug.inspect, debug.to_networkx, LAZYFLOW_DUMP_DIR and
LAZYFLOW_DEBUG=1 (one line per execution; on a recompile, the first node that differs)."""

import os
import re

import networkx as nx
import numpy as np
import pytest

import lazyflow as lf


@pytest.fixture(autouse=True)
def _fresh_cache():
    lf.debug.clear_compile_cache()


def test_to_networkx_structure():
    x = lf.tensor(np.ones((2, 3), np.float32))
    y = (x * 2.5 + 1).exp().sum(1)
    g = lf.debug.to_networkx(y)
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    ops = [d["op"] for _, d in g.nodes(data=True)]
    for op in ("input", "scalar", "mul", "add", "exp", "sum"):
        assert op in ops, ops
    outs = [n for n, d in g.nodes(data=True) if d["output"]]
    assert len(outs) == 1 and g.nodes[outs[0]]["op"] == "sum"
    assert g.nodes[outs[0]]["shape"] == (2,) and g.nodes[outs[0]]["dtype"] == "float32"
    assert g.nodes[outs[0]]["attrs"] == {"dims": (1,), "keepdim": False}
    # edges run producer -> user; the sum depends on the input through the whole chain
    inp = next(n for n, d in g.nodes(data=True) if d["op"] == "input")
    assert nx.has_path(g, inp, outs[0]) and g.in_degree(inp) == 0
    assert lf.debug.counter_value("Execute") == 0


def test_to_networkx_several_roots_and_realized():
    a = lf.ones(3) * 2
    b = a + 1
    g = lf.debug.to_networkx(a, b)
    assert sum(d["output"] for _, d in g.nodes(data=True)) == 2
    b.tolist()
    assert lf.debug.to_networkx(b).number_of_nodes() == 0  # nothing pending


def test_inspect_report_fields():
    x = lf.randn(4, 8)
    w = lf.randn(8, 2)
    y = (x @ w).relu().sum(dim=1)
    rep = lf.debug.inspect(y)
    assert rep.ir.startswith("graph g_") and "matmul" in rep.ir and "ROOT" in rep.ir
    assert re.search(r"%\d+ = f32\[4,8\] normal", rep.ir)
    assert rep.num_nodes >= 5 and rep.num_optimized_nodes >= 1 and rep.num_kernels >= 1
    assert "def g_" in rep.code and "return" in rep.code
    assert rep.optimized_ir.startswith("graph g_")
    assert lf.debug.counter_value("Execute") == 0 and y._pending_node() is not None
    assert "kernel" in str(rep)


def test_dump_dir_writes_ir_before_after_and_code(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYFLOW_DUMP_DIR", str(tmp_path))
    x = lf.tensor(np.arange(6, dtype=np.float32))
    (x * 3 + 2).sum().item()
    (x * 3 + 2).sum().item()  # cache hit: nothing new dumped
    (x - 5).max().item()      # a second graph
    names = sorted(os.listdir(tmp_path))
    graphs = sorted({n.split(".")[0] for n in names})
    assert len(graphs) == 2, names
    for g in graphs:
        ir = (tmp_path / f"{g}.ir.txt").read_text()
        opt = (tmp_path / f"{g}.opt.txt").read_text()
        code = (tmp_path / f"{g}.py").read_text()
        assert ir.startswith(f"graph {g}") and "ROOT" in ir
        assert opt.startswith(f"graph {g}")
        assert f"def {g}(inputs)" in code
        compile(code, f"{g}.py", "exec")  # the dumped code is valid Python
    assert "item at test_core_debug.py:" in (tmp_path / f"{graphs[0]}.ir.txt").read_text() or \
        "item at test_core_debug.py:" in (tmp_path / f"{graphs[1]}.ir.txt").read_text()


def test_dump_dir_is_created(tmp_path, monkeypatch):
    d = tmp_path / "nested" / "dumps"
    monkeypatch.setenv("LAZYFLOW_DUMP_DIR", str(d))
    (lf.ones(2) * 7).tolist()
    assert any(n.endswith(".py") for n in os.listdir(d))


LINE = re.compile(r"^\[lazyflow\] (g_[0-9a-f]{6}) (hit|miss) cause=(\w+) at ([\w.]+):(\d+) "
                  r"nodes=\d+ kernels=\d+ trace=[\d.]+ms compile=[\d.]+ms exec=[\d.]+ms$")


def _lines(err: str) -> list:
    return [ln for ln in err.splitlines() if ln.startswith("[lazyflow]")]


def test_debug_one_line_per_execution(monkeypatch, capfd):
    monkeypatch.setenv("LAZYFLOW_DEBUG", "1")
    x = lf.tensor(np.arange(4, dtype=np.float32))
    here = test_debug_one_line_per_execution.__code__.co_firstlineno
    (x * 2.5).sum().item()
    (x * 3.5).sum().item()
    lf.mark_step()  # nothing pending: no execution, no line
    err = capfd.readouterr().err
    runs = [ln for ln in _lines(err) if " cause=" in ln]
    assert len(runs) == 2, err
    m1, m2 = LINE.match(runs[0]), LINE.match(runs[1])
    assert m1 and m2, runs
    assert m1.group(2) == "miss" and m2.group(2) == "hit"
    assert m1.group(1) == m2.group(1)               # same graph hash
    assert m1.group(3) == "item" and m1.group(4) == "test_core_debug.py"
    assert int(m1.group(5)) == here + 4 and int(m2.group(5)) == here + 5  # the user's lines
    assert "compiled because: first graph compiled" in err


def test_debug_explains_recompiles(monkeypatch, capfd):
    monkeypatch.setenv("LAZYFLOW_DEBUG", "1")
    x = lf.tensor(np.arange(4, dtype=np.float32))
    (x * 2.5).exp().sum().item()
    (x * 2.5).log().sum().item()     # a different op at one node
    (x * 2.5).exp().sum(0, keepdim=True).item()  # different attrs
    y = lf.tensor(np.arange(5, dtype=np.float32))
    (y * 2.5).exp().sum().item()     # different input shape
    (x * 1.0).exp().sum().item()     # a baked-in constant
    err = capfd.readouterr().err
    why = [ln for ln in _lines(err) if "compiled because" in ln]
    assert len(why) == 5, err
    assert "first graph" in why[0]
    assert "differs" in why[1] and "log" in why[1] and "exp" in why[1]
    assert "keepdim=True" in why[2] and "keepdim=False" in why[2]
    assert "[5]" in why[3] and "[4]" in why[3]
    assert "1.0" in why[4] or "1," in why[4]


def test_debug_mark_step_and_other_causes(monkeypatch, capfd):
    monkeypatch.setenv("LAZYFLOW_DEBUG", "1")
    a = lf.ones(3) * 2
    lf.mark_step()
    print(lf.ones(2) * 3)
    (lf.ones(2) * 4).numpy()
    err = capfd.readouterr().err
    causes = re.findall(r"cause=(\w+)", err)
    assert causes == ["mark_step", "print", "numpy"], err
    assert a.tolist() == [2.0, 2.0, 2.0]


def test_debug_off_prints_nothing(monkeypatch, capfd):
    monkeypatch.delenv("LAZYFLOW_DEBUG", raising=False)
    (lf.ones(3) * 2).sum().item()
    assert "[lazyflow]" not in capfd.readouterr().err


def test_runtime_errors_name_the_graph_and_barrier():
    x = lf.ones(3)
    y = x.gather(0, lf.tensor([7]))  # out-of-range index: known only when the graph runs
    with pytest.raises(IndexError) as e:
        y.tolist()
    notes = " ".join(getattr(e.value, "__notes__", []))
    assert "graph g_" in notes and "tolist" in notes and "test_core_debug.py" in notes
