"""Derive thighmap's skeleton (assets/skeleton/) from the MyoLeg model in myo-sim.

A developer tool, run once (and again only to change how the skeleton is derived):

    unzip -q myo_sim-0.2.4-py3-none-any.whl -d /tmp/myo_sim
    PYTHONPATH=src python tools/derive_skeleton.py /tmp/myo_sim [--out assets/skeleton]

The argument is the folder of the unzipped wheel of the PyPI package `myo-sim`
(Apache-2.0; it is not a dependency of thighmap). From it:

- the right femur, hip bone, tibia and fibula surfaces (myo_sim/models/meshes/r_*.stl,
  metres) and the muscle path sites (models/leg/assets/myolegs_chain.xml, MuJoCo sites in
  each body's frame; the paths in myolegs_tendon.xml) are composed down the kinematic
  chain at the model's default pose into the pelvis frame;
- that frame is mapped into thighmap's (design.md: mm, right thigh, +x lateral,
  +y posterior, +z proximal, origin at the midpoint of the epicondyles) with z along the
  femur's mechanical axis and x along the transepicondylar axis made orthogonal to it,
  and scaled uniformly so that the greater trochanter's tip lies 430 mm from the lateral
  epicondyle (the reference adult of assets/landmarks.json);
- each bone is refined and smoothed (Loop subdivision, windowed-sinc smoothing), cut to
  the limb's z range (limb.z_range_mm) with a flat cap, decimated to its triangle budget;
- the landmarks are measured on the bones and the attachment points are mapped, each
  with how it was found.

It writes femur.ply, hip_bone.ply, tibia.ply, fibula.ply, skeleton.json and NOTICE
(the attribution and the Apache-2.0 licence text from the wheel). The output is
deterministic: the same wheel gives the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thighmap.anatomy import bone_geometry, meshio
from thighmap.anatomy.meshgen import SurfaceMesh

REPO = Path(__file__).resolve().parents[1]
SOURCE_PACKAGE = "myo-sim"
CHAIN_XML = "myo_sim/models/leg/assets/myolegs_chain.xml"
ASSETS_XML = "myo_sim/models/leg/assets/myolegs_assets.xml"
TENDON_XML = "myo_sim/models/leg/assets/myolegs_tendon.xml"
MESH_DIR = "myo_sim/models/meshes"

# thighmap bone id -> (MyoLeg body, STL file, triangle budget)
BONES: dict[str, tuple[str, str, int]] = {
    "femur": ("femur_r", "r_femur.stl", 8000),
    "hip_bone": ("pelvis", "r_pelvis.stl", 5000),
    "tibia": ("tibia_r", "r_tibia.stl", 5000),
    "fibula": ("tibia_r", "r_fibula.stl", 4000),
}
BODY_BONES = {"pelvis": ("hip_bone",), "femur_r": ("femur",), "tibia_r": ("tibia", "fibula")}

REFERENCE_THIGH_LENGTH_MM = 430.0  # greater trochanter tip to lateral epicondyle (landmarks.json)
LOOP_SUBDIVISIONS = 3
SINC_ITERATIONS = 20
SINC_PASS_BAND = 0.05

# MyoLeg muscle (right side, without the _r) -> (thighmap id, name, thighmap structure or None)
MUSCLES: dict[str, tuple[str, str, str | None]] = {
    "bflh": ("biceps_femoris_long_head", "Biceps femoris, long head", "biceps_femoris_long_head"),
    "bfsh": ("biceps_femoris_short_head", "Biceps femoris, short head", "biceps_femoris_short_head"),
    "semiten": ("semitendinosus", "Semitendinosus", "semitendinosus"),
    "semimem": ("semimembranosus", "Semimembranosus", "semimembranosus"),
    "addmagIsch": ("adductor_magnus_ischial", "Adductor magnus, ischiocondylar part", "adductor_magnus"),
    "addmagDist": ("adductor_magnus_distal", "Adductor magnus, distal adductor part", "adductor_magnus"),
    "addmagMid": ("adductor_magnus_middle", "Adductor magnus, middle adductor part", "adductor_magnus"),
    "addmagProx": ("adductor_magnus_proximal", "Adductor magnus, proximal adductor part", "adductor_magnus"),
    "addlong": ("adductor_longus", "Adductor longus", "adductor_longus"),
    "addbrev": ("adductor_brevis", "Adductor brevis", None),
    "grac": ("gracilis", "Gracilis", "gracilis"),
    "sart": ("sartorius", "Sartorius", "sartorius"),
    "glmax1": ("gluteus_maximus_superior", "Gluteus maximus, superior part", "gluteus_maximus"),
    "glmax2": ("gluteus_maximus_middle", "Gluteus maximus, middle part", "gluteus_maximus"),
    "glmax3": ("gluteus_maximus_inferior", "Gluteus maximus, inferior part", "gluteus_maximus"),
    "glmed1": ("gluteus_medius_anterior", "Gluteus medius, anterior part", None),
    "glmed2": ("gluteus_medius_middle", "Gluteus medius, middle part", None),
    "glmed3": ("gluteus_medius_posterior", "Gluteus medius, posterior part", None),
    "glmin1": ("gluteus_minimus_anterior", "Gluteus minimus, anterior part", None),
    "glmin2": ("gluteus_minimus_middle", "Gluteus minimus, middle part", None),
    "glmin3": ("gluteus_minimus_posterior", "Gluteus minimus, posterior part", None),
    "piri": ("piriformis", "Piriformis", None),
    "iliacus": ("iliacus", "Iliacus", None),
    "psoas": ("psoas_major", "Psoas major", None),
    "tfl": ("tensor_fasciae_latae", "Tensor fasciae latae", None),
    "recfem": ("rectus_femoris", "Rectus femoris", None),
    "vaslat": ("vastus_lateralis", "Vastus lateralis", "vastus_lateralis"),
    "vasmed": ("vastus_medialis", "Vastus medialis", "vastus_medialis"),
    "vasint": ("vastus_intermedius", "Vastus intermedius", "vastus_intermedius"),
    "gaslat": ("gastrocnemius_lateral_head", "Gastrocnemius, lateral head", None),
    "gasmed": ("gastrocnemius_medial_head", "Gastrocnemius, medial head", None),
}


class DeriveError(RuntimeError):
    pass


# --------------------------------------------------------------------------- kinematics


def _vec(text: str | None, n: int = 3) -> np.ndarray:
    if text is None:
        return np.zeros(n)
    return np.array([float(x) for x in text.split()])


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


@dataclass
class Body:
    name: str
    parent: str | None
    pos: np.ndarray
    rot: np.ndarray
    joints: list[tuple[str, str, np.ndarray]]  # (name, type, axis)
    sites: dict[str, np.ndarray] = field(default_factory=dict)
    world_rot: np.ndarray = field(default_factory=lambda: np.eye(3))
    world_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))


def read_bodies(chain: Path) -> dict[str, Body]:
    root = ET.parse(chain).getroot()
    bodies: dict[str, Body] = {}

    def walk(el: ET.Element, parent: str | None) -> None:
        for b in el.findall("body"):
            name = b.get("name", "")
            if b.get("quat") is not None:
                rot = _quat_matrix(_vec(b.get("quat"), 4))
            elif b.get("euler") is not None or b.get("axisangle") is not None:
                rot = np.eye(3)  # only the root (pelvis) is placed so; the frame is fixed on the femur
                if parent is not None:
                    raise DeriveError(
                        f"{chain}: body {name}: euler/axisangle below the root is not supported"
                    )
            else:
                rot = np.eye(3)
            joints = []
            for j in b.findall("joint"):
                if np.any(_vec(j.get("pos"))):
                    raise DeriveError(f"{chain}: joint {j.get('name')}: an off-centre joint is not supported")
                joints.append((j.get("name", ""), j.get("type", "hinge"), _vec(j.get("axis"))))
            body = Body(name, parent, np.zeros(3) if parent is None else _vec(b.get("pos")), rot, joints)
            for s in b.findall("site"):
                body.sites[s.get("name", "")] = _vec(s.get("pos"))
            bodies[name] = body
            walk(b, name)

    walk(root, None)
    return bodies


def read_coupled_joints(assets: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Joints driven by another through an equality polynomial: joint1 -> (joint2, coefs)."""
    out = {}
    for eq in ET.parse(assets).getroot().iter("joint"):
        if eq.get("joint1") and eq.get("polycoef"):
            out[eq.get("joint1", "")] = (eq.get("joint2", ""), _vec(eq.get("polycoef"), 5))
    return out


