"""Every example runs in its short mode and does what its docstring says."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(["--quick"])


def test_every_example_is_tested():
    files = {p.stem for p in (ROOT / "examples").glob("*.py")}
    assert files == {"mlp_classifier", "cnn", "char_rnn", "custom_function",
                     "grad_accumulation", "checkpoint_resume", "inspect_compiler"}


def test_mlp_classifier_learns(capsys):
    assert run_example("mlp_classifier") > 0.9
    out = capsys.readouterr().out
    assert "compiles:" in out


def test_cnn_learns(capsys):
    assert run_example("cnn") > 0.8
    assert "kernels" in capsys.readouterr().out


def test_char_rnn_runs(capsys):
    loss = run_example("char_rnn")
    assert loss < 3.3            # below the uniform guess log(vocab) ~ 3.6 after a few steps
    assert "sample:" in capsys.readouterr().out


def test_custom_function_gradcheck(capsys):
    assert run_example("custom_function") is True
    assert "ClampedExpBackward" in capsys.readouterr().out


def test_grad_accumulation_equals_full_batch(capsys):
    assert run_example("grad_accumulation") < 1e-5
    assert "graph executions per accumulated step: [1, 1, 1]" in capsys.readouterr().out


def test_checkpoint_resume_is_exact(capsys):
    assert run_example("checkpoint_resume") < 1e-6


def test_inspect_compiler_walkthrough(capsys):
    run_example("inspect_compiler")
    out = capsys.readouterr().out
    assert "executions so far: 0" in out
    assert "UncachedCompile=1 CachedCompile=3" in out
    assert "compiled because: node" in out and "differs from the closest cached graph" in out


@pytest.mark.parametrize("name", ["mlp_classifier", "cnn"])
def test_examples_use_the_torch_style_import(name):
    assert "import lazyflow as torch" in (ROOT / "examples" / f"{name}.py").read_text()
