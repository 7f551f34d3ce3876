"""`thighmap atlas import`: surfaces from elsewhere (an anatomy database's exports, a
segmentation of a patient's MRI) brought into thighmap's frame (no Qt).

A small mapping file says which file is which structure and how to align it:

    {"format": "thighmap-import", "version": 1,
     "units": "m",                       # mm, cm or m: the files' length unit
     "fit": "rigid",                     # rigid, or similarity (also scales)
     "landmarks": [{"id": "ischial_tuberosity", "point": [x, y, z]}, ...],   # 3 or more
     "structures": [{"file": "nerve.stl", "id": "sciatic_nerve", "kind": "nerve",
                     "role": "danger", "name": "optional",
                     "safety": {"uncertainty_mm": 10, "caution_margin_mm": 5,
                                "source": "why these values"}}]}

Each landmark pairs a point in the files' frame and units with the base atlas's landmark
of that id; the rigid or similarity transform that best maps the points onto the
landmarks (least squares) is applied to every surface, and its residual is reported.
The result is a new atlas folder: the base atlas's document with the imported structures
added or replaced (recipe type "mesh"), and its meshes beside it. Danger structures are
then checked exactly against their triangles.

Refused, with the file and the reason: a file that cannot be read, non-finite vertices,
an open surface for a danger structure, units off by orders of magnitude (the landmark
distances disagree with the atlas's by more than a factor of two), fewer than three
landmarks or landmarks on a line, an unknown landmark id, kind or role.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thighmap.anatomy.atlas import KINDS, ROLES, Atlas, AtlasError, load_atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.anatomy.meshio import write_mesh

UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
SURFACE_SUFFIXES = (".stl", ".obj", ".ply", ".vtp", ".gltf", ".glb")


class ImportError_(AtlasError):
    """The import cannot be done; the message names the file, the field and the value."""


@dataclass
class ImportResult:
    atlas_path: Path
    structures: list[str]
    fit: str
    scale: float
    rms_mm: float
    max_mm: float
    residuals_mm: dict[str, float]


def _fail(path: Path, where: str, value: Any, message: str) -> ImportError_:
    return ImportError_(f"{path}: field '{where}': value {value!r}: {message}")


def fit_transform(
    source: np.ndarray, target: np.ndarray, similarity: bool
) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares R, s, t with target ~ s R source + t (Umeyama 1991; s = 1 for rigid)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    u, sig, vt = np.linalg.svd(b.T @ a / len(source))
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / (a**2).sum(axis=1).mean()) if similarity else 1.0
    return rot, scale, mu_t - scale * rot @ mu_s


def read_surface(path: Path) -> SurfaceMesh:
    """Any triangle surface trimesh or VTK reads, as vertices and faces."""
    if path.suffix.lower() == ".vtp":
        import pyvista as pv

        poly = pv.read(path).triangulate()
        faces = np.asarray(poly.faces).reshape(-1, 4)[:, 1:]
        return SurfaceMesh(np.asarray(poly.points, float), faces.astype(np.int64))
    import trimesh

    mesh = trimesh.load(path, force="mesh", process=False)
    if np.all(np.isfinite(mesh.vertices)):  # (non-finite ones are refused by the caller)
        mesh.merge_vertices()  # STL repeats each corner per triangle: join them to see the edges
    return SurfaceMesh(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64))


def import_atlas(mapping_path: str | Path, out_dir: str | Path, base: Atlas | None = None) -> ImportResult:
    mapping_path = Path(mapping_path)
    try:
        doc = json.loads(mapping_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportError_(f"{mapping_path}: cannot read the mapping file: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportError_(f"{mapping_path}: not a JSON mapping file: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != "thighmap-import":
        raise _fail(
            mapping_path,
            "format",
            doc.get("format") if isinstance(doc, dict) else doc,
            "expected 'thighmap-import'",
        )
    if doc.get("version") != 1:
        raise _fail(
            mapping_path, "version", doc.get("version"), "this thighmap reads import mappings of version 1"
        )
    units = doc.get("units")
    if units not in UNITS_MM:
        raise _fail(mapping_path, "units", units, f"expected one of {', '.join(UNITS_MM)}")
    fit = doc.get("fit", "rigid")
    if fit not in ("rigid", "similarity"):
        raise _fail(mapping_path, "fit", fit, "expected rigid or similarity")
    base = base or load_atlas()

    # ---- alignment from the landmark pairs
    pairs = doc.get("landmarks")
    if not isinstance(pairs, list) or len(pairs) < 3:
        raise _fail(mapping_path, "landmarks", pairs, "give at least three landmark pairs")
    ids, src = [], []
    for i, pair in enumerate(pairs):
        lid = pair.get("id") if isinstance(pair, dict) else None
        if lid not in base.landmarks:
            raise _fail(
                mapping_path,
                f"landmarks[{i}].id",
                lid,
                f"not a landmark of the atlas ({', '.join(sorted(base.landmarks))})",
            )
        point = pair.get("point")
        if not isinstance(point, list) or len(point) != 3 or not all(_finite(v) for v in point):
            raise _fail(mapping_path, f"landmarks[{i}].point", point, "expected three finite numbers")
        ids.append(lid)
        src.append([float(v) for v in point])
    source = np.array(src) * UNITS_MM[units]
    target = np.array([base.landmark(lid) for lid in ids])
    if np.linalg.matrix_rank(target - target.mean(axis=0), tol=1.0) < 2:
        raise _fail(
            mapping_path, "landmarks", ids, "the landmarks lie on a line: they cannot fix an orientation"
        )
    ratio = _spread(source) / _spread(target)
    if not 0.5 <= ratio <= 2.0:
        raise _fail(
            mapping_path,
            "units",
            units,
            f"the landmark distances in the files are {ratio:.3g} times the atlas's: wrong units?",
        )
    rot, scale, shift = fit_transform(source, target, fit == "similarity")
    placed = (scale * (rot @ source.T)).T + shift
    residuals = np.linalg.norm(placed - target, axis=1)
    rms = float(np.sqrt((residuals**2).mean()))

    # ---- the surfaces
    entries = doc.get("structures")
    if not isinstance(entries, list) or not entries:
        raise _fail(mapping_path, "structures", entries, "list at least one surface to import")
    out_dir = Path(out_dir)
    meshes_out = out_dir / "meshes"
    meshes_out.mkdir(parents=True, exist_ok=True)
    atlas_doc = copy.deepcopy(base.document)
    by_id = {s["id"]: s for s in atlas_doc["structures"]}
    imported = []
    new_meshes: dict[str, SurfaceMesh] = {}
    for i, entry in enumerate(entries):
        where = f"structures[{i}]"
        if not isinstance(entry, dict):
            raise _fail(mapping_path, where, entry, "expected an object")
        sid, kind, role = entry.get("id"), entry.get("kind"), entry.get("role")
        if not isinstance(sid, str) or not sid:
            raise _fail(mapping_path, f"{where}.id", sid, "expected a structure id")
        if kind not in KINDS:
            raise _fail(mapping_path, f"{where}.kind", kind, f"expected one of {', '.join(KINDS)}")
        if role not in ROLES:
            raise _fail(mapping_path, f"{where}.role", role, f"expected one of {', '.join(ROLES)}")
        file = mapping_path.parent / str(entry.get("file", ""))
        if file.suffix.lower() not in SURFACE_SUFFIXES or not file.is_file():
            raise _fail(
                mapping_path,
                f"{where}.file",
                entry.get("file"),
                f"expected an existing {'/'.join(SURFACE_SUFFIXES)} file",
            )
        try:
            mesh = read_surface(file)
        except Exception as exc:  # any reader failure is the file's problem
            raise ImportError_(f"{file}: cannot read the surface: {exc}") from exc
        if len(mesh.faces) == 0:
            raise ImportError_(f"{file}: no triangles")
        if not np.all(np.isfinite(mesh.vertices)):
            raise ImportError_(
                f"{file}: {int((~np.isfinite(mesh.vertices)).any(axis=1).sum())} vertices are not finite"
            )
        verts = (scale * (rot @ (mesh.vertices * UNITS_MM[units]).T)).T + shift
        mesh = _outward(SurfaceMesh(verts, mesh.faces))
        closed = _is_closed(mesh)
        if role == "danger" and not closed:
            raise ImportError_(
                f"{file}: the surface of danger structure {sid!r} is open; "
                "it must be closed to tell inside from outside"
            )
        extent = float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)))
        if not 1.0 <= extent <= 2000.0:
            raise ImportError_(f"{file}: after alignment the surface spans {extent:.3g} mm: wrong units?")
        record: dict[str, Any] = {
            "id": sid,
            "name": entry.get("name") or by_id.get(sid, {}).get("name") or sid.replace("_", " "),
            "kind": kind,
            "role": role,
            "description": f"imported from {file.name}",
            "recipe": {"type": "mesh", "file": f"{sid}.ply", "imported_from": file.name},
            "source": f"imported with {mapping_path.name} ({fit} fit, RMS residual {rms:.2f} mm)",
        }
        if role == "danger":
            record["safety"] = _safety(mapping_path, where, entry.get("safety"), by_id.get(sid))
        if sid in by_id:
            by_id[sid].clear()
            by_id[sid].update(record)
        else:
            atlas_doc["structures"].append(record)
            by_id[sid] = record
        new_meshes[sid] = mesh
        imported.append(sid)

    # ---- write the new atlas: the base meshes, then the imported ones
    for sid in base.structures:
        if sid not in new_meshes:
            src = (base.meshes_dir or Path()) / f"{sid}.ply"
            if src.exists():
                shutil.copyfile(src, meshes_out / f"{sid}.ply")
            else:
                write_mesh(base.mesh(sid), meshes_out / f"{sid}.ply")
    for sid, mesh in new_meshes.items():
        write_mesh(mesh, meshes_out / f"{sid}.ply")
    atlas_doc["title"] = f"{atlas_doc.get('title', 'atlas')} + imported ({', '.join(imported)})"
    atlas_doc["import"] = {
        "mapping": str(mapping_path),
        "fit": fit,
        "scale": scale,
        "rotation": rot.round(9).tolist(),
        "translation_mm": shift.round(6).tolist(),
        "rms_residual_mm": rms,
        "residuals_mm": {lid: float(r) for lid, r in zip(ids, residuals, strict=True)},
    }
    atlas_path = out_dir / "landmarks.json"
    tmp = atlas_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(atlas_doc, indent=1), encoding="utf-8")
    tmp.replace(atlas_path)
    load_atlas(atlas_path)  # what was written must load
    return ImportResult(
        atlas_path,
        imported,
        fit,
        scale,
        rms,
        float(residuals.max()),
        {lid: float(r) for lid, r in zip(ids, residuals, strict=True)},
    )


def _safety(path: Path, where: str, raw: Any, base_record: dict[str, Any] | None) -> dict[str, Any]:
    """The danger zone of an imported danger structure: given in the mapping, else the
    base atlas's for the same id (its largest uncertainty, as one value)."""
    if raw is None and base_record is not None and "safety" in base_record:
        s = base_record["safety"]
        unc = max(s["uncertainty"]["reference_mm"])
        fitted = max(s["uncertainty"]["fitted_mm"])
        return {
            "uncertainty": {"at": [0.0, 1.0], "reference_mm": [unc, unc], "fitted_mm": [fitted, fitted]},
            "uncertainty_source": f"largest value of the bundled atlas's profile ({s['uncertainty_source']})",
            "caution_margin_mm": s["caution_margin_mm"],
            "caution_margin_source": s["caution_margin_source"],
        }
    if not isinstance(raw, dict):
        raise _fail(
            path,
            f"{where}.safety",
            raw,
            "a danger structure new to the atlas needs uncertainty_mm, caution_margin_mm and source",
        )
    unc, margin, source = raw.get("uncertainty_mm"), raw.get("caution_margin_mm"), raw.get("source")
    for name, value in (("uncertainty_mm", unc), ("caution_margin_mm", margin)):
        if not _finite(value) or value < 0:
            raise _fail(path, f"{where}.safety.{name}", value, "expected a number of mm, 0 or more")
    if not isinstance(source, str) or not source.strip():
        raise _fail(path, f"{where}.safety.source", source, "say where the values come from")
    return {
        "uncertainty": {"at": [0.0, 1.0], "reference_mm": [unc, unc], "fitted_mm": [unc, unc]},
        "uncertainty_source": source,
        "caution_margin_mm": margin,
        "caution_margin_source": source,
    }


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and bool(np.isfinite(value))


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _is_closed(mesh: SurfaceMesh) -> bool:
    """Every edge shared by exactly two triangles."""
    f = mesh.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


def _outward(mesh: SurfaceMesh) -> SurfaceMesh:
    """Faces turned outward (positive enclosed volume)."""
    if mesh.signed_volume_mm3() < 0:
        return SurfaceMesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return mesh
