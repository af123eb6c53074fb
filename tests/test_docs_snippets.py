"""The docs' code blocks marked `<!-- runnable -->` run as written."""

import contextlib
import io
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"<!-- runnable -->\s*\n```python\n(.*?)\n```", re.S)


def snippets():
    for page in sorted(DOCS.glob("*.md")):
        for i, code in enumerate(BLOCK.findall(page.read_text())):
            yield pytest.param(code, id=f"{page.stem}-{i}")


def test_docs_have_runnable_snippets():
    assert len(list(snippets())) >= 5


@pytest.mark.parametrize("code", snippets())
def test_snippet_runs(code):
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<docs snippet>", "exec"), {"__name__": "__docs__"})
