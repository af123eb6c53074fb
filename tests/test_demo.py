"""The README's main job: `python -m lazyflow.demo` trains lazily and shows what it compiled."""

import os
import re
import subprocess
import sys

import pytest

from lazyflow import demo


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, "-m", "lazyflow.demo", "--quick", "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, out_dir


def test_quick_demo_learns(quick_run):
    out, _ = quick_run
    first, last = map(float, re.search(r"loss: first ([\d.]+), last ([\d.]+)", out).groups())
    assert last < first - 1.0          # a visibly falling loss (uniform guess is ~4.56)
    assert "train [" in out and "steps/s" in out and "sample:" in out


def test_quick_demo_compiles_the_step_once(quick_run):
    out, _ = quick_run
    compiles = int(re.search(r"Counter: UncachedCompile\n  Value: (\d+)", out).group(1))
    executes = int(re.search(r"Counter: Execute\n  Value: (\d+)", out).group(1))
    # training step, validation forward, sampling step: three graphs, however many steps ran
    assert compiles <= 4 and executes > 150
    assert "CompileTime" in out and "ExecuteTime" in out and "CachedCompile" in out


def test_quick_demo_writes_ir_and_code(quick_run):
    _, out_dir = quick_run
    files = set(os.listdir(out_dir))
    assert {"train_step.ir.txt", "train_step.optimized_ir.txt", "train_step.code.py",
            "loss_curve.txt", "metrics.txt"} <= files
    code = (out_dir / "train_step.code.py").read_text()
    compile(code, "train_step.code.py", "exec")          # the generated source is valid Python
    assert "matmul" in (out_dir / "train_step.optimized_ir.txt").read_text()


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    text = capsys.readouterr().out
    for opt in ("--quick", "--steps", "--device", "--out", "--d-model", "--layers", "--lr",
                "--blas-threads"):
        assert opt in text


def test_corpus_is_real_english_text():
    text = demo.load_corpus()
    assert len(text) > 100_000 and "Beautiful is better than ugly." in text


def test_loss_chart_shape():
    chart = demo.loss_chart([4.0, 3.0, 2.5, 2.0], width=4, height=3)
    lines = chart.splitlines()
    assert lines[0].startswith("  4.000 |*") and len(lines) == 5
