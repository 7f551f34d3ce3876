"""Importing surfaces from another frame and units: alignment, exact checks, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.test_cli import run
from thighmap.anatomy.atlas import load_atlas
from thighmap.anatomy.importer import ImportError_, fit_transform, import_atlas
from thighmap.planning import Needle
from thighmap.safety.engine import SafetyModel

LANDMARKS = (
    "ischial_tuberosity",
    "greater_trochanter",
    "adductor_tubercle",
    "lateral_epicondyle",
    "fibular_head",
)


def _frame():
    """A scanner's frame: rotated, shifted, in metres."""
    angle = np.radians(37.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    tilt = np.radians(-12.0)
    rot = rot @ np.array(
        [[1.0, 0.0, 0.0], [0.0, np.cos(tilt), -np.sin(tilt)], [0.0, np.sin(tilt), np.cos(tilt)]]
    )
    shift = np.array([0.31, -1.2, 0.85])  # metres
    return lambda p_mm: (rot @ (np.asarray(p_mm, float) / 1000.0).T).T + shift


def _external_set(
    tmp_path: Path, atlas, *, noise_mm: float = 0.0, units: str = "m", open_nerve: bool = False
) -> Path:
    """The bundled sciatic nerve (STL) and popliteal artery (OBJ) as another program would
    export them, with the landmark points measured in that frame (optionally noisy)."""
    to_scanner = _frame()
    rng = np.random.default_rng(3)
    for sid, name in (("sciatic_nerve", "nerve.stl"), ("popliteal_artery", "artery.obj")):
        m = atlas.mesh(sid)
        faces = m.faces[:-10] if open_nerve and sid == "sciatic_nerve" else m.faces
        trimesh.Trimesh(to_scanner(m.vertices), faces, process=False).export(tmp_path / name)
    pairs = [
        {"id": lid, "point": to_scanner(atlas.landmark(lid) + rng.normal(scale=noise_mm, size=3)).tolist()}
        for lid in LANDMARKS
    ]
    mapping = {
        "format": "thighmap-import",
        "version": 1,
        "units": units,
        "fit": "rigid",
        "landmarks": pairs,
        "structures": [
            {"file": "nerve.stl", "id": "sciatic_nerve", "kind": "nerve", "role": "danger"},
            {"file": "artery.obj", "id": "popliteal_artery", "kind": "artery", "role": "danger"},
        ],
    }
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    return path


def test_fit_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(6, 3)) * 100
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    dst = 2.5 * (q @ src.T).T + [10.0, -4.0, 7.0]
    rot, scale, shift = fit_transform(src, dst, similarity=True)
    np.testing.assert_allclose(rot, q, atol=1e-9)
    assert scale == pytest.approx(2.5)
    np.testing.assert_allclose(shift, [10.0, -4.0, 7.0], atol=1e-9)


@pytest.mark.slow
def test_imported_surfaces_check_like_the_native_atlas(tmp_path, atlas):
    mapping = _external_set(tmp_path, atlas, noise_mm=0.3)
    result = import_atlas(mapping, tmp_path / "imported", base=atlas)
    assert result.structures == ["sciatic_nerve", "popliteal_artery"]
    assert result.rms_mm < 1.0  # the noise put on the landmark points
    imported = load_atlas(result.atlas_path)
    assert imported.structures["sciatic_nerve"].recipe["type"] == "mesh"
    model = SafetyModel.for_atlas(imported)
    assert model.dangers.meshes is not None and "sciatic_nerve" in model.dangers.meshes.structure_ids
    native = SafetyModel.for_atlas(atlas)
    # the imported danger zone is the bundled profile's largest value (one value for a mesh)
    tube = atlas.tube("sciatic_nerve")
    rng = np.random.default_rng(8)
    compared = 0
    for k in rng.choice(len(tube.centres_mm), 12, replace=False):
        centre = tube.centres_mm[k]
        entry, inward = native.skin_surface_frame(centre + np.array([0.0, 150.0, 0.0]))
        for depth in (0.5, 0.8, 1.1):
            d = float(np.linalg.norm(centre - entry)) * depth
            needle = Needle(f"n{k}", entry, inward, d, max(75.0, d + 5), 0.25)
            a = native.check_needle(needle)
            b = model.check_needle(needle)
            for sid in ("sciatic_nerve", "popliteal_artery"):
                # the fit, and the triangulation of the tube; for a needle inside the flat
                # sciatic nerve, the depth its chains may report short (tubes.py)
                tolerance = result.max_mm + 0.05
                if a.clearances_mm[sid] < 0:
                    tolerance += native.chains.inside_shortfall_mm[native.chains.structure_ids.index(sid)]
                assert b.clearances_mm[sid] == pytest.approx(a.clearances_mm[sid], abs=tolerance)
            if a.status != b.status:  # only where the imported zone (one value) is larger
                assert (a.status, b.status) in (
                    ("safe", "caution"),
                    ("caution", "danger"),
                    ("safe", "danger"),
                )
            compared += 1
    assert compared == 36


