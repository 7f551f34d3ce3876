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
added or replaced (recipe type "mesh"), and its meshes beside it. Danger and caution
structures are then checked exactly against their triangles.

Refused, with the file and the reason: a file that cannot be read, non-finite vertices,
an open surface for a danger or caution structure, units off by orders of magnitude (the landmark
distances disagree with the atlas's by more than a factor of two), fewer than three
landmarks or landmarks on a line, an unknown landmark id, kind or role.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thighmap.anatomy.atlas import GUARDED_ROLES, KINDS, ROLES, Atlas, AtlasError, load_atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.anatomy.meshio import write_mesh
from thighmap.atomic import fsync_directory, write_atomic
from thighmap.reading import FileRefused, read_regular_file

UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
SURFACE_SUFFIXES = (".stl", ".obj", ".ply", ".vtp", ".gltf", ".glb")
# A structure id names its mesh file: plain identifiers only (no '/', '..', spaces).
STRUCTURE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_MAPPING_BYTES = 1024 * 1024  # a mapping lists files and landmarks: 1 MiB is plenty
MAX_SURFACE_BYTES = 1024 * 1024 * 1024  # one surface file: 1 GiB
MAX_TEXT_CHARS = 10_000  # names and sources
NUMBER_LIMIT = 1e15  # landmark coordinates and safety values


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


def _shown(value: Any) -> str:
    from thighmap.planning.planfile import printable

    try:
        text = repr(value[:400] if isinstance(value, str) else value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return printable(text, 80)


def _name(path: Any) -> str:
    """A file name or message fit to show: escaped, at most 320 characters."""
    from thighmap.planning.planfile import printable

    return printable(str(path), 320)


def _fail(path: Path, where: str, value: Any, message: str) -> ImportError_:
    return ImportError_(f"{_name(path)}: field '{where}': value {_shown(value)}: {message}")


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


def _read_mapping(mapping_path: Path) -> Any:
    try:
        data = read_regular_file(mapping_path, MAX_MAPPING_BYTES, "mapping file")
        doc = json.loads(
            data.decode("utf-8-sig"),
            parse_int=lambda s: int(s) if len(s) <= 30 else math.inf,  # 10**400: not finite
        )
    except FileRefused as exc:
        raise ImportError_(f"{_name(mapping_path)}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{_name(mapping_path)}: not UTF-8 text (at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{_name(mapping_path)}: not a JSON mapping file: {exc}") from None
    except (RecursionError, ValueError) as exc:
        raise ImportError_(f"{_name(mapping_path)}: not a usable JSON mapping file: {exc}") from None
    return doc


def _text_ok(value: Any, limit: int = MAX_TEXT_CHARS) -> bool:
    """Text that can be stored and shown: a string within ``limit``, valid Unicode."""
    if not isinstance(value, str) or len(value) > limit:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surface_path(mapping_path: Path, where: str, name: Any) -> Path:
    """The surface file ``name`` names, which must lie inside the mapping's folder."""
    if not _text_ok(name, 4096) or not name.strip():
        raise _fail(mapping_path, f"{where}.file", name, "expected a file name (relative to the mapping)")
    try:
        folder = mapping_path.parent.resolve()
        file = (folder / name).resolve()
        inside = folder in file.parents
        is_file = inside and file.is_file()
    except (OSError, ValueError):
        raise _fail(mapping_path, f"{where}.file", name, "not a usable file name") from None
    if not inside:
        raise _fail(
            mapping_path,
            f"{where}.file",
            name,
            f"the surface must be inside the mapping's folder ({folder}); it resolves to {file}",
        )
    if file.suffix.lower() not in SURFACE_SUFFIXES or not is_file:
        raise _fail(
            mapping_path, f"{where}.file", name, f"expected an existing {'/'.join(SURFACE_SUFFIXES)} file"
        )
    if file.stat().st_size > MAX_SURFACE_BYTES:
        raise _fail(mapping_path, f"{where}.file", name, "the file is larger than 1 GiB")
    return file


def _check_output(out_dir: Path, mapping_path: Path, base: Atlas, force: bool) -> None:
    """Refuse an output folder that exists (unless ``force``) or that holds the
    mapping's files or the base atlas (replacing it would delete them)."""
    try:
        target = out_dir.resolve()
        protected = [mapping_path.parent.resolve()]
        if base.path is not None:
            protected.append(Path(base.path).parent.resolve())
    except (OSError, ValueError) as exc:
        raise ImportError_(f"{_name(out_dir)}: not a usable output folder: {exc}") from None
    for folder in protected:
        if target == folder or target in folder.parents:
            raise ImportError_(
                f"{_name(out_dir)}: the output folder holds {folder} (the mapping's "
                "surfaces or the base atlas); choose a new folder"
            )
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise ImportError_(f"{_name(out_dir)}: exists and is not a folder")
        if any(out_dir.iterdir()) and not force:
            raise ImportError_(
                f"{_name(out_dir)}: the folder exists and is not empty; "
                "give --force to replace the atlas in it"
            )


def import_atlas(
    mapping_path: str | Path, out_dir: str | Path, base: Atlas | None = None, force: bool = False
) -> ImportResult:
    """Import the surfaces a mapping file lists into a new atlas folder ``out_dir``.

    Everything is checked before anything is written; the atlas is then built in a
    hidden sibling folder and renamed into place at the end, so a refusal or a failure
    leaves nothing behind. An existing non-empty ``out_dir`` is replaced only with
    ``force``. Surface files must lie inside the mapping's folder; structure ids must be
    plain identifiers (they name the mesh files). Raises :class:`ImportError_`."""
    mapping_path = Path(mapping_path)
    out_dir = Path(out_dir)
    doc = _read_mapping(mapping_path)
    if not isinstance(doc, dict) or doc.get("format") != "thighmap-import":
        raise _fail(
            mapping_path,
            "format",
            doc.get("format") if isinstance(doc, dict) else doc,
            "expected 'thighmap-import'",
        )
    version = doc.get("version")
    if isinstance(version, bool) or version != 1:
        raise _fail(mapping_path, "version", version, "this thighmap reads import mappings of version 1")
    units = doc.get("units")
    if not isinstance(units, str) or units not in UNITS_MM:
        raise _fail(mapping_path, "units", units, f"expected one of {', '.join(UNITS_MM)}")
    fit = doc.get("fit", "rigid")
    if not isinstance(fit, str) or fit not in ("rigid", "similarity"):
        raise _fail(mapping_path, "fit", fit, "expected rigid or similarity")
    base = base or load_atlas()
    _check_output(out_dir, mapping_path, base, force)

    # ---- alignment from the landmark pairs
    pairs = doc.get("landmarks")
    if not isinstance(pairs, list) or len(pairs) < 3:
        raise _fail(mapping_path, "landmarks", pairs, "give at least three landmark pairs")
    if len(pairs) > 1000:
        raise _fail(mapping_path, "landmarks", len(pairs), "at most 1000 landmark pairs")
    ids, src = [], []
    for i, pair in enumerate(pairs):
        lid = pair.get("id") if isinstance(pair, dict) else None
        if not isinstance(lid, str) or lid not in base.landmarks:
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
    spread = _spread(source)
    ratio = spread / _spread(target)
    if not (math.isfinite(ratio) and 0.5 <= ratio <= 2.0):
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
    if not (math.isfinite(rms) and math.isfinite(scale) and scale > 0):
        raise _fail(mapping_path, "landmarks", ids, "no transform fits these landmark points")

    # ---- the surfaces (all read and checked before anything is written)
    entries = doc.get("structures")
    if not isinstance(entries, list) or not entries:
        raise _fail(mapping_path, "structures", entries, "list at least one surface to import")
    atlas_doc = copy.deepcopy(base.document)
    by_id = {s["id"]: s for s in atlas_doc["structures"]}
    imported: list[str] = []
    new_meshes: dict[str, SurfaceMesh] = {}
    for i, entry in enumerate(entries):
        where = f"structures[{i}]"
        if not isinstance(entry, dict):
            raise _fail(mapping_path, where, entry, "expected an object")
        sid, kind, role = entry.get("id"), entry.get("kind"), entry.get("role")
        if not isinstance(sid, str) or not STRUCTURE_ID.fullmatch(sid):
            raise _fail(
                mapping_path,
                f"{where}.id",
                sid,
                "expected a structure id: a letter, then letters, digits, '_' or '-' (at most 64)",
            )
        if sid in new_meshes:
            raise _fail(mapping_path, f"{where}.id", sid, "this structure is listed twice")
        if not isinstance(kind, str) or kind not in KINDS:
            raise _fail(mapping_path, f"{where}.kind", kind, f"expected one of {', '.join(KINDS)}")
        if not isinstance(role, str) or role not in ROLES:
            raise _fail(mapping_path, f"{where}.role", role, f"expected one of {', '.join(ROLES)}")
        name = entry.get("name")
        if name is not None and (not _text_ok(name, 200) or not name.isprintable()):
            raise _fail(mapping_path, f"{where}.name", name, "expected plain text of at most 200 characters")
        file = _surface_path(mapping_path, where, entry.get("file"))
        shown_file = _name(file)
        try:
            mesh = read_surface(file)
        except Exception as exc:  # any reader failure is the file's problem
            raise ImportError_(f"{shown_file}: cannot read the surface: {_name(exc)}") from None
        if len(mesh.faces) == 0:
            raise ImportError_(f"{shown_file}: no triangles")
        if not np.all(np.isfinite(mesh.vertices)):
            bad = int((~np.isfinite(mesh.vertices)).any(axis=1).sum())
            raise ImportError_(f"{shown_file}: {bad} vertices are not finite")
        verts = (scale * (rot @ (mesh.vertices * UNITS_MM[units]).T)).T + shift
        mesh = _outward(SurfaceMesh(verts, mesh.faces))
        closed = _is_closed(mesh)
        if role in GUARDED_ROLES and not closed:
            raise ImportError_(
                f"{shown_file}: the surface of {role} structure {sid!r} is open; "
                "it must be closed to tell inside from outside"
            )
        extent = float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)))
        if not 1.0 <= extent <= 2000.0:
            raise ImportError_(
                f"{shown_file}: after alignment the surface spans {extent:.3g} mm: wrong units?"
            )
        record: dict[str, Any] = {
            "id": sid,
            "name": name or by_id.get(sid, {}).get("name") or sid.replace("_", " "),
            "kind": kind,
            "role": role,
            "description": f"imported from {file.name}",
            "recipe": {"type": "mesh", "file": f"{sid}.ply", "imported_from": file.name},
            "source": f"imported with {mapping_path.name} ({fit} fit, RMS residual {rms:.2f} mm)",
        }
        if role in GUARDED_ROLES:
            record["safety"] = _safety(mapping_path, where, entry.get("safety"), by_id.get(sid), role)
        if sid in by_id:
            by_id[sid].clear()
            by_id[sid].update(record)
        else:
            atlas_doc["structures"].append(record)
            by_id[sid] = record
        new_meshes[sid] = mesh
        imported.append(sid)

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
    try:
        text = json.dumps(atlas_doc, indent=1, allow_nan=False)
    except ValueError as exc:
        raise ImportError_(f"{_name(mapping_path)}: the new atlas cannot be written: {exc}") from None
    _write_atlas_folder(out_dir, base, new_meshes, text)
    return ImportResult(
        out_dir / "landmarks.json",
        imported,
        fit,
        scale,
        rms,
        float(residuals.max()),
        {lid: float(r) for lid, r in zip(ids, residuals, strict=True)},
    )


