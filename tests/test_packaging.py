"""The package stands on its own: `uniad bench` from a non-editable wheel in a fresh venv,
and the synthetic world / demo package stays above the library (only the CLI imports it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "uniad"


def test_no_library_module_imports_the_world():
    """train/eval/narrate/data/model never import uniad.world: it sits above them."""
    above = {"commands", "world", "bench"}
    offenders = []
    for path in SRC.rglob("*.py"):
        part = path.relative_to(SRC).parts[0]
        if part in above or path.name == "cli.py":
            continue
        if re.search(r"^\s*(from|import) uniad\.world\b", path.read_text(), re.MULTILINE):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv with UniAD installed from a wheel (no editable link to this checkout);
    its dependencies come from this environment's site-packages through a .pth line."""
    tmp = tmp_path_factory.mktemp("wheel")
    copy = tmp / "src-copy"  # build from a copy: setuptools writes build/ next to its input
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, copy / name)
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(dist), str(copy)], check=True)
    (wheel,) = dist.glob("uniad-*.whl")
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", site, str(wheel)], check=True)
    # The dependencies (torch, h5py, ...) of this environment, but not its editable uniad:
    # a path line in a .pth file adds the folder, without running the .pth files inside it.
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _uniad(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "uniad.cli", *args], capture_output=True, text=True,
                          cwd=python.parents[2])  # not the checkout: nothing found by accident


def test_bench_runs_from_a_wheel_in_a_fresh_venv(wheel_venv: Path):
    where = subprocess.run([wheel_venv, "-c", "import uniad; print(uniad.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert str(wheel_venv.parents[1]) in where and str(ROOT) not in where  # the installed copy
    listed = _uniad(wheel_venv, "bench", "features", "--help")
    assert listed.returncode == 0 and "--windows" in listed.stdout
    run = _uniad(wheel_venv, "bench", "features", "--movies", "2", "--min-minutes", "1",
                 "--max-minutes", "2", "--windows", "50", "--release-windows", "5", "--dim", "8")
    assert run.returncode == 0, run.stderr
    assert "speed ratio" in run.stdout
    unknown = _uniad(wheel_venv, "bench", "nothing")
    assert unknown.returncode == 2 and "available: " in unknown.stderr and "features" in unknown.stderr
