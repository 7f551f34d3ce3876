"""End to end: the `thighmap` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thighmap", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=300,
    )


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for word in ("check", "atlas", "render", "gui", "not a medical device"):
        assert word in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("thighmap ")


@pytest.mark.parametrize(
    ("plan", "code", "status"),
    [
        # the second needle passes 2.7 mm from the posterior femoral cutaneous nerve
        ("nct02516137-sites.thighplan.json", 1, "caution"),
        ("caution-shaft.thighplan.json", 1, "caution"),
        ("danger-sciatic.thighplan.json", 2, "danger"),
        ("fitted-patient.thighplan.json", 0, "safe"),
    ],
)
def test_check_exit_codes_and_json(plan, code, status):
    out = run("check", str(EXAMPLES / plan), "--json")
    assert out.returncode == code, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == status
    assert doc["plan"].endswith(plan)
    for n in doc["needles"]:
        assert n["status"] in ("safe", "caution", "danger")
        assert "clearance_mm" in n["nearest_danger"]


def test_check_text_report_is_readable():
    out = run("check", str(EXAMPLES / "danger-sciatic.thighplan.json"))
    assert out.returncode == 2
    assert "DANGER" in out.stdout and "Sciatic nerve" in out.stdout
    assert "not a medical device" in out.stdout


def _write(tmp_path: Path, doc: object, name: str = "p.thighplan.json") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return p


def _needle(**over):
    n = {
        "id": "n1",
        "entry_mm": [0, 90, 200],
        "direction": [0, -1, 0],
        "depth_mm": 20,
        "needle_length_mm": 50,
        "gauge_mm": 0.25,
    }
    n.update(over)
    return n


def _plan(*needles, **over):
    d = {"format": "thighmap-plan", "version": 1, "side": "right", "needles": list(needles)}
    d.update(over)
    return d


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("{not json", ["not valid JSON"]),
        (_plan(_needle(depth_mm="NaN")), ["n1", "depth_mm"]),
        (_plan(_needle(direction=[0, 0, 0])), ["n1", "direction"]),
        (_plan(_needle(target="biceps_femoris")), ["n1", "target", "biceps_femoris"]),
        (_plan(_needle(), version=2), ["version", "2"]),
        (_plan(_needle(depth_mm=60)), ["n1", "depth_mm", "60"]),
        (_plan({"id": "t", "trigger_point": "nowhere"}), ["t", "trigger_point", "nowhere"]),
    ],
)
def test_bad_input_exits_3_with_a_message_naming_file_needle_field(tmp_path, doc, expected):
    p = _write(tmp_path, doc)
    out = run("check", str(p))
    assert out.returncode == 3
    assert "Traceback" not in out.stderr
    assert p.name in out.stderr
    for word in expected:
        assert word in out.stderr


def test_nan_token_in_json_is_rejected(tmp_path):
    text = json.dumps(_plan(_needle())).replace('"depth_mm": 20', '"depth_mm": NaN')
    out = run("check", str(_write(tmp_path, text)))
    assert out.returncode == 3 and "depth_mm" in out.stderr and "Traceback" not in out.stderr


def test_missing_and_binary_files(tmp_path):
    out = run("check", str(tmp_path / "absent.thighplan.json"))
    assert out.returncode == 3 and "absent.thighplan.json" in out.stderr
    p = tmp_path / "bin.thighplan.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    out = run("check", str(p))
    assert out.returncode == 3 and "Traceback" not in out.stderr


def test_every_trigger_point_checks_safe_or_caution():
    listing = run("atlas", "trigger-points")
    ids = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    assert len(ids) >= 9
    for tid in ids:
        out = run("check", "--trigger-point", tid, "--json")
        assert out.returncode in (0, 1), (tid, out.stdout, out.stderr)


def test_unknown_trigger_point_is_bad_input():
    out = run("check", "--trigger-point", "nope")
    assert out.returncode == 3 and "nope" in out.stderr


def test_atlas_info_lists_every_structure():
    out = run("atlas", "info", "--json")
    assert out.returncode == 0
    rows = json.loads(out.stdout)
    ids = {r["id"] for r in rows}
    assert {"skin", "femur", "sciatic_nerve", "popliteal_vein", "adductor_magnus"} <= ids
    for r in rows:
        assert r["volume_cm3"] > 0 and r["kind"] and r["role"] in ("target", "danger", "caution", "context")


@pytest.mark.slow
def test_atlas_build_reproduces_the_committed_meshes(tmp_path):
    from thighmap.anatomy.meshio import read_mesh

    out = run("atlas", "build", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    committed = sorted((ROOT / "assets" / "meshes").glob("*.ply"))
    assert committed
    for path in committed:
        new = read_mesh(tmp_path / path.name)
        old = read_mesh(path)
        assert np.array_equal(new.faces, old.faces), path.name
        assert np.max(np.abs(new.vertices - old.vertices)) < 1e-3, path.name


@pytest.mark.slow
def test_render_writes_a_non_blank_png(tmp_path):
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    png = tmp_path / "atlas.png"
    out = run("render", str(EXAMPLES / "danger-sciatic.thighplan.json"), "-o", str(png), "--size", "400x600")
    assert out.returncode == 0, out.stderr
    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(png))
    reader.Update()
    pixels = vtk_to_numpy(reader.GetOutput().GetPointData().GetScalars())
    assert pixels.shape[0] == 400 * 600
    assert pixels[:, :3].std() > 10  # not a blank image
    # anatomical colours present: something reddish (muscle) and something yellow (nerve)
    r, g, b = pixels[:, 0].astype(int), pixels[:, 1].astype(int), pixels[:, 2].astype(int)
    assert np.any((r > 120) & (g < 90) & (b < 80))
    assert np.any((r > 180) & (g > 150) & (b < 90))


def test_a_usage_error_exits_3_not_2():
    out = run("check", "--no-such-option", "x.thighplan.json")
    assert out.returncode == 3 and "usage" in out.stderr and "Traceback" not in out.stderr


def test_an_unexpected_error_exits_3_in_one_line(monkeypatch, capsys, atlas):
    """Any exception escaping a subcommand is reported in one line with exit 3 (never
    exit 1, which `check` uses for "caution")."""
    from thighmap import cli
    from thighmap.safety import engine

    def broken(*args, **kwargs):
        raise RuntimeError("kaboom\nsecond line <img src=x>" + "y" * 10_000)

    monkeypatch.setattr(engine, "load_plan_for_checking", broken)
    code = cli.check_plan_file(str(EXAMPLES / "danger-sciatic.thighplan.json"), atlas)
    err = capsys.readouterr().err
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "RuntimeError: kaboom second line" in err
    assert len(err) < 2100 and "Traceback" not in err


def test_ids_with_unprintable_characters_print(tmp_path):
    """A report or message holding characters the terminal cannot encode still prints
    (escaped), with the right exit code."""
    doc = json.loads((EXAMPLES / "danger-sciatic.thighplan.json").read_text())
    doc["needles"][0]["id"] = "n\u202e\ufeff\U0001f489"
    plan = tmp_path / "odd.thighplan.json"
    plan.write_text(json.dumps(doc), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "thighmap", "check", str(plan)],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        env={**__import__("os").environ, "PYTHONIOENCODING": "ascii"},
    )
    assert out.returncode == 2, out.stderr
    assert b"Traceback" not in out.stderr and b"\\U0001f489" in out.stdout
