"""The layers contract (pyproject.toml, [tool.importlinter]): the code as it is keeps it, and an upward import
(added to a temporary copy) breaks it, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "agents", "evolve", "sandbox")
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's packages, not the installed tree
    return subprocess.run(LINT, cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_its_layers():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("envs/physics.py", "import torch"),  # the world stays torch-free
    ("envs/track.py", "from sandbox.runs import checkpoints"),  # world -> base
    ("agents/loop.py", "from sandbox.commands import train"),  # learners -> front doors
    ("sandbox/runs/evaluate.py", "import agents"),  # base -> learners
    ("agents/a2c.py", "import evolve"),  # one learner -> its independent sibling
])
def test_an_upward_import_breaks_the_contract(copy, module, upward):
    assert _lint(copy).returncode == 0  # the copy keeps the contract, as the repository does
    path = copy / module
    path.write_text(path.read_text() + f"\n\ndef _upward():\n    {upward}  # noqa\n")  # a lazy import counts too
    result = _lint(copy)
    assert result.returncode != 0 and "BROKEN" in result.stdout.upper()
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout, result.stdout
