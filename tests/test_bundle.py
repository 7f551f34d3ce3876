"""The one-folder application: `make bundle` builds it and its own self-test passes."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "thighmap"
# Issue #13 asks for at most 500 MB; leaving out everything thighmap never runs brings the
# bundle from 1.1 GB to about 800 MB, and the libraries it does load (VTK's rendering and
# filters about 275 MB, LLVM for the numba kernels 153 MB, Qt 100 MB, numpy and scipy with
# their two OpenBLAS about 110 MB) leave no room for 500 MB without compressing them
# (packaging/README.md has the figures). This bound catches a regression (an `import vtk`
# alone adds about 250 MB).
MAX_BUNDLE_MB = 850


def _disk_mb(folder: Path) -> float:
    """Space the folder takes on disk (as `du` counts it), symbolic links not followed."""
    blocks = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            blocks += os.lstat(Path(dirpath) / name).st_blocks
    return blocks * 512 / 2**20


def _numba_cache(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.nb[ic]")}


def test_thighmap_never_imports_all_of_vtk():
    """`import vtk` loads every VTK module; the bundle leaves most of them out (see
    packaging/thighmap.spec), so thighmap imports its VTK classes from their vtkmodules."""
    offenders = []
    for path in sorted((ROOT / "src" / "thighmap").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                if name == "vtk" or name.startswith("vtk.") or name == "vtkmodules.all":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not offenders, offenders


@pytest.mark.slow
@pytest.mark.timeout(3000)
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_bundle_builds_and_passes_its_self_test():
    out = subprocess.run(["make", "bundle"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "self-test passed" in out.stdout
    built = next(line for line in out.stdout.splitlines() if line.startswith("built dist/thighmap"))
    print(built)  # build time and size, for the record (pytest -s)
    exe = BUNDLE / "thighmap"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("thighmap ")
    assert "unknown" not in version.stdout  # the package metadata travelled with it
    assert (BUNDLE / "thighmap.desktop").is_file()
    assert (BUNDLE / "_internal" / "assets" / "landmarks.json").is_file()

    size_mb = _disk_mb(BUNDLE)
    print(f"bundle on disk: {size_mb:.0f} MB")
    assert size_mb <= MAX_BUNDLE_MB, f"the bundle takes {size_mb:.0f} MB, more than {MAX_BUNDLE_MB} MB"

    # the build's self-test compiled the safety kernels into numba's cache inside the
    # bundle; a later start finds them there and compiles nothing (no cache file changes)
    cache = _numba_cache(BUNDLE)
    assert cache, "no compiled kernels cached in the bundle"
    again = subprocess.run([str(exe), "--self-test"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _numba_cache(BUNDLE) == cache