def _write_atlas_folder(out_dir: Path, base: Atlas, new_meshes: dict[str, SurfaceMesh], text: str) -> None:
    """Build the atlas in a hidden sibling folder, check that it loads, then rename it to
    ``out_dir`` (replacing what was there). On any failure nothing is left behind."""
    staging = out_dir.with_name(f".{out_dir.name}.thighmap-import-partial")
    previous = out_dir.with_name(f".{out_dir.name}.thighmap-import-previous")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (staging, previous):  # from a killed import
            shutil.rmtree(leftover, ignore_errors=True)
        meshes_out = staging / "meshes"
        meshes_out.mkdir(parents=True)
        for sid in base.structures:
            if sid not in new_meshes:
                src = (base.meshes_dir or Path()) / f"{sid}.ply"
                if src.is_file():
                    write_atomic(meshes_out / f"{sid}.ply", src.read_bytes())
                else:
                    write_mesh(base.mesh(sid), meshes_out / f"{sid}.ply")
        for sid, mesh in new_meshes.items():
            write_mesh(mesh, meshes_out / f"{sid}.ply")
        if base.skeleton_dir.is_dir():  # skeleton recipes read it; its NOTICE travels with it
            (staging / "skeleton").mkdir()
            for item in sorted(base.skeleton_dir.iterdir()):
                if item.is_file() and not item.name.startswith("."):
                    write_atomic(staging / "skeleton" / item.name, item.read_bytes())
        write_atomic(staging / "landmarks.json", text)
        load_atlas(staging / "landmarks.json")  # what was written must load
        if out_dir.exists():
            os.replace(out_dir, previous)
        os.replace(staging, out_dir)
        fsync_directory(out_dir.parent)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if previous.exists() and not out_dir.exists():
            with contextlib.suppress(OSError):
                os.replace(previous, out_dir)  # put the old atlas back
        if isinstance(exc, AtlasError):
            raise
        if isinstance(exc, OSError):
            raise ImportError_(f"{_name(out_dir)}: cannot write the atlas: {exc.strerror or exc}") from None
        raise


