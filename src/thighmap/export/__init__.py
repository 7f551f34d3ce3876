"""Export of the (fitted, sided) atlas and a checked plan for 3D Slicer and other medical software.

    result = export_folder("out/slicer", model, plan, space="LPS", spacing_mm=1.0)

writes, into a new folder (built beside it under a temporary name and renamed into
place, so a failed export leaves nothing behind):

- ``thighmap-export.json``: the index: space, side, patient fit, units, the frame's
  origin, and every structure's name, kind, role, file and label;
- ``surfaces/<structure>.vtp``: one closed surface per structure, in LPS or RAS, normals
  outward (frames.py, surfaces.py);
- ``labels.nii.gz`` and ``labels.ctbl``: the label volume (NIfTI, RAS) and its 3D Slicer
  colour table (labelmap.py);
- ``landmarks.mrk.json``, ``trigger-points.mrk.json``: point lists, and
  ``needles/<nn>-<id>.mrk.json``: one Line markup per needle with its check status
  (markups.py).

No Qt here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thighmap.export.frames import SPACES, check_space, frame_to_space_matrix, to_space

__all__ = ["INDEX_NAME", "SPACES", "ExportError", "ExportResult", "export_folder"]

INDEX_NAME = "thighmap-export.json"
FORMAT_NAME = "thighmap-export"
FORMAT_VERSION = 1
PARTIAL_SUFFIX = ".thighmap-partial"


class ExportError(ValueError):
    """The export cannot be made; the message names the file or option and the value."""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: list[str]  # relative to folder
    index: dict[str, Any]


def _file_name(text: str) -> str:
    """A portable file name part from an id (letters, digits, '.', '_', '-')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"
    return name[:80]


def _check_target(folder: Path, force: bool) -> None:
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise ExportError(f"--output: value {str(folder)!r}: exists and is not a folder")
        if any(folder.iterdir()):
            if not force:
                raise ExportError(
                    f"--output: value {str(folder)!r}: the folder is not empty "
                    "(use --force to replace an earlier export)"
                )
            if not (folder / INDEX_NAME).is_file():
                raise ExportError(
                    f"--output: value {str(folder)!r}: the folder is not empty and holds no earlier export "
                    f"({INDEX_NAME}); --force only replaces an export"
                )
    if not folder.parent.is_dir():
        raise ExportError(f"--output: value {str(folder)!r}: its parent folder does not exist")


