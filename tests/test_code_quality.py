"""Lint, format and types, as configured in pyproject.toml: `make test` fails on any of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config.settings import PROJECT_ROOT

CHECKS = {
    "ruff check": ["ruff", "check", "--no-fix", "."],
    "ruff format": ["ruff", "format", "--check", "."],
    # the packages it checks are listed in [tool.mypy]; its cache (.mypy_cache) keeps reruns short
    "mypy": ["mypy"],
}


@pytest.mark.parametrize("argv", CHECKS.values(), ids=CHECKS.keys())
def test_the_code_passes(argv):
    result = subprocess.run(
        [sys.executable, "-m", *argv], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, f"`{' '.join(argv)}` failed:\n{result.stdout}{result.stderr}"
