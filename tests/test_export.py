"""`thighmap export`: the files read back by independent readers (nibabel, VTK, jsonschema
with 3D Slicer's markups schema) land at the right LPS/RAS coordinates, for a right and a
left thigh."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "slicer" / "markups-schema-v1.0.3.json"
SPACING_MM = 3.0  # coarse, to keep the test fast

PATIENT = {
    "thigh_length_mm": 450,
    "mid_thigh_circumference_mm": 560,
    "subcutaneous_fat_mm": 15,
    "sex": "male",
}
# needles of the right-thigh plan, in thighmap's frame (+x lateral, +y posterior, +z proximal)
NEEDLES = [
    {"id": "onto-nerve", "entry_mm": [20.0, 81.8, 214.0], "direction": [0.0, -1.0, 0.0], "depth_mm": 61.7},
    {"id": "oblique/1", "entry_mm": [40.0, 80.0, 150.0], "direction": [-0.3, -1.0, 0.2], "depth_mm": 30.0},
]


def plan_document(side: str) -> dict:
    """The same insertions on a right or a left thigh (a left plan stores x mirrored)."""
    flip = np.array([-1.0, 1.0, 1.0]) if side == "left" else np.ones(3)
    needles = [
        {
            **n,
            "entry_mm": (np.array(n["entry_mm"]) * flip).tolist(),
            "direction": (np.array(n["direction"]) * flip).tolist(),
            "needle_length_mm": 75.0,
            "gauge_mm": 0.25,
        }
        for n in NEEDLES
    ]
    return {"format": "thighmap-plan", "version": 1, "side": side, "patient": PATIENT, "needles": needles}


def expected_lps(point_right_thigh: np.ndarray, side: str) -> np.ndarray:
    """Where a point given in the right thigh's frame is, in LPS, on the exported side.

    Right thigh: +x lateral is toward the patient's right, i.e. -L, so L = -x. The left
    thigh is the mirror image: the same anatomical point lies on the patient's left,
    L = +x. Posterior is P = +y and proximal is S = +z on both sides."""
    x, y, z = np.asarray(point_right_thigh, float)
    return np.array([-x if side == "right" else x, y, z])


def lps_to(space: str, p: np.ndarray) -> np.ndarray:
    return np.asarray(p, float) * (np.array([-1.0, -1.0, 1.0]) if space == "RAS" else 1.0)


def as_lps(position: list[float], space: str) -> np.ndarray:
    return lps_to(space, np.array(position))  # the conversion is its own inverse


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{(side, space): (folder, plan, model)} for a right and a left plan."""
    from thighmap.export import export_folder
    from thighmap.safety.engine import load_plan_for_checking

    out = {}
    base = tmp_path_factory.mktemp("export")
    for side, space in (("right", "LPS"), ("left", "RAS")):
        plan_path = base / f"{side}.thighplan.json"
        plan_path.write_text(json.dumps(plan_document(side)))
        plan, model = load_plan_for_checking(str(plan_path))
        folder = base / f"{side}-{space}"
        export_folder(folder, model, plan, plan_path=str(plan_path), space=space, spacing_mm=SPACING_MM)
        out[(side, space)] = (folder, plan, model)
    return out


CASES = [("right", "LPS"), ("left", "RAS")]


def index_of(folder: Path) -> dict:
    return json.loads((folder / "thighmap-export.json").read_text())


@pytest.mark.parametrize(("side", "space"), CASES)
def test_index_states_space_side_patient_units_and_structures(exports, side, space):
    folder, _plan, model = exports[(side, space)]
    idx = index_of(folder)
    assert (idx["space"], idx["side"], idx["units"]) == (space, side, "mm")
    assert idx["patient"]["thigh_length_mm"] == PATIENT["thigh_length_mm"]
    assert idx["fitted"] is True
    assert "epicondyles" in idx["frame"]["origin"]
    ids = [s["id"] for s in idx["structures"]]
    assert ids == list(model.atlas.structures)
    for s in idx["structures"]:
        st_ = model.atlas.structures[s["id"]]
        assert (s["name"], s["kind"], s["role"]) == (st_.name, st_.kind, st_.role)
        assert (folder / s["file"]).is_file()
    assert not list(folder.parent.glob("*.thighmap-partial"))


def read_vtp(path: Path):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    poly = reader.GetOutput()
    points = vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    polys = poly.GetPolys()
    faces = vtk_to_numpy(polys.GetConnectivityArray()).reshape(-1, 3)
    assert np.all(np.diff(vtk_to_numpy(polys.GetOffsetsArray())) == 3)
    space = poly.GetFieldData().GetAbstractArray("SPACE").GetValue(0)
    return points, faces, space


