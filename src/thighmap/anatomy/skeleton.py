"""The atlas's skeleton: bone surfaces, bony landmarks and muscle attachment points.

An atlas folder may hold ``skeleton/`` beside ``landmarks.json`` and ``meshes/``:
``femur.ply``, ``hip_bone.ply``, ``tibia.ply``, ``fibula.ply`` (closed surfaces in the
atlas frame, mm), ``skeleton.json`` (where they come from, the landmarks measured on them,
each muscle's origin, via points and insertion) and ``NOTICE`` (the licence of the data
they are derived from). The bundled skeleton is derived from the MyoLeg model of myo-sim
(Apache-2.0) by tools/derive_skeleton.py.

A structure takes its surface from the skeleton with the recipe
``{"type": "skeleton", "bone": "femur"}`` (anatomy/build.py). Nothing here imports Qt.
Bad files raise :class:`SkeletonError` naming the file, the field and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thighmap import paths
from thighmap.anatomy import fields
from thighmap.anatomy.atlas import SKELETON_BONES
from thighmap.anatomy.meshgen import SurfaceMesh

BONE_IDS: tuple[str, ...] = SKELETON_BONES
DOCUMENT = "skeleton.json"
ROLES = ("origin", "via", "insertion")


class SkeletonError(ValueError):
    """The skeleton folder cannot be used; the message names the file, field and value."""


@dataclass(frozen=True)
class BoneLandmark:
    id: str
    position_mm: np.ndarray
    bone: str
    method: str


@dataclass(frozen=True)
class AttachmentPoint:
    site: str  # the source model's name for the point
    role: str  # origin, via or insertion
    position_mm: np.ndarray
    bone: str | None  # the bone it is fixed to (None: a bone the skeleton does not hold)
    on_bone_mm: np.ndarray | None  # the nearest point of that bone's surface


@dataclass(frozen=True)
class MuscleAttachments:
    id: str
    name: str
    structure: str | None  # the atlas structure it belongs to, when the atlas has one
    points: tuple[AttachmentPoint, ...]

    @property
    def origin(self) -> AttachmentPoint:
        return self.points[0]

    @property
    def insertion(self) -> AttachmentPoint:
        return self.points[-1]


@dataclass(eq=False)
class Skeleton:
    directory: Path
    document: dict[str, Any]
    landmarks: dict[str, BoneLandmark]
    attachments: dict[str, MuscleAttachments]
    linea_aspera_mm: np.ndarray  # (N, 3), proximal end last
    femur_shaft_centreline_mm: np.ndarray  # (N, 3), increasing z
    _bones: dict[str, SurfaceMesh] = field(default_factory=dict, repr=False)

    def bone(self, bone_id: str) -> SurfaceMesh:
        """One bone's surface, read once."""
        if bone_id not in self._bones:
            self._bones[bone_id] = read_bone(self.directory, bone_id)
        return self._bones[bone_id]

    def bones(self) -> dict[str, SurfaceMesh]:
        return {b: self.bone(b) for b in BONE_IDS}


# ---------------------------------------------------------------------- locating


def skeleton_dir_of(atlas_path: Path) -> Path:
    """The skeleton folder of the atlas whose landmarks.json is ``atlas_path``."""
    return Path(atlas_path).parent / "skeleton"


def default_skeleton_dir() -> Path:
    """The skeleton folder of the atlas thighmap reads by default (see thighmap.paths)."""
    return paths.skeleton_dir()


# ---------------------------------------------------------------------- reading


def _err(path: Path, where: str, value: Any, message: str) -> SkeletonError:
    return fields.field_error(SkeletonError, path, where, value, message)


def _vec3(path: Path, where: str, value: Any) -> np.ndarray:
    return fields.vec3(SkeletonError, path, where, value)


def _text(path: Path, where: str, value: Any) -> str:
    return fields.text(SkeletonError, path, where, value)