def test_import_from_the_command_line_and_check_with_it(tmp_path, atlas):
    mapping = _external_set(tmp_path, atlas)
    out = run("atlas", "import", str(mapping), "-o", str(tmp_path / "imp"))
    assert out.returncode == 0, out.stderr
    assert "residual RMS 0.000 mm" in out.stdout
    plan = Path(__file__).resolve().parents[1] / "examples" / "danger-sciatic.thighplan.json"
    native = run("check", str(plan), "--json")
    imported = run("--atlas", str(tmp_path / "imp"), "check", str(plan), "--json")
    assert imported.returncode == native.returncode == 2
    a, b = json.loads(native.stdout)["needles"][0], json.loads(imported.stdout)["needles"][0]
    # inside the flat sciatic nerve its chains may report up to their stated shortfall less depth
    shortfall = (
        atlas.tube("sciatic_nerve").max_inside_shortfall_mm if a["clearances_mm"]["sciatic_nerve"] < 0 else 0
    )
    assert b["clearances_mm"]["sciatic_nerve"] == pytest.approx(
        a["clearances_mm"]["sciatic_nerve"], abs=0.06 + shortfall
    )
    png = tmp_path / "imported.png"
    assert (
        run("--atlas", str(tmp_path / "imp"), "render", "-o", str(png), "--size", "200x300").returncode == 0
    )
    assert png.stat().st_size > 2000


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m, d: m.update(units="mm"), "wrong units"),
        (lambda m, d: m.update(landmarks=m["landmarks"][:2]), "at least three"),
        (lambda m, d: m["landmarks"][0].update(id="navel"), "not a landmark"),
        (lambda m, d: m["structures"][0].update(kind="organ"), "kind"),
        (lambda m, d: m["structures"][0].update(file="missing.stl"), "existing"),
        (
            lambda m, d: m["structures"].append(
                {"file": "nerve.stl", "id": "new_nerve", "kind": "nerve", "role": "danger"}
            ),
            "needs uncertainty",
        ),
    ],
)
def test_bad_mappings_are_refused_with_the_field(tmp_path, atlas, change, expected):
    mapping = _external_set(tmp_path, atlas)
    doc = json.loads(mapping.read_text())
    change(doc, tmp_path)
    mapping.write_text(json.dumps(doc))
    with pytest.raises(ImportError_, match=expected):
        import_atlas(mapping, tmp_path / "out", base=atlas)


def test_open_danger_surface_and_non_finite_vertices_are_refused(tmp_path, atlas):
    mapping = _external_set(tmp_path, atlas, open_nerve=True)
    with pytest.raises(ImportError_, match="open"):
        import_atlas(mapping, tmp_path / "out", base=atlas)
    mapping = _external_set(tmp_path, atlas)
    (tmp_path / "artery.obj").write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(ImportError_, match="not finite"):
        import_atlas(mapping, tmp_path / "out", base=atlas)


