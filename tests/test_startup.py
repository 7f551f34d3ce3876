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
@pytest.mark.timeout(1200)
def test_the_first_check_after_installation_says_it_compiles(tmp_path: Path) -> None:
    """A copy of the program with no compiled kernels beside it and an empty kernel cache:
    the first check says on stderr that it compiles them and builds the module compiled
    ahead of time into the cache; the next one says nothing and imports no numba; both
    give the report numba's kernels give."""
    pytest.importorskip("setuptools", reason="numba's ahead-of-time compiler builds with setuptools")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: numba's ahead-of-time compiler needs one")
    shutil.copytree(
        ROOT / "src" / "thighmap", tmp_path / "thighmap", ignore=shutil.ignore_patterns("__pycache__")
    )
    cache = tmp_path / "cache"
    env = dict(
        os.environ,
        PYTHONPATH=str(tmp_path),
        THIGHMAP_ASSETS=str(ROOT / "assets"),
        THIGHMAP_KERNEL_CACHE=str(cache),
    )
    plan = str(ROOT / "examples" / "nct02516137-sites.thighplan.json")
    script = (
        "import sys; from thighmap.cli import main; code = main(sys.argv[1:]); "
        "print('numba imported' if 'numba' in sys.modules else 'no numba', file=sys.stderr); sys.exit(code)"
    )

    def check(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, "check", plan, "--json"],
            capture_output=True, text=True, env=dict(env, **extra), timeout=900,
        )  # fmt: skip

    first, second = check(), check()
    # exit 1: the plan's second needle is a caution (2.7 mm from the posterior femoral
    # cutaneous nerve), the others safe
    assert first.returncode == second.returncode == 1, first.stderr
    assert first.stderr.strip().splitlines() == [
        "thighmap: compiling the safety kernels for this machine (first run only, about 30 s)…",
        "numba imported",
    ]
    assert second.stderr.strip() == "no numba"
    assert len(list(cache.glob("*/_thighmap_kernels.*"))) == 1
    numba_only = check(THIGHMAP_KERNEL_CACHE="off")
    assert first.stdout == second.stdout == numba_only.stdout


def test_a_failed_build_is_said_once_and_numba_compiles_instead(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Where the module cannot be built (here the compiler's process fails at once) the
    reason is kept in the cache folder, later starts do not try again, and the kernels
    come from numba."""
    from thighmap.safety import ahead_of_time, kernels

    monkeypatch.setenv(ahead_of_time.ENV_CACHE, str(tmp_path / "cache"))
    digest = kernels.source_digest()
    assert ahead_of_time.can_build(digest)
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    problem = ahead_of_time.build_in_cache(digest)
    assert problem
    folder = ahead_of_time.cache_folder(digest)
    assert folder is not None and (folder / ahead_of_time.FAILED_NAME).is_file()
    assert not ahead_of_time.can_build(digest)
    assert ahead_of_time.load_cached(digest) is None
    assert not list(folder.parent.glob(".building-*")), "the work folder is left behind"


def test_the_kernel_cache_is_where_it_is_said(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from thighmap.safety import ahead_of_time

    monkeypatch.setenv(ahead_of_time.ENV_CACHE, "off")
    assert ahead_of_time.cache_root() is None
    assert not ahead_of_time.can_build(1)
    monkeypatch.setenv(ahead_of_time.ENV_CACHE, str(tmp_path))
    assert ahead_of_time.cache_root() == tmp_path
    monkeypatch.delenv(ahead_of_time.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert ahead_of_time.cache_root() == tmp_path / "xdg" / "thighmap" / "kernels"


def test_a_module_that_does_not_load_is_not_used(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A damaged file in the cache (not an extension module) is passed over, not an error."""
    from thighmap.safety import ahead_of_time

    monkeypatch.setenv(ahead_of_time.ENV_CACHE, str(tmp_path))
    folder = ahead_of_time.cache_folder(7)
    assert folder is not None
    folder.mkdir(parents=True)
    ahead_of_time.module_file(folder).write_bytes(b"not a library")
    assert ahead_of_time.load_cached(7) is None


def test_the_kernel_cache_keeps_the_newest_modules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Modules of other versions of kernels.py (other installations, other checkouts) are
    kept up to a number, the most recently built first; a build in progress is left alone."""
    from thighmap.safety import ahead_of_time

    n = ahead_of_time.KEEP + 3
    for k in range(n):
        folder = tmp_path / f"{k:015x}-numpy2"
        folder.mkdir()
        os.utime(folder, (1_000_000 + k, 1_000_000 + k))
    (tmp_path / ".building-x").mkdir()
    ahead_of_time._prune(tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    newest = sorted(f"{k:015x}-numpy2" for k in range(n - ahead_of_time.KEEP, n))
    assert left == [".building-x", *newest]