def _move_into_place(built: Path, folder: Path) -> None:
    """Rename the finished folder onto ``folder`` (replacing an existing one)."""
    from thighmap.atomic import fsync_directory

    if not folder.exists():
        os.rename(built, folder)
    elif not any(folder.iterdir()):
        os.replace(built, folder)  # POSIX rename replaces an empty folder
    else:
        old = folder.with_name(f".{folder.name}.old{PARTIAL_SUFFIX}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(folder, old)
        try:
            os.rename(built, folder)
        except BaseException:
            os.rename(old, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_directory(folder.parent)


def export_folder(
    folder: str | os.PathLike[str],
    model: Any,
    plan: Any | None = None,
    *,
    plan_path: str | None = None,
    space: str = "LPS",
    spacing_mm: float | None = 1.0,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the export of ``model`` (a safety.engine.SafetyModel: its atlas, fitted or
    not, on its side) and of ``plan``'s checked needles into ``folder``.

    ``spacing_mm`` None: no label volume. Refuses a non-empty ``folder`` unless ``force``,
    and even then unless it holds an earlier export (so a mistyped path cannot wipe out
    a folder of other files).
    Raises ExportError for unusable options, OSError when writing fails; either way
    ``folder`` is as it was."""
    try:
        check_space(space)
    except ValueError as exc:
        raise ExportError(f"--space: value {space!r}: {exc}") from None
    folder = Path(os.path.abspath(folder))
    _check_target(folder, force)
    if spacing_mm is not None:
        from thighmap.export.labelmap import SPACING_RANGE_MM

        lo, hi = SPACING_RANGE_MM
        if not (lo <= spacing_mm <= hi):  # also false for NaN
            raise ExportError(f"--spacing: value {spacing_mm}: must be between {lo:g} and {hi:g} mm")
    build = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=PARTIAL_SUFFIX, dir=folder.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(build, 0o777 & ~umask)
        files, index = _write_export(build, model, plan, plan_path, space, spacing_mm, progress)
        _move_into_place(build, folder)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return ExportResult(folder, files, index)


def _rgb255(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return r, g, b


def _write_export(
    build: Path,
    model: Any,
    plan: Any | None,
    plan_path: str | None,
    space: str,
    spacing_mm: float | None,
    progress: Callable[[str], None] | None,
) -> tuple[list[str], dict[str, Any]]:
    from thighmap import NOT_A_MEDICAL_DEVICE, __version__
    from thighmap.anatomy.mirror import MirroredAtlas
    from thighmap.atomic import write_atomic
    from thighmap.export import labelmap, markups
    from thighmap.export.surfaces import write_vtp
    from thighmap.viz.scene import TRIGGER_POINT_COLOURS, structure_colour

    say = progress or (lambda _text: None)
    atlas = model.atlas
    side = model.side
    view = MirroredAtlas(atlas) if side == "left" else atlas
    files: list[str] = []

    def write_json(rel: str, doc: Any) -> None:
        write_atomic(build / rel, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        files.append(rel)

    # surfaces
    (build / "surfaces").mkdir()
    structures: list[dict[str, Any]] = []
    colours: dict[str, tuple[int, int, int]] = {}
    meshes = {}
    say(f"writing {len(atlas.structures)} surfaces in {space}")
    for sid, st in atlas.structures.items():
        mesh = view.mesh(sid)
        meshes[sid] = mesh
        rel = f"surfaces/{_file_name(sid)}.vtp"
        if rel in files:  # two ids that differ only in characters a file name cannot hold
            rel = f"surfaces/{_file_name(sid)}-{len(files) + 1}.vtp"
        write_vtp(mesh, build / rel, space, sid)
        files.append(rel)
        colours[sid] = _rgb255(structure_colour(st.kind, sid, st.role))
        structures.append(
            {
                "id": sid,
                "name": st.name,
                "kind": st.kind,
                "role": st.role,
                "file": rel,
                "colour_rgb": list(colours[sid]),
                "triangles": len(mesh.faces),
            }
        )

    # label volume
    volume_doc: dict[str, Any] | None = None
    if spacing_mm is not None:
        say(f"voxelising the surfaces at {spacing_mm:g} mm")
        vol = labelmap.voxelise(meshes, {sid: st.kind for sid, st in atlas.structures.items()}, spacing_mm)
        write_atomic(build / "labels.nii.gz", labelmap.nifti_bytes(vol))
        write_atomic(build / "labels.ctbl", labelmap.color_table_text(vol.label_of, colours))
        files += ["labels.nii.gz", "labels.ctbl"]
        for entry in structures:
            entry["label"] = vol.label_of[entry["id"]]
        volume_doc = {
            "file": "labels.nii.gz",
            "color_table": "labels.ctbl",
            "world": "RAS (NIfTI's world coordinates, whatever 'space' the other files use)",
            "spacing_mm": vol.spacing_mm,
            "shape": list(vol.labels.shape),
            "voxel_to_ras": [[round(float(v), 6) for v in row] for row in vol.affine],
            "labels": {"0": "background", **{str(v): sid for sid, v in vol.label_of.items()}},
            "precedence": labelmap.PRECEDENCE_TEXT,
        }

    # landmarks and trigger points
    landmark_points = [(lid, lm.source, lm.position_mm) for lid, lm in view.landmarks.items()]
    write_json(
        "landmarks.mrk.json",
        markups.document(
            [markups.point_list_markup("thighmap landmarks", landmark_points, space, (1.0, 1.0, 1.0))]
        ),
    )
    tp_points = [(tp_id, tp.name, tp.position_mm) for tp_id, tp in view.trigger_points.items()]
    tp_colour = _rgb255(next(iter(TRIGGER_POINT_COLOURS.values()), "#ff7f0e"))
    write_json(
        "trigger-points.mrk.json",
        markups.document(
            [
                markups.point_list_markup(
                    "thighmap trigger points", tp_points, space, tuple(c / 255 for c in tp_colour)
                )
            ]
        ),
    )

    # needles
    needles_doc: list[dict[str, Any]] = []
    plan_doc: dict[str, Any] | None = None
    patient_doc: dict[str, Any] | None = None
    if plan is not None:
        from thighmap.planning import plan_to_document

        say("checking the plan")
        report = model.check_plan(plan, plan_path=plan_path)
        patient_doc = plan_to_document(plan).get("patient")
        plan_doc = {"file": plan_path, "title": plan.title, "status": report.status}
        if report.needles:
            (build / "needles").mkdir()
        width = max(2, len(str(len(report.needles))))
        for i, nr in enumerate(report.needles):
            rel = f"needles/{i + 1:0{width}d}-{_file_name(nr.id)}.mrk.json"
            write_json(rel, markups.document([markups.needle_markup(nr, space, model.names)]))
            nd = nr.nearest_danger
            needles_doc.append(
                {
                    "id": nr.id,
                    "file": rel,
                    "status": nr.status,
                    "entry_mm": [round(float(v), 4) for v in to_space(nr.entry_mm, space)],
                    "tip_mm": [round(float(v), 4) for v in to_space(nr.tip_mm, space)],
                    "nearest_danger": None
                    if nd is None
                    else {"structure": nd.structure, "clearance_mm": round(float(nd.clearance_mm), 3)},
                    "nearest_caution": markups.nearest_json(getattr(nr, "nearest_caution", None)),
                    "max_safe_depth_mm": round(float(nr.max_safe_depth_mm), 3),
                }
            )

    index = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": f"thighmap {__version__}",
        "notice": NOT_A_MEDICAL_DEVICE,
        "space": space,
        "units": "mm",
        "side": side,
        "frame": {
            "origin": "the midpoint of the medial and lateral femoral epicondyles of this thigh; not moved "
            "(register the export to a scan, e.g. with landmarks.mrk.json)",
            "thighmap_frame": "+x toward the patient's right (lateral for a right thigh, medial for a left "
            "one), +y posterior, +z proximal",
            "thighmap_to_space": frame_to_space_matrix(space).tolist(),
        },
        "patient": patient_doc,
        "fitted": bool(getattr(atlas, "fitted", False)),
        "plan": plan_doc,
        "structures": structures,
        "label_volume": volume_doc,
        "landmarks": {"file": "landmarks.mrk.json", "ids": list(view.landmarks)},
        "trigger_points": {"file": "trigger-points.mrk.json", "ids": list(view.trigger_points)},
        "needles": needles_doc,
    }
    write_json(INDEX_NAME, index)
    return files, index