def default_pose(bodies: dict[str, Body], coupled: dict[str, tuple[str, np.ndarray]]) -> dict[str, float]:
    """Every independent joint at 0; a coupled joint at its polynomial of its driver at 0."""
    values: dict[str, float] = {}
    for b in bodies.values():
        for name, _, _ in b.joints:
            values[name] = 0.0
    for name, (driver, coefs) in coupled.items():
        if name in values:
            x = values.get(driver, 0.0)
            values[name] = float(sum(c * x**k for k, c in enumerate(coefs)))
    return values


def compose(bodies: dict[str, Body], pose: dict[str, float]) -> None:
    """World (pelvis-frame) pose of every body, as MuJoCo's forward kinematics: the body's
    pos/quat in its parent, then each joint in order (slides along, hinges about their axes
    through the body's origin, both in the body's current frame)."""
    for b in bodies.values():  # parents come first (document order)
        if b.parent is None:
            b.world_rot, b.world_pos = np.eye(3), np.zeros(3)
        else:
            p = bodies[b.parent]
            b.world_pos = p.world_pos + p.world_rot @ b.pos
            b.world_rot = p.world_rot @ b.rot
        for name, kind, axis in b.joints:
            q = pose[name]
            if q == 0.0:
                continue
            if kind == "slide":
                b.world_pos = b.world_pos + b.world_rot @ (axis / np.linalg.norm(axis)) * q
            elif kind == "hinge":
                b.world_rot = b.world_rot @ _axis_angle(axis, q)
            else:
                raise DeriveError(f"joint {name}: type {kind} is not supported")


def read_paths(tendon: Path) -> dict[str, list[str]]:
    """Right-side muscle paths: muscle -> its sites in order (wrapping geoms left out)."""
    out = {}
    for sp in ET.parse(tendon).getroot().iter("spatial"):
        name = sp.get("name", "")
        if name.endswith("_r_tendon"):
            out[name[: -len("_r_tendon")]] = [s.get("site", "") for s in sp.findall("site")]
    return out


# --------------------------------------------------------------------------- surfaces


def read_source_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The STL as a closed, consistently oriented surface: vertices merged, duplicate and
    degenerate triangles dropped, stray triangles (components other than the largest)
    dropped, holes filled."""
    import trimesh

    m = trimesh.load(path, force="mesh")
    raw_faces = len(m.faces)
    m.update_faces(m.unique_faces())
    m.update_faces(m.nondegenerate_faces())
    m.remove_unreferenced_vertices()
    parts = m.split(only_watertight=False)
    main = max(parts, key=lambda p: len(p.faces))
    dropped = len(m.faces) - len(main.faces)
    trimesh.repair.fill_holes(main)
    trimesh.repair.fix_normals(main)
    if not (main.is_watertight and main.is_winding_consistent):
        raise DeriveError(f"{path}: not a closed surface after repair")
    info = {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "triangles": raw_faces,
        "repair": f"{len(parts) - 1} stray pieces ({dropped} triangles) dropped, holes filled"
        if dropped or len(main.faces) != len(m.faces)
        else "already closed",
    }
    return np.asarray(main.vertices, float), np.asarray(main.faces, np.int64), info


def _polydata(v: np.ndarray, f: np.ndarray):
    import pyvista as pv

    return pv.PolyData(v, np.column_stack([np.full(len(f), 3), f]).ravel())


def _arrays(poly) -> tuple[np.ndarray, np.ndarray]:
    tri = poly.triangulate().clean()
    faces = np.asarray(tri.faces).reshape(-1, 4)[:, 1:]
    return np.asarray(tri.points, float), faces.astype(np.int64)


def refine(v: np.ndarray, f: np.ndarray):
    """Loop subdivision then windowed-sinc smoothing (VTK): the coarse polyhedron's limit
    surface, with its facets' creases smoothed away."""
    import pyvista as pv
    import vtk

    loop = vtk.vtkLoopSubdivisionFilter()
    loop.SetNumberOfSubdivisions(LOOP_SUBDIVISIONS)
    loop.SetInputData(_polydata(v, f))
    loop.Update()
    sinc = vtk.vtkWindowedSincPolyDataFilter()
    sinc.SetInputData(loop.GetOutput())
    sinc.SetNumberOfIterations(SINC_ITERATIONS)
    sinc.SetPassBand(SINC_PASS_BAND)
    sinc.NormalizeCoordinatesOn()
    sinc.BoundarySmoothingOff()
    sinc.FeatureEdgeSmoothingOff()
    sinc.Update()
    return pv.wrap(sinc.GetOutput())


