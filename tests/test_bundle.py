"""The one-folder application: `make bundle` builds it and its own self-test passes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_bundle_builds_and_passes_its_self_test():
    out = subprocess.run(["make", "bundle"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "self-test passed" in out.stdout
    built = next(line for line in out.stdout.splitlines() if line.startswith("built dist/thighmap"))
    print(built)  # build time and size, for the record (pytest -s)
    exe = ROOT / "dist" / "thighmap" / "thighmap"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("thighmap ")
    assert "unknown" not in version.stdout  # the package metadata travelled with it
    assert (ROOT / "dist" / "thighmap" / "thighmap.desktop").is_file()
