"""The README states exactly two set-up commands, and .ci/run runs the test one."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, re.S)


def test_readme_has_exactly_two_commands():
    cmds = _readme_commands()
    assert len(cmds) == 2
    assert "python -m lazyflow.demo" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1].strip() in ci.splitlines()