def restore_volume(poly, volume_mm3: float):
    """Move every vertex along its normal by one common distance so that the enclosed
    volume is ``volume_mm3`` again (Loop subdivision is an approximating scheme: its
    surface lies inside the coarse polyhedron, whose vertices lie on the bone)."""
    base = poly.compute_normals(point_normals=True, cell_normals=False, auto_orient_normals=True)
    pts = np.asarray(base.points, float)
    normals = np.asarray(base.point_data["Normals"], float)

    def volume(offset: float) -> float:
        moved = base.copy()
        moved.points = pts + offset * normals
        return float(moved.volume)

    a, b = 0.0, 1.0
    va, vb = volume(a), volume(b)
    for _ in range(30):  # secant steps: the volume is nearly linear in a sub-millimetre offset
        if abs(vb - volume_mm3) < 1e-6 * volume_mm3:
            break
        a, b, va = b, b + (volume_mm3 - vb) * (b - a) / (vb - va), vb
        vb = volume(b)
    out = base.copy()
    out.points = pts + b * normals
    out.clear_data()
    return out, b


def clip_to_range(poly, z_lo: float, z_hi: float, x_min: float | None = None):
    """Keep lo <= z <= hi (and x >= x_min), closing each cut with a flat cap
    (vtkClipClosedSurface)."""
    import pyvista as pv
    import vtk

    lo, hi = poly.points[:, 2].min(), poly.points[:, 2].max()
    medial = x_min is not None and poly.points[:, 0].min() < x_min
    if lo >= z_lo and hi <= z_hi and not medial:
        return poly
    planes = vtk.vtkPlaneCollection()
    if medial:
        p = vtk.vtkPlane()
        p.SetOrigin(x_min, 0, 0)
        p.SetNormal(1, 0, 0)
        planes.AddItem(p)
    if lo < z_lo:
        p = vtk.vtkPlane()
        p.SetOrigin(0, 0, z_lo)
        p.SetNormal(0, 0, 1)
        planes.AddItem(p)
    if hi > z_hi:
        p = vtk.vtkPlane()
        p.SetOrigin(0, 0, z_hi)
        p.SetNormal(0, 0, -1)
        planes.AddItem(p)
    clip = vtk.vtkClipClosedSurface()
    clip.SetInputData(poly)
    clip.SetClippingPlanes(planes)
    clip.GenerateFacesOn()
    clip.Update()
    out = pv.wrap(clip.GetOutput()).triangulate().clean()
    # a cut that grazes a bump leaves a crumb beside the bone: keep the bone
    return out.connectivity("largest").clean()


def decimate(poly, budget: int):
    """Quadric decimation (VTK, volume preserving) to at most ``budget`` triangles."""
    import pyvista as pv
    import vtk

    n = poly.n_cells
    if n <= budget:
        return poly
    dec = vtk.vtkQuadricDecimation()
    dec.SetInputData(poly)
    dec.SetTargetReduction(1.0 - (budget - 2) / n)
    dec.VolumePreservationOn()
    dec.Update()
    return pv.wrap(dec.GetOutput()).triangulate().clean()


