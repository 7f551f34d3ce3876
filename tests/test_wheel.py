"""Installed like any Python program: the atlas travels in the wheel and the sdist.

The slow test builds the sdist and, from it, the wheel (`python -m build`, the standard
front end), installs the wheel into a fresh virtual environment outside the checkout and
runs the program there from another folder; the fast ones pin where the atlas is read
from in each situation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from thighmap import cli, paths

ROOT = Path(__file__).resolve().parents[1]


def _atlas_files() -> list[str]:
    """Every file of the repository's assets/ tree, relative to it (what must travel)."""
    return sorted(
        p.relative_to(ROOT / "assets").as_posix()
        for p in (ROOT / "assets").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


# ---- where the atlas is read from


def test_a_checkout_reads_and_writes_its_own_assets_folder(monkeypatch):
    monkeypatch.delenv("THIGHMAP_ASSETS", raising=False)
    where = paths.atlas_location()
    assert where == paths.AtlasLocation(ROOT / "assets", "checkout")
    assert where.writable
    assert paths.landmarks_path() == ROOT / "assets" / "landmarks.json"
    assert paths.meshes_dir() == ROOT / "assets" / "meshes"


def test_thighmap_assets_overrides_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("THIGHMAP_ASSETS", str(tmp_path))
    monkeypatch.setattr(sys, "_MEIPASS", "/somewhere/frozen", raising=False)
    assert paths.atlas_location() == paths.AtlasLocation(tmp_path, "override")
    assert paths.landmarks_path() == tmp_path / "landmarks.json"


def test_a_frozen_bundle_reads_its_own_read_only_atlas(monkeypatch):
    monkeypatch.delenv("THIGHMAP_ASSETS", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", "/opt/thighmap/_internal", raising=False)
    where = paths.atlas_location()
    assert where.directory == Path("/opt/thighmap/_internal/assets")
    assert where.origin == "bundle" and not where.writable


def test_outside_a_checkout_the_package_data_is_read(monkeypatch):
    monkeypatch.delenv("THIGHMAP_ASSETS", raising=False)
    monkeypatch.setattr(paths, "_checkout_assets", lambda: None)
    where = paths.atlas_location()
    assert where.origin == "package" and not where.writable
    assert where.directory == Path(paths.__file__).resolve().parent / "assets"


def test_atlas_build_refuses_to_rewrite_an_installed_atlas(monkeypatch, capsys):
    installed = paths.AtlasLocation(ROOT / "assets", "package")  # the real atlas, as if installed
    monkeypatch.setattr(paths, "atlas_location", lambda: installed)
    before = {p.name: p.stat().st_mtime_ns for p in (ROOT / "assets" / "meshes").iterdir()}
    assert cli.main(["atlas", "build"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(ROOT / "assets") in err and "--out DIR" in err
    assert {p.name: p.stat().st_mtime_ns for p in (ROOT / "assets" / "meshes").iterdir()} == before


# ---- the real thing: build, install into a fresh environment, run from elsewhere


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


WINDOW_SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
def look():
    shown = [w for w in app.topLevelWidgets() if w.isVisible() and type(w).__name__ == "MainWindow"]
    image = shown[0].grab().toImage() if shown else None
    print("WINDOW", len(shown), image.width() if image else 0, image.height() if image else 0)
    app.quit()
QTimer.singleShot(3000, look)
from thighmap.gui.app import run
sys.exit(run())
"""


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    venv, out, elsewhere = tmp_path / "venv", tmp_path / "dist", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # nothing of the checkout may leak in: no PYTHONPATH, no atlas override
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "THIGHMAP_ASSETS", "PYTHONHOME")}
    env["THIGHMAP_SETTINGS_DIR"] = str(tmp_path / "settings")
    python, thighmap = venv / "bin" / "python", venv / "bin" / "thighmap"
    try:
        made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
        assert made.returncode == 0, made.stderr
        got = _run([str(python), "-m", "pip", "install", "-q", "build"], tmp_path, env)
        assert got.returncode == 0, got.stderr[-3000:]
        # no flags: the sdist first, then the wheel built from the unpacked sdist, so the
        # wheel's content proves the sdist complete
        built = _run([str(python), "-m", "build", "--outdir", str(out), str(ROOT)], tmp_path, env)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

        wanted = _atlas_files()
        assert "landmarks.json" in wanted and any(f.startswith("meshes/") for f in wanted)
        (sdist,) = out.glob("thighmap-*.tar.gz")
        with tarfile.open(sdist) as tar:
            in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        assert {f"assets/{f}" for f in wanted} <= in_sdist
        assert {"setup.py", "pyproject.toml", "src/thighmap/paths.py"} <= in_sdist
        (wheel,) = out.glob("thighmap-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            in_wheel = set(zf.namelist())
        assert {f"thighmap/assets/{f}" for f in wanted} <= in_wheel
        assert not any(n.startswith("assets/") for n in in_wheel)  # nothing at the top of site-packages

        # the dependencies come from pip's usual sources (its cache, after the first time)
        installed = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
        assert installed.returncode == 0, installed.stderr[-3000:]

        where = _run(
            [
                str(python),
                "-c",
                "import thighmap, thighmap.paths as p; print(thighmap.__file__); "
                "print(p.atlas_location().origin); print(p.landmarks_path())",
            ],
            elsewhere,
            env,
        )
        assert where.returncode == 0, where.stderr
        module, origin, landmarks = where.stdout.split()
        assert Path(module).is_relative_to(venv), module  # the installed copy, not the checkout
        assert origin == "package"
        assert Path(landmarks).is_relative_to(venv) and Path(landmarks).is_file()

        selftest = _run([str(thighmap), "--self-test"], elsewhere, env)
        assert selftest.returncode == 0, selftest.stdout[-3000:] + selftest.stderr[-3000:]
        assert "self-test passed" in selftest.stdout

        check = _run([str(thighmap), "check", "--trigger-point", "bfl_nct_mid", "--json"], elsewhere, env)
        assert check.returncode == 0, check.stderr
        report = json.loads(check.stdout)
        assert report["status"] == "safe" and report["needles"][0]["status"] == "safe"

        refused = _run([str(thighmap), "atlas", "build"], elsewhere, env)
        assert refused.returncode == 3 and "--out DIR" in refused.stderr, refused.stderr

        # THIGHMAP_ASSETS still points an installed thighmap at another atlas
        other = tmp_path / "other-atlas"
        shutil.copytree(ROOT / "assets", other)
        info = _run([str(thighmap), "atlas", "info"], elsewhere, {**env, "THIGHMAP_ASSETS": str(other)})
        assert info.returncode == 0, info.stderr
        assert str(other / "landmarks.json") in info.stdout.splitlines()[0]

        # the window opens on the installed atlas (pytest-xvfb provides the display)
        window = _run([str(python), "-c", WINDOW_SCRIPT], elsewhere, env, timeout=300)
        assert window.returncode == 0, window.stderr[-3000:]
        shown = next(line for line in window.stdout.splitlines() if line.startswith("WINDOW"))
        count, width, height = map(int, shown.split()[1:])
        assert count == 1 and width > 200 and height > 200, shown
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # about 1.4 GB
