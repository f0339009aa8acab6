"""The README's Python walkthrough, run as written (from a folder holding
tests/kernels/add_one.comp, as the repository root does)."""

import contextlib
import io
import os
import re
import shutil

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_readme_python_block(tmp_path, monkeypatch):
    readme = os.path.join(ROOT, "README.md")
    if not os.path.exists(readme):
        pytest.skip("not run from a source tree")
    with open(readme) as f:
        text = f.read()
    section = text[text.index("## Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "tests" / "kernels").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "tests", "kernels", "add_one.comp"), tmp_path / "tests" / "kernels")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[1] == "100" and "'dispatches': 100" in lines[2]
    assert (tmp_path / "trace.json").stat().st_size > 0