def check_closed(name: str, mesh: SurfaceMesh) -> dict[str, Any]:
    """Closed, manifold, one piece, outward (positive signed volume): or fail loudly."""
    import trimesh

    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    edges = np.sort(tm.edges, axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    problems = []
    if not np.all(counts == 2):
        problems.append("an edge not shared by exactly two triangles")
    if not tm.is_winding_consistent:
        problems.append("inconsistent winding")
    if len(tm.split(only_watertight=False)) != 1:
        problems.append("more than one piece")
    if mesh.signed_volume_mm3() <= 0:
        problems.append("not outward")
    if problems:
        raise DeriveError(f"{name}: {', '.join(problems)}")
    return {
        "euler_characteristic": int(tm.euler_number),
        "volume_cm3": round(mesh.signed_volume_mm3() / 1e3, 2),
    }


def to_surface(poly) -> SurfaceMesh:
    v, f = _arrays(poly)
    mesh = SurfaceMesh(v, f)
    if mesh.signed_volume_mm3() < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


# --------------------------------------------------------------------------- the frame

# The femur body's axes (OpenSim's: x anterior, y proximal, z lateral for a right femur)
# turned into thighmap's (x lateral, y posterior, z proximal): a provisional frame in which
# the femur already stands roughly upright; the final frame is found in it.
SOURCE_TO_PROVISIONAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Frame:
    """p_atlas = scale * rotation @ (p - origin): pelvis-frame metres to atlas mm."""

    rotation: np.ndarray
    origin_m: np.ndarray
    scale_mm_per_m: float

    def apply(self, p: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(p) - self.origin_m) @ self.rotation.T * self.scale_mm_per_m

    def then(self, rotation: np.ndarray, origin_mm: np.ndarray, scale: float) -> Frame:
        """This frame followed by q = scale * rotation @ (p_mm - origin_mm)."""
        rot = rotation @ self.rotation
        origin = self.origin_m + self.rotation.T @ (origin_mm / self.scale_mm_per_m)
        return Frame(rot, origin, self.scale_mm_per_m * scale)


def settle_axes(femur: SurfaceMesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Rotation and origin (mm, in the mesh's frame) of the atlas frame: z along the
    mechanical axis (epicondyles' midpoint to the head's centre), x along the
    transepicondylar axis made orthogonal to z. The epicondyles are the extremes of the
    distal femur along x, so the axes are iterated until they no longer change."""
    rot = np.eye(3)
    origin = np.zeros(3)
    for i in range(1, 51):
        local = SurfaceMesh((femur.vertices - origin) @ rot.T, femur.faces)
        head, _ = bone_geometry.femoral_head(local)
        me, le = bone_geometry.epicondyles(local)
        head, me, le = (origin + rot.T @ p for p in (head, me, le))
        knee = (me + le) / 2
        z = (head - knee) / np.linalg.norm(head - knee)
        x = (le - me) - ((le - me) @ z) * z
        x /= np.linalg.norm(x)
        new_rot = np.vstack([x, np.cross(z, x), z])
        # rows: lateral, posterior, proximal. Posterior = z x x keeps the source's handedness
        # relation: in the provisional frame the femur's own axes already map to these.
        if np.allclose(new_rot, rot, atol=1e-12) and np.allclose(knee, origin, atol=1e-9):
            return rot, origin, i
        rot, origin = new_rot, knee
    raise DeriveError("the femur's axes did not settle (epicondyles jump between vertices)")


# --------------------------------------------------------------------------- derivation


@dataclass
class Source:
    bodies: dict[str, Body]
    pose: dict[str, float]
    paths: dict[str, list[str]]
    meshes: dict[str, tuple[np.ndarray, np.ndarray]]  # bone -> pelvis-frame vertices (m), faces
    mesh_info: dict[str, dict[str, Any]]
    licence_text: str
    version: str


def read_source(wheel: Path) -> Source:
    for rel in (CHAIN_XML, ASSETS_XML, TENDON_XML, MESH_DIR):
        if not (wheel / rel).exists():
            raise DeriveError(f"{wheel}: {rel} is missing; pass the folder of the unzipped myo-sim wheel")
    bodies = read_bodies(wheel / CHAIN_XML)
    pose = default_pose(bodies, read_coupled_joints(wheel / ASSETS_XML))
    compose(bodies, pose)
    meshes, info = {}, {}
    for bone, (body, stl, _) in BONES.items():
        v, f, inf = read_source_mesh(wheel / MESH_DIR / stl)
        b = bodies[body]
        meshes[bone] = (b.world_pos + v @ b.world_rot.T, f)
        info[bone] = {**inf, "body": body}
    dist_info = sorted(wheel.glob("myo_sim-*.dist-info"))
    if not dist_info:
        raise DeriveError(f"{wheel}: no myo_sim-*.dist-info folder (its METADATA and LICENSE are needed)")
    licence = next(
        (p for p in (dist_info[0] / "licenses" / "LICENSE", dist_info[0] / "LICENSE") if p.exists()), None
    )
    if licence is None:
        raise DeriveError(f"{dist_info[0]}: no LICENSE file")
    version = ""
    for line in (dist_info[0] / "METADATA").read_text(encoding="utf-8").splitlines():
        if line.startswith("Version:"):
            version = line.split(":", 1)[1].strip()
    return Source(
        bodies, pose, read_paths(wheel / TENDON_XML), meshes, info, licence.read_text("utf-8"), version
    )


def _r(a: Any, nd: int = 3) -> Any:
    """Rounded plain numbers for JSON (deterministic text)."""
    if isinstance(a, np.ndarray):
        return [_r(x, nd) for x in a.tolist()]
    if isinstance(a, list | tuple):
        return [_r(x, nd) for x in a]
    if isinstance(a, float | np.floating):
        v = round(float(a), nd)
        return 0.0 if v == 0 else v
    return a


def greater_trochanter_tip(femur: SurfaceMesh, head: np.ndarray, head_radius: float) -> np.ndarray:
    """The highest point of the femur lateral to the head (x beyond the head's lateral edge)."""
    v = femur.vertices
    lateral = v[v[:, 0] > head[0] + head_radius]
    return lateral[np.argmax(lateral[:, 2])]


def lesser_trochanter_apex(femur: SurfaceMesh, geo: bone_geometry.FemurGeometry) -> np.ndarray:
    """The point of the proximal shaft standing furthest from the shaft axis toward the
    back and the middle (posteromedial, between 30 and 110 mm below the head's centre)."""
    v = femur.vertices
    sp, sd = geo.shaft_point_mm, geo.shaft_direction
    rel = v - sp
    radial = rel - np.outer(rel @ sd, sd)
    band = (v[:, 2] < geo.head_centre_mm[2] - 30) & (v[:, 2] > geo.head_centre_mm[2] - 110)
    posteromedial = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2.0)
    reach = radial @ posteromedial
    reach[~band] = -np.inf
    return v[np.argmax(reach)]


def linea_aspera(femur: SurfaceMesh, z_levels: np.ndarray) -> list[np.ndarray]:
    """The most posterior point (largest y) of the shaft's horizontal section at each level."""
    out = []
    for z in z_levels:
        loops = bone_geometry.plane_section_loops(femur, np.array([0.0, 0.0, z]), np.array([0.0, 0.0, 1.0]))
        loop = max(loops, key=lambda lp: bone_geometry.loop_area_centroid(lp, np.array([0.0, 0.0, 1.0]))[0])
        out.append(loop[np.argmax(loop[:, 1])])
    return out


def shaft_centreline(femur: SurfaceMesh, z_levels: np.ndarray) -> list[np.ndarray]:
    """Centres of the femur's horizontal sections (the largest piece at each level)."""
    out = []
    n = np.array([0.0, 0.0, 1.0])
    for z in z_levels:
        loops = bone_geometry.plane_section_loops(femur, np.array([0.0, 0.0, z]), n)
        out.append(max((bone_geometry.loop_area_centroid(lp, n) for lp in loops), key=lambda r: r[0])[1])
    return out


def site_positions(bodies: dict[str, Body]) -> dict[str, tuple[str, np.ndarray]]:
    """Every site: (its body, its position in the pelvis frame, m)."""
    out = {}
    for b in bodies.values():
        for name, p in b.sites.items():
            out[name] = (b.name, b.world_pos + b.world_rot @ p)
    return out


CUT_INSET_MM = 1.0
# The pubic rami run medially toward the symphysis, out of the thigh's envelope: the hip
# bone is cut by a sagittal plane this far medial of the frame's origin, inside the deep
# fascia of the groin, keeping the tuberosity and the rami next to it.
HIP_BONE_MEDIAL_CUT_X_MM = -45.0


def derive(wheel: Path, atlas_path: Path) -> tuple[dict[str, SurfaceMesh], dict[str, Any], Source]:
    src = read_source(wheel)
    atlas_doc = json.loads(atlas_path.read_text(encoding="utf-8"))
    z_lo, z_hi = (float(z) for z in atlas_doc["limb"]["z_range_mm"])
    # cut 1 mm inside the limb's cut ends, so that every bone lies inside the closed skin
    z_lo, z_hi = z_lo + CUT_INSET_MM, z_hi - CUT_INSET_MM
    thigh_length = float(atlas_doc["reference_adult"]["thigh_length_mm"])

    femur_body = src.bodies["femur_r"]
    provisional = Frame(SOURCE_TO_PROVISIONAL @ femur_body.world_rot.T, femur_body.world_pos, 1000.0)
    refined, offsets, raw = {}, {}, {}
    for bone, (v, f) in src.meshes.items():
        vp = provisional.apply(v)
        raw[bone] = SurfaceMesh(vp, f)
        poly = refine(vp, f)
        refined[bone], offsets[bone] = restore_volume(poly, abs(raw[bone].signed_volume_mm3()))

    femur_prov = to_surface(decimate(refined["femur"], BONES["femur"][2]))
    rot, origin, iterations = settle_axes(femur_prov)
    unscaled = SurfaceMesh((femur_prov.vertices - origin) @ rot.T, femur_prov.faces)
    head0, r0 = bone_geometry.femoral_head(unscaled)
    gt0 = greater_trochanter_tip(unscaled, head0, r0)
    le0 = bone_geometry.epicondyles(unscaled)[1]
    scale = thigh_length / float(np.linalg.norm(gt0 - le0))
    frame = provisional.then(rot, origin, scale)

    def to_atlas(p_mm: np.ndarray) -> np.ndarray:
        return (p_mm - origin) @ rot.T * scale

    bones: dict[str, SurfaceMesh] = {}
    bone_info: dict[str, Any] = {}
    for bone, (body, stl, budget) in BONES.items():
        if bone == "femur":
            mesh = SurfaceMesh(unscaled.vertices * scale, unscaled.faces)
            clipped = False
            if mesh.vertices[:, 2].min() < z_lo or mesh.vertices[:, 2].max() > z_hi:
                raise DeriveError("the femur does not fit in the limb's z range; it would lose its landmarks")
        else:
            poly = refined[bone].copy()
            poly.points = to_atlas(np.asarray(poly.points, float))
            zmin, zmax = poly.points[:, 2].min(), poly.points[:, 2].max()
            x_min = HIP_BONE_MEDIAL_CUT_X_MM if bone == "hip_bone" else None
            clipped = bool(
                zmin < z_lo or zmax > z_hi or (x_min is not None and poly.points[:, 0].min() < x_min)
            )
            poly = clip_to_range(poly, z_lo, z_hi, x_min)
            mesh = to_surface(decimate(poly, budget))
            # decimation may nudge a cap vertex a few micrometres past its plane: put it back
            mesh.vertices[:, 2] = np.clip(mesh.vertices[:, 2], z_lo, z_hi)
        if mesh.signed_volume_mm3() < 0:
            mesh.faces = mesh.faces[:, ::-1].copy()
        # the committed file holds float32 coordinates: measure what is committed
        mesh = SurfaceMesh(mesh.vertices.astype(np.float32).astype(float), mesh.faces)
        checks = check_closed(bone, mesh)
        bones[bone] = mesh
        bone_info[bone] = {
            "file": f"{bone}.ply",
            "source_mesh": f"{MESH_DIR}/{stl}",
            "source_body": body,
            "source_triangles": src.mesh_info[bone]["triangles"],
            "source_sha256": src.mesh_info[bone]["sha256"],
            "source_repair": src.mesh_info[bone]["repair"],
            "triangles": mesh.n_triangles,
            "vertices": len(mesh.vertices),
            "triangle_budget": budget,
            "volume_cm3": checks["volume_cm3"],
            "euler_characteristic": checks["euler_characteristic"],
            "normal_offset_mm": _r(offsets[bone] * scale),
            "cut_to_z_mm": [z_lo, z_hi] if clipped else None,
            "bounds_mm": _r(np.vstack([mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)]), 2),
        }

    return (
        bones,
        {
            "frame": frame,
            "scale": scale,
            "iterations": iterations,
            "bone_info": bone_info,
            "raw": {b: SurfaceMesh(to_atlas(m.vertices), m.faces) for b, m in raw.items()},
            "z_range": (z_lo, z_hi),
            "thigh_length": thigh_length,
        },
        src,
    )


def muscle_attachments(src: Source, frame: Frame, bones: dict[str, SurfaceMesh]) -> dict[str, Any]:
    """Each muscle's path points (origin, via points, insertion) in the atlas frame, with
    the bone each is fixed to and the nearest point of that bone's derived surface."""
    sites = site_positions(src.bodies)
    out: dict[str, Any] = {}
    for muscle, (mid, name, structure) in MUSCLES.items():
        path = src.paths.get(muscle)
        if not path:
            raise DeriveError(f"{TENDON_XML}: no path for {muscle}_r")
        points = []
        for k, site in enumerate(path):
            body, p = sites[site]
            pos = frame.apply(p)[0]
            role = "origin" if k == 0 else "insertion" if k == len(path) - 1 else "via"
            entry: dict[str, Any] = {"site": site, "role": role, "body": body, "position_mm": _r(pos)}
            candidates = BODY_BONES.get(body, ())
            if candidates:
                near = [(b, *bone_geometry.closest_points(bones[b], pos)) for b in candidates]
                bone, q, dist = min(near, key=lambda r: float(r[2][0]))
                entry.update(
                    {"bone": bone, "on_bone_mm": _r(q[0]), "distance_to_bone_mm": _r(float(dist[0]), 2)}
                )
            else:
                entry["bone"] = None  # the patella, or below the knee: not derived here
            points.append(entry)
        out[mid] = {"name": name, "myoleg_muscle": f"{muscle}_r", "structure": structure, "points": points}
    return out


def measure_landmarks(
    bones: dict[str, SurfaceMesh], geo: bone_geometry.FemurGeometry, attachments: dict[str, Any]
) -> dict[str, Any]:
    """The atlas's bony landmarks, each a point of its derived bone, with how it was found."""
    femur, fibula = bones["femur"], bones["fibula"]

    def on(bone: str, p: np.ndarray) -> np.ndarray:
        return bone_geometry.closest_points(bones[bone], p)[0][0]

    hamstring_origins = np.array(
        [
            attachments[m]["points"][0]["position_mm"]
            for m in ("biceps_femoris_long_head", "semitendinosus", "semimembranosus")
        ]
    )
    fv = fibula.vertices
    head = fv[fv[:, 2] > fv[:, 2].max() - 25.0]
    lt = lesser_trochanter_apex(femur, geo)
    lt_psoas = float(np.linalg.norm(lt - np.array(attachments["psoas_major"]["points"][-1]["on_bone_mm"])))
    adductor_insertion = np.array(attachments["adductor_magnus_ischial"]["points"][-1]["position_mm"])
    found = {
        "ischial_tuberosity": (
            "hip_bone",
            on("hip_bone", hamstring_origins.mean(axis=0)),
            "the point of the hip bone nearest the mean of MyoLeg's three hamstring origins "
            "(bflh-P1_r, semiten-P1_r, semimem-P1_r): the tuberosity's hamstring facet",
        ),
        "greater_trochanter": (
            "femur",
            greater_trochanter_tip(femur, geo.head_centre_mm, geo.head_radius_mm),
            "the tip: the highest point of the femur lateral to the femoral head's lateral edge",
        ),
        "lesser_trochanter": (
            "femur",
            lt,
            "the apex: the point 30-110 mm below the head's centre standing furthest from the shaft "
            f"axis toward posteromedial (MyoLeg's psoas insertion, psoas-P4_r, lies {lt_psoas:.1f} mm "
            "from it)",
        ),
        "adductor_tubercle": (
            "femur",
            on("femur", adductor_insertion),
            "the point of the femur nearest MyoLeg's insertion of the ischiocondylar adductor magnus "
            "(addmagIsch-P2_r), which the model places on the tubercle",
        ),
        "medial_epicondyle": (
            "femur",
            geo.medial_epicondyle_mm,
            "the most medial point of the distal femur (lowest 12 %) along the transepicondylar axis, "
            "which defines the frame's x axis",
        ),
        "lateral_epicondyle": (
            "femur",
            geo.lateral_epicondyle_mm,
            "the most lateral point of the distal femur (lowest 12 %) along the transepicondylar axis",
        ),
        "fibular_head": (
            "fibula",
            head[np.argmax(head[:, 0])],
            "the palpable lateral prominence of the head: the most lateral point of the fibula's top 25 mm",
        ),
        "fibular_apex": (
            "fibula",
            fv[np.argmax(fv[:, 2])],
            "the apex (styloid process) of the fibular head: the fibula's highest point",
        ),
        "femoral_head_centre": (
            "femur",
            geo.head_centre_mm,
            "centre of the sphere fitted to the femoral head (not a surface point: the hip joint centre)",
        ),
    }
    out = {}
    for lid, (bone, p, how) in found.items():
        dist = float(bone_geometry.closest_points(bones[bone], p)[1][0])
        out[lid] = {"position_mm": _r(p), "bone": bone, "distance_to_bone_mm": _r(dist, 3), "method": how}
    return out


def femur_figures(geo: bone_geometry.FemurGeometry) -> dict[str, Any]:
    return {
        "neck_shaft_angle_deg": _r(geo.neck_shaft_angle_deg, 2),
        "anteversion_posterior_condylar_deg": _r(geo.anteversion_posterior_condylar_deg, 2),
        "anteversion_transepicondylar_deg": _r(geo.anteversion_transepicondylar_deg, 2),
        "offset_mm": _r(geo.offset_mm, 2),
        "length_mm": _r(geo.length_mm, 2),
        "head_radius_mm": _r(geo.head_radius_mm, 2),
        "epicondylar_width_mm": _r(
            float(np.linalg.norm(geo.lateral_epicondyle_mm - geo.medial_epicondyle_mm)), 2
        ),
        "head_centre_mm": _r(geo.head_centre_mm),
        "neck_direction": _r(geo.neck_direction, 5),
        "shaft_point_mm": _r(geo.shaft_point_mm),
        "shaft_direction": _r(geo.shaft_direction, 5),
    }


def overlap_mm3(a: SurfaceMesh, b: SurfaceMesh, step_mm: float = 0.5) -> float:
    """Volume inside both surfaces, counted on a grid (ray parity)."""
    from thighmap.anatomy.voxels import inside_grid

    lo = np.maximum(a.vertices.min(axis=0), b.vertices.min(axis=0))
    hi = np.minimum(a.vertices.max(axis=0), b.vertices.max(axis=0))
    if np.any(hi <= lo):
        return 0.0
    xs, ys, zs = (np.arange(lo[k] + step_mm / 2, hi[k], step_mm) for k in range(3))
    both = inside_grid(a, xs, ys, zs) & inside_grid(b, xs, ys, zs)
    return float(both.sum()) * step_mm**3


PUBLISHED = {
    "neck_shaft_angle_deg": {
        "value": "3D CT of 1070 femurs: median 122.2 deg (IQR 117.9-125.6), men 121.5; plain radiographs "
        "of healthy adults: mean 128.8 deg",
        "source": "Hartel et al., PLoS One 2016;11(3):e0149480; "
        "Boese et al., Skeletal Radiol 2016;45(1):19-28",
    },
    "anteversion_deg": {
        "value": "3D CT: median 14.2 deg (IQR 7.4-20.4), men 12.1; CT of 50 cadaver femora: 11.7 +/- 8.2 deg",
        "source": "Hartel et al. 2016 (above); van der Linden-van der Zwaag et al., Adv Comput Tomogr "
        "2015;4:10-18",
    },
    "offset_mm": {
        "value": "CT, hips without osteoarthritis: men 43.6 +/- 5.6 mm, women 39.5 +/- 3.5 mm",
        "source": "Preininger et al., Open Orthop J 2012;6:578 (femoral offset (3D), 200 hips)",
    },
    "length_mm": {
        "value": "stature (cm) = 2.38 x femur length (cm) + 61.41 (+/- 3.27) for men of European "
        "ancestry (the reference adult is 175 cm tall)",
        "source": "Trotter and Gleser, Am J Phys Anthropol 1952;10(4):463-514",
    },
}


def build_document(src: Source, bones: dict[str, SurfaceMesh], info: dict[str, Any]) -> dict[str, Any]:
    frame: Frame = info["frame"]
    femur = bones["femur"]
    attachments = muscle_attachments(src, frame, bones)
    geo = bone_geometry.measure_femur(femur)
    raw_geo = bone_geometry.measure_femur(info["raw"]["femur"])
    landmarks = measure_landmarks(bones, geo, attachments)
    z0, z1 = float(femur.vertices[:, 2].min()), float(femur.vertices[:, 2].max())
    aspera_levels = np.arange(np.ceil((z0 + 0.35 * (z1 - z0)) / 10) * 10, z0 + 0.65 * (z1 - z0), 10.0)
    shaft_levels = np.arange(40.0, 381.0, 10.0)
    derived = femur_figures(geo)
    source = femur_figures(raw_geo)
    stature_cm = 2.38 * geo.length_mm / 10 + 61.41
    return {
        "format": "thighmap-skeleton",
        "version": 1,
        "title": "The reference adult's right femur, hip bone, proximal tibia and fibular head, "
        "derived from the MyoLeg model of myo-sim",
        "source": {
            "package": f"{SOURCE_PACKAGE} {src.version} (PyPI), Apache-2.0: see NOTICE",
            "model": "MyoLeg (myo_sim/models/leg), derived from the full-body gait model of "
            "Rajagopal et al., IEEE Trans Biomed Eng 2016;63(10):2068-2079, doi 10.1109/TBME.2016.2586891",
            "files": [CHAIN_XML, ASSETS_XML, TENDON_XML] + [f"{MESH_DIR}/{BONES[b][1]}" for b in BONES],
            "tool": "tools/derive_skeleton.py",
        },
        "pose": {
            "description": "MyoLeg's default pose: hip flexion, adduction and rotation and the knee angle 0 "
            "(the femur's frame parallel to the pelvis's, the standing anatomical position; MyoLeg's world "
            "placement of the pelvis, euler 1.57 -1.57 0, cancels out because the frame is fixed on the "
            "femur); the knee's coupled joints at their equality polynomials at knee angle 0 (tibia offsets "
            "below 0.1 um and 0.1 urad; the patella, which carries the quadriceps' via points, at "
            "(0.0524, -0.0108) m and 0.0105 rad)",
            "joint_values": {k: _r(v, 9) for k, v in sorted(src.pose.items()) if k.endswith("_r")},
        },
        "frame": {
            "description": "design.md's frame: mm, right thigh, +x lateral, +y posterior, +z proximal, "
            "origin at the midpoint of the epicondyles. z runs along the femur's mechanical axis "
            "(the epicondyles' midpoint to the femoral head's centre), x along the transepicondylar "
            "axis made orthogonal to z. "
            "The mechanical axis, not the anatomical (shaft) axis: it is fixed by two points measured "
            "robustly on any femur (the head's sphere and the epicondyles, which fix the origin anyway), it "
            "is the line from hip to knee along which a prone thigh lies with the hip in neutral and along "
            "which fitting scales lengths, and it leaves the shaft leaning about 6 deg laterally and its "
            "bow as they are in a real limb, as the former atlas's femur already did",
            "map": "p_atlas_mm = scale_mm_per_m * rotation @ (p_pelvis_m - origin_pelvis_m); the rotation "
            "rows are the atlas axes in MyoLeg's pelvis frame (x anterior, y superior, z right); its "
            "determinant is -1 because the atlas frame of a right thigh is the mirror of a right-handed one",
            "rotation": _r(frame.rotation, 9),
            "origin_pelvis_m": _r(frame.origin_m, 9),
            "scale_mm_per_m": _r(frame.scale_mm_per_m, 6),
            "uniform_scale": _r(info["scale"], 6),
            "scale_rule": f"greater trochanter tip to lateral epicondyle = {info['thigh_length']:g} mm "
            "(reference_adult.thigh_length_mm in landmarks.json)",
            "iterations_to_settle": info["iterations"],
        },
        "processing": {
            "repair": "STL vertices merged, duplicate, degenerate and stray triangles dropped, holes filled "
            "(trimesh)",
            "refine": f"VTK vtkLoopSubdivisionFilter ({LOOP_SUBDIVISIONS} levels) then "
            f"vtkWindowedSincPolyDataFilter ({SINC_ITERATIONS} iterations, pass band {SINC_PASS_BAND})",
            "volume": "every vertex moved along its normal by one distance (normal_offset_mm) so that the "
            "enclosed volume is the source polyhedron's again (Loop's surface lies inside its control mesh)",
            "cut": f"vtkClipClosedSurface at z = {info['z_range'][0]:g} and {info['z_range'][1]:g} mm "
            f"({CUT_INSET_MM:g} mm inside limb.z_range_mm), and the hip bone at "
            f"x = {HIP_BONE_MEDIAL_CUT_X_MM:g} mm (its pubic rami leave the thigh toward the symphysis); "
            "each cut closed by a flat cap; the largest piece kept",
            "decimate": "vtkQuadricDecimation with volume preservation, to each bone's triangle budget",
            "checks": "closed (every edge shared by two triangles), consistently wound, one piece, outward "
            "(positive signed volume)",
        },
        "bones": info["bone_info"],
        "overlaps_mm3": {
            "femur/tibia": _r(overlap_mm3(bones["femur"], bones["tibia"]), 1),
            "tibia/fibula": _r(overlap_mm3(bones["tibia"], bones["fibula"]), 1),
            "femur/hip_bone": _r(overlap_mm3(bones["femur"], bones["hip_bone"]), 1),
        },
        "landmarks": landmarks,
        "linea_aspera": {
            "method": "the most posterior point (largest y) of the femur's horizontal section every 10 mm "
            "between 35 % and 65 % of its length; MyoLeg's bfsh and adductor magnus insertions lie along it",
            "points_mm": [_r(p) for p in linea_aspera(femur, aspera_levels)],
        },
        "femur_shaft_centreline_mm": {
            "method": "centres of the femur's horizontal sections every 10 mm from z = 40 to 380 mm",
            "points_mm": [_r(p) for p in shaft_centreline(femur, shaft_levels)],
        },
        "femur_geometry": {
            "definitions": "thighmap.anatomy.bone_geometry (module docstring): sphere-fitted head, neck axis "
            "through the narrowest neck section, shaft axis fitted to section centres between 30 and 70 % "
            "of the length, anteversion seen along the mechanical axis, offset from head centre to shaft "
            "axis, length along the mechanical axis",
            "derived": derived,
            "source": {**source, "note": "the coarse STL mapped by the same frame and scale, unrefined"},
            "stature_from_length_cm": _r(stature_cm, 1),
            "published": PUBLISHED,
        },
        "attachments": {
            "description": "each muscle's MyoLeg path in order: origin, via points, insertion (wrapping "
            "surfaces left out), mapped into the atlas frame; bone is the derived bone the point is fixed to "
            "(null for the patella and below the knee), on_bone_mm its nearest point on that bone; points "
            "outside the limb's z range are kept (the hip's muscles)",
            "muscles": attachments,
        },
    }


NOTICE_HEAD = """\
thighmap's skeleton (this folder: femur.ply, hip_bone.ply, tibia.ply, fibula.ply,
skeleton.json) is derived from the MyoLeg model distributed in the Python package
myo-sim {version} (https://pypi.org/project/myo-sim/, https://github.com/MyoHub/myo_sim),
Copyright 2020 Vikash Kumar, Vittorio Caggiano, Huawei Wang (as its model files state;
authors also Charlie Li and Cheryl Wang), licensed under the Apache License, Version 2.0
(the full text follows).

MyoLeg is derived from the full-body musculoskeletal model of
Rajagopal A, Dembia CL, DeMers MS, Delp DD, Hicks JL, Delp SL. Full-body musculoskeletal
model for muscle-driven simulation of human gait. IEEE Trans Biomed Eng
2016;63(10):2068-2079. doi:10.1109/TBME.2016.2586891 (https://simtk.org/projects/full_body).

Files used:
{files}

Changes made (tools/derive_skeleton.py, thighmap): the right femur, hip bone, tibia and
fibula surfaces and the muscle path sites were composed into one frame at the model's
default pose, mapped into thighmap's atlas frame (millimetres, mirrored: see
skeleton.json, "frame"), scaled uniformly by {scale:.6f}, repaired, refined (Loop
subdivision), smoothed, cut to the limb's length with flat caps and decimated; landmarks
were measured on the result. The surfaces are therefore a derivative work of the MyoLeg
meshes; skeleton.json records every step and number.

------------------------------------------------------------------------------------------
"""


def notice_text(src: Source, scale: float) -> str:
    files = "\n".join(
        f"  {f}" for f in [CHAIN_XML, ASSETS_XML, TENDON_XML, *(f"{MESH_DIR}/{BONES[b][1]}" for b in BONES)]
    )
    return NOTICE_HEAD.format(version=src.version, files=files, scale=scale) + src.licence_text


def write_outputs(out: Path, bones: dict[str, SurfaceMesh], document: dict[str, Any], notice: str) -> None:
    from thighmap.atomic import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    for bone, mesh in bones.items():
        meshio.write_mesh(mesh, out / f"{bone}.ply")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from format_json import dumps  # short arrays and small objects on one line

    text = dumps(document) + "\n"
    write_atomic(out / "skeleton.json", text.encode("utf-8"))
    write_atomic(out / "NOTICE", notice.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", type=Path, help="folder of the unzipped myo-sim wheel")
    ap.add_argument(
        "--atlas",
        type=Path,
        default=REPO / "assets" / "landmarks.json",
        help="the atlas whose limb z range and reference thigh length apply",
    )
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "skeleton")
    args = ap.parse_args(argv)
    try:
        bones, info, src = derive(args.wheel, args.atlas)
        document = build_document(src, bones, info)
    except (DeriveError, OSError, KeyError, ValueError) as exc:
        print(f"derive_skeleton: {exc}", file=sys.stderr)
        return 1
    write_outputs(args.out, bones, document, notice_text(src, info["scale"]))
    for bone, b in document["bones"].items():
        print(f"{bone:9s} {b['triangles']:5d} triangles  {b['volume_cm3']:7.1f} cm3  cut {b['cut_to_z_mm']}")
    g = document["femur_geometry"]
    for key in ("neck_shaft_angle_deg", "anteversion_posterior_condylar_deg", "offset_mm", "length_mm"):
        print(f"femur {key}: derived {g['derived'][key]}  source {g['source'][key]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