def test_an_imported_atlas_is_not_fitted_to_a_profile(tmp_path, atlas):
    from thighmap.planning import PatientProfile
    from thighmap.safety.engine import model_for_patient

    result = import_atlas(_external_set(tmp_path, atlas), tmp_path / "imp", base=atlas)
    with pytest.raises(ValueError, match="imported surfaces"):
        model_for_patient(PatientProfile(mid_thigh_circumference_mm=560), load_atlas(result.atlas_path))


@pytest.mark.parametrize("sid", ["../escape", "/tmp/absolute", "a/b", "..", "x" * 65, "nerve.ply", " spaced"])
def test_structure_ids_cannot_name_paths(tmp_path, atlas, sid):
    mapping = _external_set(tmp_path, atlas)
    doc = json.loads(mapping.read_text())
    doc["structures"][0]["id"] = sid
    mapping.write_text(json.dumps(doc))
    with pytest.raises(ImportError_, match="structure id"):
        import_atlas(mapping, tmp_path / "out" / "atlas", base=atlas)
    assert not (tmp_path / "out").exists()


def test_surfaces_outside_the_mapping_folder_are_refused(tmp_path, atlas):
    (tmp_path / "set").mkdir()
    mapping = _external_set(tmp_path / "set", atlas)
    outside = tmp_path / "outside.stl"
    (mapping.parent / "nerve.stl").rename(outside)
    (mapping.parent / "link.stl").symlink_to(outside)
    for name in ("../outside.stl", str(outside), "link.stl"):
        doc = json.loads(mapping.read_text())
        doc["structures"][0]["file"] = name
        mapping.write_text(json.dumps(doc))
        with pytest.raises(ImportError_, match="inside the mapping's folder"):
            import_atlas(mapping, tmp_path / "out", base=atlas)
    assert not (tmp_path / "out").exists()


def test_an_existing_atlas_is_replaced_only_with_force(tmp_path, atlas):
    mapping = _external_set(tmp_path, atlas)
    out = tmp_path / "imp"
    import_atlas(mapping, out, base=atlas)
    before = (out / "landmarks.json").read_bytes()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ImportError_, match="--force"):
        import_atlas(mapping, out, base=atlas)
    assert (out / "keep.txt").read_text() == "mine" and (out / "landmarks.json").read_bytes() == before
    import_atlas(mapping, out, base=atlas, force=True)
    assert not (out / "keep.txt").exists() and load_atlas(out / "landmarks.json").structures
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left
    # the mapping's own folder (its surfaces) is never an output, even with --force
    with pytest.raises(ImportError_, match="choose a new folder"):
        import_atlas(mapping, tmp_path, base=atlas, force=True)


def test_a_refusal_late_in_the_import_leaves_nothing(tmp_path, atlas):
    """The second surface is refused (open danger surface) after the first was read:
    neither the output folder nor a staging folder exists afterwards."""
    mapping = _external_set(tmp_path, atlas, open_nerve=True)
    doc = json.loads(mapping.read_text())
    doc["structures"].reverse()
    mapping.write_text(json.dumps(doc))
    out = run("atlas", "import", str(mapping), "-o", str(tmp_path / "new" / "imp"))
    assert out.returncode == 3 and "open" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "new").exists() or list((tmp_path / "new").iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "[" * 5000 + "]" * 5000,
        '{"format": "thighmap-import", "version": 1' + "0" * 5000 + "}",
        '{"format": "thighmap-import", "version": 1, "units": "mm", "landmarks": [1, 2, 3]}',
        '{"format": "thighmap-import", "version": 1, "units": "mm", "landmarks": [{"id": ["x"]}, {}, {}]}',
        '{"format": "thighmap-import", "version": 1, "units": "mm", "landmarks": '
        '[{"id": "ischial_tuberosity", "point": [1' + "0" * 400 + ", 0, 0]}, {}, {}]}",
    ],
)
def test_malformed_mappings_exit_3_without_a_traceback(tmp_path, text):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(text)
    out = run("atlas", "import", str(mapping), "-o", str(tmp_path / "imp"))
    assert out.returncode == 3 and "Traceback" not in out.stderr and out.stderr.strip()
    assert not (tmp_path / "imp").exists()