def _safety(
    path: Path, where: str, raw: Any, base_record: dict[str, Any] | None, role: str = "danger"
) -> dict[str, Any]:
    """The zone of an imported danger or caution structure: given in the mapping, else the
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
            f"a {role} structure new to the atlas needs uncertainty_mm, caution_margin_mm and source",
        )
    unc, margin, source = raw.get("uncertainty_mm"), raw.get("caution_margin_mm"), raw.get("source")
    for name, value in (("uncertainty_mm", unc), ("caution_margin_mm", margin)):
        if not _finite(value) or not 0 <= value <= 1000:
            raise _fail(path, f"{where}.safety.{name}", value, "expected a number of mm, from 0 to 1000")
    if not _text_ok(source) or not source.strip():
        raise _fail(path, f"{where}.safety.source", source, "say where the values come from")
    return {
        "uncertainty": {"at": [0.0, 1.0], "reference_mm": [unc, unc], "fitted_mm": [unc, unc]},
        "uncertainty_source": source,
        "caution_margin_mm": margin,
        "caution_margin_source": source,
    }


def _finite(value: Any) -> bool:
    """A number, not NaN or infinite, within :data:`NUMBER_LIMIT` (an int of any size is
    compared without converting it, which would overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and abs(value) <= NUMBER_LIMIT


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
