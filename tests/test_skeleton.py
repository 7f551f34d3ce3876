"""The skeleton derived from MyoLeg (assets/skeleton/): closed bones, landmarks on them,
the femur's published shape, real attachments, the loader's errors and the atlas recipe.

Everything is measured again on the committed files (anatomy/bone_geometry.py), never read
back from the numbers tools/derive_skeleton.py wrote beside them, except the source's own
figures (the coarse MyoLeg femur is not committed: its figures are recorded there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh

from thighmap import paths
from thighmap.anatomy import bone_geometry, meshio
from thighmap.anatomy.atlas import AtlasError, load_atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.anatomy.skeleton import BONE_IDS, SkeletonError, load_skeleton, read_bone

SURFACE_LANDMARKS = (
    "ischial_tuberosity",
    "greater_trochanter",
    "lesser_trochanter",
    "adductor_tubercle",
    "medial_epicondyle",
    "lateral_epicondyle",
    "fibular_head",
)

# Published adult figures (the ranges a femur of the reference adult should fall in)
# Hartel et al., PLoS One 2016;11(3):e0149480, 3D CT of 1070 femurs: neck-shaft angle
# median 122.2 deg (range 100.1-146.2, IQR 117.9-125.6); torsion (anteversion) median
# 14.2 deg (IQR 7.4-20.4). Boese et al., Skeletal Radiol 2016;45:19-28: radiographs,
# healthy adults, mean 128.8 deg. The ranges below hold both studies' central values.
NECK_SHAFT_RANGE_DEG = (115.0, 135.0)
ANTEVERSION_RANGE_DEG = (0.0, 25.0)
# Preininger et al., Open Orthop J 2012;6:578: femoral offset of men 43.6 +/- 5.6 mm (CT):
# mean +/- 2 SD
OFFSET_RANGE_MM = (43.6 - 2 * 5.6, 43.6 + 2 * 5.6)
# Trotter and Gleser, Am J Phys Anthropol 1952;10:463: stature = 2.38 femur + 61.41 cm
# (SE 3.27 cm) for men of European ancestry; the reference adult is 175 cm tall
TROTTER_GLESER = (2.38, 61.41, 3.27)


@pytest.fixture(scope="module")
def skel():
    return load_skeleton()


@pytest.fixture(scope="module")
def femur_geo(skel):
    return bone_geometry.measure_femur(skel.bone("femur"))


def _distance(mesh: SurfaceMesh, p: np.ndarray) -> float:
    return float(bone_geometry.closest_points(mesh, p)[1][0])


@pytest.mark.parametrize("bone", BONE_IDS)
def test_each_bone_is_one_closed_outward_surface_within_its_budget(skel, bone):
    mesh = skel.bone(bone)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    _, counts = np.unique(np.sort(tm.edges, axis=1), axis=0, return_counts=True)
    assert np.all(counts == 2), "every edge is shared by exactly two triangles"
    assert tm.is_winding_consistent
    assert len(tm.split(only_watertight=False)) == 1
    assert mesh.signed_volume_mm3() > 0, "outward"
    # outward also locally: the normals of the top triangles point up
    c = mesh.vertices[mesh.faces].mean(axis=1)
    n = np.cross(*(mesh.vertices[mesh.faces[:, k]] - mesh.vertices[mesh.faces[:, 0]] for k in (1, 2)))
    top = np.argsort(c[:, 2])[-20:]
    assert np.all(n[top, 2] > 0)
    info = skel.document["bones"][bone]
    assert mesh.n_triangles == info["triangles"] <= info["triangle_budget"]


@pytest.mark.parametrize("bone", ("hip_bone", "tibia", "fibula"))
def test_cut_bones_end_flat_at_the_limbs_z_range(skel, atlas, bone):
    """Cut flat 1 mm inside the limb's cut ends (tools/derive_skeleton.CUT_INSET_MM), so
    that every bone lies inside the closed skin."""
    z0, z1 = atlas.document["limb"]["z_range_mm"]
    z0, z1 = z0 + 1.0, z1 - 1.0
    v = skel.bone(bone).vertices
    assert v[:, 2].min() >= z0 - 1e-3 and v[:, 2].max() <= z1 + 1e-3
    assert np.isclose(v[:, 2].min(), z0, atol=1e-3) or np.isclose(v[:, 2].max(), z1, atol=1e-3)


def test_the_femur_fits_the_limb_whole(skel, atlas):
    z0, z1 = atlas.document["limb"]["z_range_mm"]
    v = skel.bone("femur").vertices
    assert z0 < v[:, 2].min() and v[:, 2].max() < z1


@pytest.mark.parametrize("lid", SURFACE_LANDMARKS)
def test_landmarks_lie_on_their_bone(skel, lid):
    lm = skel.landmarks[lid]
    assert _distance(skel.bone(lm.bone), lm.position_mm) <= 1.5


def test_the_frame_is_design_mds(skel, femur_geo, atlas):
    me = skel.landmarks["medial_epicondyle"].position_mm
    le = skel.landmarks["lateral_epicondyle"].position_mm
    assert np.allclose((me + le) / 2, 0.0, atol=1e-2), "origin at the epicondyles' midpoint"
    axis = (le - me) / np.linalg.norm(le - me)
    assert axis[0] > 0.999 and abs(axis[1]) < 1e-3, "x along the transepicondylar axis, lateral"
    # z along the mechanical axis: the head's centre is on it, above the knee
    assert np.linalg.norm(femur_geo.head_centre_mm[:2]) < 0.5 and femur_geo.head_centre_mm[2] > 400
    # +y posterior: the condyles and the linea aspera stand behind the shaft's centre
    assert femur_geo.medial_posterior_condyle_mm[1] > 15 and femur_geo.lateral_posterior_condyle_mm[1] > 15
    # scaled to the reference adult's thigh length
    gt = skel.landmarks["greater_trochanter"].position_mm
    assert np.linalg.norm(gt - le) == pytest.approx(atlas.reference_adult["thigh_length_mm"], abs=0.05)
    # the greater trochanter is lateral, the lesser posteromedial of the shaft
    lt = skel.landmarks["lesser_trochanter"].position_mm
    shaft_at_lt = femur_geo.shaft_point_mm + femur_geo.shaft_direction * (
        (lt[2] - femur_geo.shaft_point_mm[2]) / femur_geo.shaft_direction[2]
    )
    assert gt[0] > 35 and lt[0] < shaft_at_lt[0] and lt[1] > shaft_at_lt[1]


def test_the_femur_keeps_its_source_shape(skel, femur_geo):
    source = skel.document["femur_geometry"]["source"]
    assert femur_geo.neck_shaft_angle_deg == pytest.approx(source["neck_shaft_angle_deg"], abs=2.0)
    assert femur_geo.anteversion_posterior_condylar_deg == pytest.approx(
        source["anteversion_posterior_condylar_deg"], abs=2.0
    )
    assert femur_geo.offset_mm == pytest.approx(source["offset_mm"], abs=1.5)
    assert femur_geo.length_mm == pytest.approx(source["length_mm"], abs=2.0)
    # the figure the references give for this model
    assert femur_geo.neck_shaft_angle_deg == pytest.approx(122.0, abs=2.0)


def test_the_femur_is_a_normal_adult_femur(femur_geo, atlas):
    assert NECK_SHAFT_RANGE_DEG[0] <= femur_geo.neck_shaft_angle_deg <= NECK_SHAFT_RANGE_DEG[1]
    assert (
        ANTEVERSION_RANGE_DEG[0] <= femur_geo.anteversion_posterior_condylar_deg <= ANTEVERSION_RANGE_DEG[1]
    )
    assert ANTEVERSION_RANGE_DEG[0] <= femur_geo.anteversion_transepicondylar_deg <= ANTEVERSION_RANGE_DEG[1]
    assert OFFSET_RANGE_MM[0] <= femur_geo.offset_mm <= OFFSET_RANGE_MM[1]
    slope, intercept, se = TROTTER_GLESER
    stature_cm = slope * femur_geo.length_mm / 10 + intercept
    assert abs(stature_cm - atlas.reference_adult["stature_mm"] / 10) <= 2 * se
    assert 20 <= femur_geo.head_radius_mm <= 27  # head diameter 40-54 mm


def test_the_recorded_figures_are_those_of_the_committed_femur(skel, femur_geo):
    derived = skel.document["femur_geometry"]["derived"]
    assert derived["neck_shaft_angle_deg"] == pytest.approx(femur_geo.neck_shaft_angle_deg, abs=0.01)
    assert derived["offset_mm"] == pytest.approx(femur_geo.offset_mm, abs=0.01)


def test_hamstrings_arise_from_the_ischial_tuberosity(skel):
    hip = skel.bone("hip_bone")
    it = skel.landmarks["ischial_tuberosity"].position_mm
    for mid in ("biceps_femoris_long_head", "semitendinosus", "semimembranosus"):
        origin = skel.attachments[mid].origin
        assert origin.bone == "hip_bone"
        assert _distance(hip, origin.position_mm) < 8.0  # MyoLeg's site, a few mm off its coarse bone
        assert _distance(hip, origin.on_bone_mm) < 0.01
        assert np.linalg.norm(origin.on_bone_mm - it) < 10.0
        # the tuberosity is the back of the hip bone at the lowest level it reaches
        assert origin.on_bone_mm[1] > 35 and origin.on_bone_mm[2] < hip.vertices[:, 2].min() + 25


def test_hamstrings_insert_below_the_knee(skel):
    for mid, bones in (
        ("biceps_femoris_long_head", {"fibula"}),
        ("biceps_femoris_short_head", {"fibula"}),
        ("semitendinosus", {"tibia"}),
        ("semimembranosus", {"tibia"}),
    ):
        ins = skel.attachments[mid].insertion
        assert ins.bone in bones and ins.position_mm[2] < -20
        assert _distance(skel.bone(ins.bone), ins.position_mm) < 8.0


def _to_polyline(p: np.ndarray, line: np.ndarray) -> float:
    a, b = line[:-1], line[1:]
    t = np.clip(np.einsum("ij,ij->i", p - a, b - a) / np.einsum("ij,ij->i", b - a, b - a), 0, 1)
    return float(np.min(np.linalg.norm(p - (a + t[:, None] * (b - a)), axis=1)))


def test_the_linea_aspera_is_the_back_of_the_shaft_and_holds_its_muscles(skel, femur_geo):
    line = skel.linea_aspera_mm
    femur = skel.bone("femur")
    for p in line:
        assert _distance(femur, p) < 0.01
        shaft = femur_geo.shaft_point_mm + femur_geo.shaft_direction * (
            (p[2] - femur_geo.shaft_point_mm[2]) / femur_geo.shaft_direction[2]
        )
        assert p[1] > shaft[1] + 5, "behind the shaft's centre"
    bfsh = skel.attachments["biceps_femoris_short_head"].origin
    assert bfsh.bone == "femur" and _to_polyline(bfsh.on_bone_mm, line) < 3.0
    for mid in ("adductor_magnus_distal", "adductor_magnus_middle"):
        ins = skel.attachments[mid].insertion
        assert ins.bone == "femur" and _to_polyline(ins.on_bone_mm, line) < 5.0


def test_adductor_magnus_reaches_the_adductor_tubercle(skel):
    ins = skel.attachments["adductor_magnus_ischial"].insertion
    at = skel.landmarks["adductor_tubercle"].position_mm
    assert ins.bone == "femur" and np.linalg.norm(ins.on_bone_mm - at) < 0.01
    me = skel.landmarks["medial_epicondyle"].position_mm
    assert at[0] < -25 and 5 < at[2] - me[2] < 30, "medial, just above the medial epicondyle"


def test_the_fibular_head_is_posterolateral_below_the_knee(skel):
    fh = skel.landmarks["fibular_head"].position_mm
    assert fh[0] > 25 and fh[1] > 5 and -90 < fh[2] < -30


def test_the_notice_carries_the_licence_and_the_attribution():
    text = (paths.skeleton_dir() / "NOTICE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0" in text and "TERMS AND CONDITIONS" in text
    assert "myo-sim" in text and "Rajagopal" in text and "10.1109/TBME.2016.2586891" in text


# ---------------------------------------------------------------------- bad input


def _copy_skeleton(tmp_path: Path) -> Path:
    out = tmp_path / "skeleton"
    shutil.copytree(paths.skeleton_dir(), out)
    return out


def _edit_document(folder: Path, edit) -> None:
    path = folder / "skeleton.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(format="other"), "field 'format'"),
        (lambda d: d.update(version=2), "field 'version'"),
        (
            lambda d: d["landmarks"]["fibular_head"].update(position_mm=[1, "a", 3]),
            "field 'landmarks.fibular_head.position_mm'",
        ),
        (lambda d: d["landmarks"]["fibular_head"].update(bone="patella"), "landmarks.fibular_head.bone"),
        (
            lambda d: d["attachments"]["muscles"]["semitendinosus"]["points"].pop(),
            "attachments.muscles.semitendinosus.points[1].role",
        ),
        (
            lambda d: d["linea_aspera"].update(points_mm=[[0, 0, float("nan")], [0, 0, 1]]),
            "linea_aspera.points_mm[0]",
        ),
        (
            lambda d: d["femur_shaft_centreline_mm"].update(points_mm=[[0, 0, 5], [0, 0, 1]]),
            "z must increase",
        ),
    ],
)
def test_a_bad_skeleton_document_names_the_file_and_the_field(tmp_path, edit, expected):
    folder = _copy_skeleton(tmp_path)
    _edit_document(folder, edit)
    with pytest.raises(SkeletonError) as err:
        load_skeleton(folder)
    assert str(folder / "skeleton.json") in str(err.value) and expected in str(err.value)


def test_unreadable_skeleton_documents_name_the_file(tmp_path):
    with pytest.raises(SkeletonError, match="cannot read the skeleton file"):
        load_skeleton(tmp_path)
    (tmp_path / "skeleton.json").write_bytes(b"{not json")
    with pytest.raises(SkeletonError, match="not valid JSON"):
        load_skeleton(tmp_path)
    (tmp_path / "skeleton.json").write_bytes(b"\xff\xfe")
    with pytest.raises(SkeletonError, match="not UTF-8"):
        load_skeleton(tmp_path)


def test_bad_bone_files_name_the_file(tmp_path):
    folder = _copy_skeleton(tmp_path)
    femur = folder / "femur.ply"
    femur.write_bytes(femur.read_bytes()[:500])  # truncated
    with pytest.raises(SkeletonError, match=r"femur\.ply: not a readable triangle surface"):
        read_bone(folder, "femur")
    tibia = read_bone(folder, "tibia")
    meshio.write_mesh(SurfaceMesh(tibia.vertices, tibia.faces[:, ::-1].copy()), folder / "tibia.ply")
    with pytest.raises(SkeletonError, match=r"tibia\.ply: the surface is not outward"):
        read_bone(folder, "tibia")
    (folder / "fibula.ply").unlink()
    with pytest.raises(SkeletonError, match=r"fibula\.ply: the fibula surface is missing"):
        read_bone(folder, "fibula")
    with pytest.raises(SkeletonError, match="no bone 'patella'"):
        read_bone(folder, "patella")


# ---------------------------------------------------------------------- the recipe


def _atlas_with_skeleton_femur(tmp_path: Path, bone: object = "femur") -> Path:
    """A scratch copy of the bundled atlas whose femur takes its surface from the skeleton."""
    root = tmp_path / "atlas"
    shutil.copytree(paths.assets_dir(), root, ignore=shutil.ignore_patterns("meshes"))
    shutil.copytree(paths.meshes_dir(), root / "meshes")
    (root / "meshes" / "femur.ply").unlink()  # built from the recipe, not the old committed file
    doc = json.loads((root / "landmarks.json").read_text(encoding="utf-8"))
    for st in doc["structures"]:
        if st["id"] == "femur":
            st["recipe"] = {"type": "skeleton", "bone": bone}
    (root / "landmarks.json").write_text(json.dumps(doc), encoding="utf-8")
    return root / "landmarks.json"


def test_a_structure_takes_its_surface_from_the_skeleton(tmp_path, skel):
    from thighmap.anatomy import build

    atlas = load_atlas(_atlas_with_skeleton_femur(tmp_path))
    built = build.build_structure(atlas, "femur")
    assert np.array_equal(built.vertices, skel.bone("femur").vertices)
    assert np.array_equal(built.faces, skel.bone("femur").faces)
    assert np.array_equal(atlas.mesh("femur").vertices, built.vertices)


def test_a_fitted_atlas_scales_a_skeleton_bone_along_the_thigh(tmp_path, skel):
    from thighmap.anatomy.fitting import fit_atlas
    from thighmap.planning.model import PatientProfile

    atlas = load_atlas(_atlas_with_skeleton_femur(tmp_path))
    ref = atlas.reference_adult["thigh_length_mm"]
    fitted = fit_atlas(atlas, PatientProfile(thigh_length_mm=ref * 1.1))
    femur = skel.bone("femur").vertices
    got = fitted.mesh("femur").vertices
    assert np.allclose(got[:, :2], femur[:, :2]) and np.allclose(got[:, 2], femur[:, 2] * 1.1)


@pytest.mark.parametrize("bone", ["patella", None, 3])
def test_a_skeleton_recipe_names_a_bone_of_the_skeleton(tmp_path, bone):
    with pytest.raises(AtlasError, match=r"structures\.femur\.recipe\.bone"):
        load_atlas(_atlas_with_skeleton_femur(tmp_path, bone))


# ---------------------------------------------------------------------- the measuring tools


def _sphere(radius: float, centre: np.ndarray) -> SurfaceMesh:
    ico = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    return SurfaceMesh(np.asarray(ico.vertices) + centre, np.asarray(ico.faces, np.int64))


def test_sections_and_sphere_fits_measure_a_known_sphere():
    centre = np.array([3.0, -2.0, 5.0])
    sphere = _sphere(10.0, centre)
    got_centre, got_radius = bone_geometry.fit_sphere(sphere.vertices)
    assert np.allclose(got_centre, centre, atol=1e-9) and got_radius == pytest.approx(10.0)
    for offset in (0.0, 6.0):
        (loop,) = bone_geometry.plane_section_loops(
            sphere, centre + np.array([0, 0, offset]), np.array([0, 0, 1.0])
        )
        area, c = bone_geometry.loop_area_centroid(loop, np.array([0, 0, 1.0]))
        assert area == pytest.approx(np.pi * (100.0 - offset**2), rel=0.01)
        assert np.allclose(c, centre + np.array([0, 0, offset]), atol=1e-2)
    q, dist = bone_geometry.closest_points(sphere, centre + np.array([[0, 0, 30.0]]))
    assert dist[0] == pytest.approx(20.0, abs=0.05) and q[0, 2] == pytest.approx(centre[2] + 10, abs=0.05)
    assert (
        bone_geometry.plane_section_loops(sphere, centre + np.array([0, 0, 11.0]), np.array([0, 0, 1.0]))
        == []
    )


def test_two_bodies_give_two_loops():
    a = _sphere(5.0, np.zeros(3))
    b = _sphere(5.0, np.array([20.0, 0.0, 0.0]))
    both = SurfaceMesh(np.vstack([a.vertices, b.vertices]), np.vstack([a.faces, b.faces + len(a.vertices)]))
    loops = bone_geometry.plane_section_loops(both, np.zeros(3), np.array([0.0, 0.0, 1.0]))
    centres = sorted(bone_geometry.loop_area_centroid(lp, np.array([0.0, 0.0, 1.0]))[1][0] for lp in loops)
    assert len(loops) == 2 and centres == pytest.approx([0.0, 20.0], abs=1e-2)