def _obj(path: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(path, where, value, "expected an object")
    return value


def _points(path: Path, where: str, value: Any) -> np.ndarray:
    if not isinstance(value, list) or len(value) < 2:
        raise _err(path, where, value, "expected a list of at least two [x, y, z] points")
    return np.array([_vec3(path, f"{where}[{k}]", p) for k, p in enumerate(value)])


def read_bone(directory: Path, bone_id: str) -> SurfaceMesh:
    """A bone's surface, checked: readable, triangles, finite, indices in range, outward."""
    from thighmap.anatomy import meshio

    if bone_id not in BONE_IDS:
        raise SkeletonError(f"{directory}: no bone {bone_id!r} (the skeleton holds {', '.join(BONE_IDS)})")
    path = Path(directory) / f"{bone_id}.ply"
    if not path.is_file():
        raise SkeletonError(f"{path}: the {bone_id.replace('_', ' ')} surface is missing")
    try:
        mesh = meshio.read_mesh(path)
    except Exception as exc:  # any reader failure is the file's problem
        raise SkeletonError(
            f"{path}: not a readable triangle surface ({type(exc).__name__}: {exc})"
        ) from None
    if len(mesh.faces) < 4:
        raise SkeletonError(f"{path}: {len(mesh.faces)} triangles: not a closed surface")
    if not np.all(np.isfinite(mesh.vertices)):
        raise SkeletonError(f"{path}: vertex coordinates that are not finite")
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        raise SkeletonError(f"{path}: a triangle names a vertex the file does not hold")
    if mesh.signed_volume_mm3() <= 0:
        raise SkeletonError(
            f"{path}: the surface is not outward-oriented (its enclosed volume is not positive)"
        )
    return mesh


def load_skeleton(directory: Path | str | None = None) -> Skeleton:
    """Read and validate skeleton.json of the folder (the default atlas's by default).
    The bone surfaces are read when first asked for."""
    directory = Path(directory) if directory is not None else default_skeleton_dir()
    path = directory / DOCUMENT
    doc = fields.read_json(SkeletonError, path, "skeleton")
    return parse_skeleton(doc, directory, path)


def parse_skeleton(doc: Any, directory: Path, path: Path) -> Skeleton:
    if not isinstance(doc, dict):
        raise _err(path, "(top level)", type(doc).__name__, "the skeleton must be a JSON object")
    if doc.get("format") != "thighmap-skeleton":
        raise _err(path, "format", doc.get("format"), "expected 'thighmap-skeleton'")
    if doc.get("version") != 1:
        raise _err(path, "version", doc.get("version"), "this thighmap reads skeleton version 1")
    landmarks = {}
    for lid, lm in _obj(path, "landmarks", doc.get("landmarks")).items():
        where = f"landmarks.{lid}"
        lm = _obj(path, where, lm)
        bone = lm.get("bone")
        if bone not in BONE_IDS:
            raise _err(path, f"{where}.bone", bone, f"expected one of {', '.join(BONE_IDS)}")
        landmarks[lid] = BoneLandmark(
            lid,
            _vec3(path, f"{where}.position_mm", lm.get("position_mm")),
            bone,
            _text(path, f"{where}.method", lm.get("method")),
        )
    muscles = _obj(
        path, "attachments.muscles", _obj(path, "attachments", doc.get("attachments")).get("muscles")
    )
    attachments = {}
    for mid, m in muscles.items():
        where = f"attachments.muscles.{mid}"
        m = _obj(path, where, m)
        raw_points = m.get("points")
        if not isinstance(raw_points, list) or len(raw_points) < 2:
            raise _err(path, f"{where}.points", raw_points, "expected an origin and an insertion at least")
        points = []
        for k, p in enumerate(raw_points):
            w = f"{where}.points[{k}]"
            p = _obj(path, w, p)
            role = p.get("role")
            expected = "origin" if k == 0 else "insertion" if k == len(raw_points) - 1 else "via"
            if role != expected:
                raise _err(path, f"{w}.role", role, f"expected {expected!r} at this place in the path")
            bone = p.get("bone")
            if bone is not None and bone not in BONE_IDS:
                raise _err(path, f"{w}.bone", bone, f"expected null or one of {', '.join(BONE_IDS)}")
            points.append(
                AttachmentPoint(
                    _text(path, f"{w}.site", p.get("site")),
                    role,
                    _vec3(path, f"{w}.position_mm", p.get("position_mm")),
                    bone,
                    None if bone is None else _vec3(path, f"{w}.on_bone_mm", p.get("on_bone_mm")),
                )
            )
        structure = m.get("structure")
        if structure is not None and not isinstance(structure, str):
            raise _err(path, f"{where}.structure", structure, "expected a structure id or null")
        attachments[mid] = MuscleAttachments(
            mid, _text(path, f"{where}.name", m.get("name")), structure, tuple(points)
        )
    aspera = _points(
        path,
        "linea_aspera.points_mm",
        _obj(path, "linea_aspera", doc.get("linea_aspera")).get("points_mm"),
    )
    shaft = _points(
        path,
        "femur_shaft_centreline_mm.points_mm",
        _obj(path, "femur_shaft_centreline_mm", doc.get("femur_shaft_centreline_mm")).get("points_mm"),
    )
    if np.any(np.diff(shaft[:, 2]) <= 0):
        raise _err(path, "femur_shaft_centreline_mm.points_mm", shaft[:, 2].tolist(), "z must increase")
    return Skeleton(directory, doc, landmarks, attachments, aspera, shaft)
