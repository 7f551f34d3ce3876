"""Start-up of the command line: what a check imports, and the first run after an
installation, which says that the safety kernels compile instead of sitting silent."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# kernels compiled ahead of time (packaging/compile_kernels.py) on the path: numba's cache is not used
AHEAD_OF_TIME = importlib.util.find_spec("_thighmap_kernels") is not None


def test_a_check_imports_neither_scipy_nor_vtk() -> None:
    """The check path needs numpy and the compiled kernels only (scipy.spatial,
    scipy.interpolate, VTK, pyvista and trimesh cost seconds to import)."""
    script = (
        "import sys; from thighmap.cli import main; "
        "code = main(['check', '--trigger-point', 'bfl_nct_mid']); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('vtk', 'vtkmodules', 'pyvista', 'trimesh') "
        "or m.startswith(('scipy.spatial', 'scipy.interpolate', 'scipy.linalg'))); "
        "print(heavy, file=sys.stderr); sys.exit(0 if code in (0, 1, 2) and not heavy else 9)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr


def test_help_imports_nothing_heavy() -> None:
    script = (
        "import sys\ntry:\n    from thighmap.cli import main; main(['--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('numpy', 'numba', 'scipy', 'vtk', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


@pytest.mark.skipif(AHEAD_OF_TIME, reason="the kernels were compiled ahead of time (no numba cache)")
def test_cache_is_cold_until_the_kernels_are_compiled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A fresh copy of kernels.py (no numba cache beside it) is cold; compiling one kernel
    makes that one warm and leaves the others cold."""
    from thighmap.safety import kernels

    shutil.copy(kernels.__file__, tmp_path / "kernels_copy.py")
    spec = importlib.util.spec_from_file_location("kernels_copy", tmp_path / "kernels_copy.py")
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert copy.cache_is_cold()
    assert copy.cache_is_cold(("triangle_grid",))

    tri = np.array([[0.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    copy.triangle_grid(*tri, 10.0)
    assert not copy.cache_is_cold(("triangle_grid",))
    assert copy.cache_is_cold()


@pytest.mark.slow
def test_the_first_check_after_installation_says_it_compiles(tmp_path: Path) -> None:
    """A copy of the program with no compiled kernels beside it: the first check says
    on stderr that it compiles them (and compiles them all), the next one says nothing,
    and both give the same report."""
    shutil.copytree(
        ROOT / "src" / "thighmap", tmp_path / "thighmap", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path), THIGHMAP_ASSETS=str(ROOT / "assets"))
    plan = str(ROOT / "examples" / "nct02516137-sites.thighplan.json")

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "thighmap", "check", plan, "--json"],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip

    first, second = check(), check()
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stderr.strip() == (
        "thighmap: compiling the safety kernels for this machine (first run only, about 10 s)…"
    )
    assert second.stderr == ""
    assert first.stdout == second.stdout