def signed_volume_mm3(points: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@pytest.mark.parametrize(("side", "space"), CASES)
def test_surfaces_read_by_vtk_are_in_the_stated_space_and_face_outward(exports, side, space):
    folder, _plan, model = exports[(side, space)]
    for s in index_of(folder)["structures"]:
        points, faces, file_space = read_vtp(folder / s["file"])
        assert file_space == space  # what 3D Slicer reads to place the model
        mesh = model.atlas.mesh(s["id"])  # the fitted right-thigh surface
        want = lps_to(space, np.array([expected_lps(v, side) for v in mesh.vertices[::97]]))
        np.testing.assert_allclose(points[::97], want, atol=1e-9)
        assert signed_volume_mm3(points, faces) > 0, s["id"]  # normals outward after the mirror
    # anatomy, read from two files: the femoral head (the femur's highest point) lies
    # medial to the greater trochanter, i.e. toward the patient's left (+L) on a right
    # thigh and toward the patient's right (-L) on a left thigh
    points, _faces, _ = read_vtp(folder / "surfaces" / "femur.vtp")
    head = lps_to(space, points[np.argmax(points[:, 2])])
    marks = json.loads((folder / "landmarks.mrk.json").read_text())["markups"][0]["controlPoints"]
    (trochanter,) = [as_lps(cp["position"], space) for cp in marks if cp["label"] == "greater_trochanter"]
    assert (head[0] > trochanter[0]) == (side == "right")


def markups_validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize(("side", "space"), CASES)
def test_landmarks_file_puts_the_lateral_epicondyle_where_it_is(exports, side, space):
    folder, _plan, model = exports[(side, space)]
    doc = json.loads((folder / "landmarks.mrk.json").read_text())
    markups_validator().validate(doc)
    (m,) = doc["markups"]
    assert m["type"] == "Fiducial" and m["coordinateSystem"] == space
    points = {cp["label"]: as_lps(cp["position"], space) for cp in m["controlPoints"]}
    lateral = model.atlas.landmark("lateral_epicondyle")  # right-thigh frame, fitted
    np.testing.assert_allclose(points["lateral_epicondyle"], expected_lps(lateral, side), atol=1e-3)
    # on the patient's right (L < 0) for a right thigh, on the left for a left thigh
    assert (points["lateral_epicondyle"][0] < 0) == (side == "right")
    assert points["lateral_epicondyle"][0] != pytest.approx(points["medial_epicondyle"][0])


@pytest.mark.parametrize(("side", "space"), CASES)
def test_needles_are_slicer_line_markups_with_entry_tip_and_status(exports, side, space):
    folder, plan, model = exports[(side, space)]
    report = model.check_plan(plan)
    idx = index_of(folder)
    validator = markups_validator()
    assert [n["id"] for n in idx["needles"]] == [n["id"] for n in NEEDLES]
    for spec, entry_doc, checked in zip(NEEDLES, idx["needles"], report.needles, strict=True):
        doc = json.loads((folder / entry_doc["file"]).read_text())
        validator.validate(doc)
        (m,) = doc["markups"]
        assert (m["type"], m["coordinateSystem"], m["coordinateUnits"]) == ("Line", space, "mm")
        entry_cp, tip_cp = m["controlPoints"]
        e = np.array(spec["entry_mm"])
        d = np.array(spec["direction"]) / np.linalg.norm(spec["direction"])
        tip = e + d * spec["depth_mm"]
        np.testing.assert_allclose(as_lps(entry_cp["position"], space), expected_lps(e, side), atol=1e-3)
        np.testing.assert_allclose(as_lps(tip_cp["position"], space), expected_lps(tip, side), atol=1e-3)
        status = checked.status
        assert entry_doc["status"] == status
        assert status in m["name"]
        assert status.upper() in entry_cp["description"] and status.upper() in tip_cp["description"]
        assert "maximum safe depth" in m["description"]
        assert f"{checked.max_safe_depth_mm:.1f} mm" in m["description"]
        if checked.nearest_danger is not None:
            assert f"clearance {checked.nearest_danger.clearance_mm:.1f} mm" in m["description"]
        rgb = {"safe": (0x1F, 0x9E, 0x4A), "caution": (0xE8, 0xA3, 0x17), "danger": (0xD7, 0x26, 0x3D)}
        np.testing.assert_allclose(np.array(m["display"]["selectedColor"]) * 255, rgb[status], atol=0.6)
    assert report.needles[0].status == "danger"  # onto the sciatic nerve, on either side


def read_color_table(path: Path) -> dict[str, int]:
    labels = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            value, name, *_rgba = line.split()
            labels[name] = int(value)
    return labels


@pytest.mark.parametrize(("side", "space"), CASES)
def test_label_volume_read_by_nibabel_has_the_femur_and_the_nerve_where_they_are(exports, side, space):
    import nibabel as nib

    from thighmap.anatomy.fitting import FemurAxis

    folder, _plan, model = exports[(side, space)]
    img = nib.load(str(folder / "labels.nii.gz"))
    data = np.asarray(img.dataobj)
    sform, scode = img.header.get_sform(coded=True)
    qform, qcode = img.header.get_qform(coded=True)
    assert scode == qcode == 1  # scanner-style RAS world
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    np.testing.assert_allclose(sform, qform, atol=1e-4)
    np.testing.assert_allclose(img.affine, sform, atol=1e-6)
    np.testing.assert_allclose(img.header.get_zooms(), [SPACING_MM] * 3)
    assert img.header.get_xyzt_units()[0] == "mm"
    labels = read_color_table(folder / "labels.ctbl")
    assert set(labels) == set(model.atlas.structures) | {"background"}
    to_voxel = np.linalg.inv(img.affine)

    def label_at(point_right_thigh: np.ndarray) -> int:
        ras = lps_to("RAS", expected_lps(point_right_thigh, side))  # NIfTI's world is RAS
        ijk = np.rint(to_voxel @ np.append(ras, 1.0))[:3].astype(int)
        return int(data[tuple(ijk)])

    atlas = model.atlas
    z = 200.0
    x, y = FemurAxis(atlas)(np.array([z]))[0]
    assert label_at(np.array([x, y, z])) == labels["femur"]
    nerve = atlas.tube("sciatic_nerve").centres_mm
    assert label_at(nerve[len(nerve) // 2]) == labels["sciatic_nerve"]  # nerves win over muscle
    corners = data[:: data.shape[0] - 1, :: data.shape[1] - 1, :: data.shape[2] - 1]
    assert not corners.any()  # a margin of background around the body
    # the origin is the epicondyle midpoint, a voxel centre of the grid
    origin_ijk = to_voxel @ np.array([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(origin_ijk[:3], np.rint(origin_ijk[:3]), atol=1e-6)
    present = set(np.unique(data).tolist())
    for sid in ("skin", "subcutaneous_fat", "femur", "semitendinosus", "sciatic_nerve", "popliteal_artery"):
        assert labels[sid] in present, sid


def test_label_volume_agrees_with_vtk_nifti_reader(exports):
    """A second, independent reader (VTK's) sees the same voxels and spacing."""
    import nibabel as nib
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOImage import vtkNIFTIImageReader

    folder = exports[("right", "LPS")][0]
    reader = vtkNIFTIImageReader()
    reader.SetFileName(str(folder / "labels.nii.gz"))
    reader.Update()
    image = reader.GetOutput()
    dims = image.GetDimensions()
    vtk_data = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1]).transpose(2, 1, 0)
    nib_data = np.asarray(nib.load(str(folder / "labels.nii.gz")).dataobj)
    np.testing.assert_array_equal(vtk_data, nib_data)
    assert image.GetSpacing() == pytest.approx((SPACING_MM,) * 3)
    sform = reader.GetSFormMatrix()
    assert sform is not None
    assert [sform.GetElement(i, 3) for i in range(3)] == pytest.approx(
        nib.load(str(folder / "labels.nii.gz")).affine[:3, 3].tolist()
    )


def test_nifti_writer_round_trips_a_small_volume_exactly():
    import gzip
    import io

    import nibabel as nib

    from thighmap.export.labelmap import LabelVolume, nifti_bytes

    rng = np.random.default_rng(3)
    for dtype in (np.uint8, np.uint16):
        labels = rng.integers(0, 300 if dtype == np.uint16 else 30, size=(4, 5, 6)).astype(dtype)
        affine = np.diag([1.5, 1.5, 1.5, 1.0])
        affine[:3, 3] = [-3.0, 6.0, -1.5]
        vol = LabelVolume(labels, affine, 1.5, {})
        raw = gzip.decompress(nifti_bytes(vol))
        img = nib.Nifti1Image.from_bytes(raw)
        np.testing.assert_array_equal(np.asarray(img.dataobj), labels)
        assert img.get_data_dtype() == dtype
        np.testing.assert_allclose(img.affine, affine)
        for form, code in (img.header.get_qform(coded=True), img.header.get_sform(coded=True)):
            np.testing.assert_allclose(form, affine, atol=1e-6)
            assert code == 1  # NIFTI_XFORM_SCANNER_ANAT: the world is RAS
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
        np.testing.assert_allclose(img.header.get_zooms(), [1.5] * 3)
        assert img.header.get_xyzt_units()[0] == "mm"
        assert img.header["intent_code"] == 1002  # NIFTI_INTENT_LABEL
        assert io.BytesIO(raw).read(348)[344:348] == b"n+1\0"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-500, 500, allow_nan=False), min_size=3, max_size=3),
    st.sampled_from(["LPS", "RAS"]),
)
def test_space_conversion_is_its_own_inverse_and_lps_ras_differ_by_the_xy_flip(p, space):
    from thighmap.export.frames import from_space, to_space

    p = np.array(p)
    np.testing.assert_allclose(from_space(to_space(p, space), space), p)
    np.testing.assert_allclose(to_space(p, "RAS"), to_space(p, "LPS") * np.array([-1.0, -1.0, 1.0]))


