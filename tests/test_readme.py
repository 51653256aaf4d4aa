"""The README's Python snippets run as printed, on the smoke datasets of its main command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(code: str, smoke_root: Path) -> None:
    """Each snippet alone in a fresh interpreter, as a reader pastes it: nothing imported before it (the
    envs are registered only by its own ``import omrl_bench``)."""
    env = {**os.environ, "MINARI_DATASETS_PATH": str(smoke_root)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