@pytest.mark.parametrize("space", ["LPS", "RAS"])
def test_surface_conversion_keeps_a_tetrahedron_outward(space):
    from thighmap.anatomy.meshgen import SurfaceMesh
    from thighmap.export.surfaces import surface_in_space

    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    assert signed_volume_mm3(v, f) > 0
    out = surface_in_space(SurfaceMesh(v, f), space)
    assert signed_volume_mm3(out.vertices, out.faces) == pytest.approx(1 / 6)


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    from thighmap.export import export_folder, labelmap
    from thighmap.safety.engine import model_for_patient

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(labelmap, "nifti_bytes", broken)
    target = tmp_path / "out"
    with pytest.raises(OSError):
        export_folder(target, model_for_patient(None), spacing_mm=10.0)
    assert list(tmp_path.iterdir()) == []
    # and an earlier export is kept as it was with --force
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    (target / "thighmap-export.json").write_text("{}")
    with pytest.raises(OSError):
        export_folder(target, model_for_patient(None), spacing_mm=10.0, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt", "thighmap-export.json"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thighmap", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_cli_refuses_a_non_empty_folder_and_replaces_an_export_with_force(tmp_path):
    out = tmp_path / "slicer"
    out.mkdir()
    (out / "mine.txt").write_text("not an export")
    r = run("export", "-o", str(out), "--no-volume")
    assert r.returncode == 3
    assert "--output" in r.stderr and "not empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("export", "-o", str(out), "--no-volume", "--force")  # not an export: kept even so
    assert r.returncode == 3 and "holds no earlier export" in r.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    (out / "mine.txt").unlink()
    r = run("export", "-o", str(out), "--no-volume")  # an empty folder is fine
    assert r.returncode == 0, r.stderr
    (out / "stale.txt").write_text("left from before")
    r = run("export", "-o", str(out), "--no-volume", "--space", "RAS", "--side", "left", "--force")
    assert r.returncode == 0, r.stderr
    assert not (out / "stale.txt").exists()
    idx = index_of(out)
    assert (idx["space"], idx["side"], idx["label_volume"], idx["needles"]) == ("RAS", "left", None, [])
    assert [p.name for p in tmp_path.iterdir()] == ["slicer"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--spacing", "0"], ["--spacing", "0.0"]),
        (["--spacing", "nan"], ["--spacing", "nan"]),
        (["--spacing", "1mm"], ["--spacing", "'1mm'"]),
        (["--space", "XYZ"], ["--space", "'XYZ'"]),
        (["--side", "up"], ["--side", "'up'"]),
        (["examples/no-such-plan.thighplan.json"], ["no-such-plan"]),
        (["examples/danger-sciatic.thighplan.json", "--side", "left"], ["--side", "'side'"]),
    ],
)
def test_cli_bad_input_exits_3_naming_the_field_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "x"
    r = run("export", *args, "-o", str(out))
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_needle_markup_names_the_nearest_caution_structure_when_the_report_has_one():
    """A caution structure (a cutaneous nerve, a superficial vein) the report names as its
    nearest_caution is in the markup's text and its thighmap block; a report without one
    (or from a core that does not check caution structures) says nothing of it."""
    import dataclasses

    from thighmap.export import markups
    from thighmap.safety.engine import model_for_patient
    from thighmap.safety.report import NearestDanger

    model = model_for_patient(None)
    report = model.check_needle(model.needle_from_trigger_point("bfl_nct_mid", "n1"))
    names = {"great_saphenous_vein": "Great saphenous vein"}
    plain = dataclasses.replace(report)
    plain.nearest_caution = None
    assert "caution structure" not in markups.needle_status_text(plain, names)
    assert markups.needle_markup(plain, "LPS", names)["thighmap"]["nearest_caution"] is None
    near = dataclasses.replace(report)
    p = np.zeros(3)
    near.nearest_caution = NearestDanger("great_saphenous_vein", 2.345, -1.0, p, p, 5.0)
    text = markups.needle_status_text(near, names)
    assert "nearest caution structure Great saphenous vein (great_saphenous_vein), clearance 2.3 mm" in text
    block = markups.needle_markup(near, "LPS", names)["thighmap"]["nearest_caution"]
    assert block == {"structure": "great_saphenous_vein", "clearance_mm": 2.345}
