"""The atlas as a label volume: surfaces voxelised on a grid, written as NIfTI-1.

Each structure gets a label value (1, 2, ... in atlas order; 0 is background). A voxel
takes the label of the structure whose closed surface contains its centre (ray parity,
thighmap.anatomy.voxels); where structures overlap, the higher rank wins:

    nerves, arteries, veins  >  bone  >  muscles, tendons  >  fascia  >  fat  >  skin

(within one rank, the later structure in the atlas). Nerves and vessels come first
because a label volume is mostly used to see what a needle would reach.

The grid's axes run along R, A, S (NIfTI's world is RAS, whatever space the surfaces
are exported in), its spacing is the same on all three, and one grid point lies on the
frame's origin (the epicondyle midpoint). The file is NIfTI-1 (.nii.gz), written by
VTK's vtkNIFTIImageWriter: sform and qform both hold the same voxel-to-RAS affine (code 1,
scanner-based anatomical coordinates), units mm, intent "label" (1002; the codes are those
of nifti1.h, NIfTI Data Format Working Group).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.anatomy.voxels import inside_grid

# Which structure a voxel belongs to where surfaces overlap: higher wins.
KIND_RANK: dict[str, int] = {
    "nerve": 5,
    "artery": 5,
    "vein": 5,
    "bone": 4,
    "muscle": 3,
    "tendon": 3,
    "fascia": 2,
    "fat": 1,
    "skin": 0,
}
PRECEDENCE_TEXT = (
    "where structures overlap, a voxel takes the label of the higher rank: nerves, arteries and veins > "
    "bone > muscles and tendons > fascia > fat > skin (within one rank, the later structure in the atlas)"
)
SPACING_RANGE_MM = (0.5, 10.0)
_MAX_POINTS_PER_CALL = 4_000_000  # grid points classified per inside_grid call (memory bound)

NIFTI_INTENT_LABEL = 1002
NIFTI_XFORM_SCANNER_ANAT = 1
NIFTI_UNITS_MM = 2


@dataclass(frozen=True)
class LabelVolume:
    """labels[i, j, k] at RAS point ``affine @ (i, j, k, 1)``; ``names[label]`` its structure."""

    labels: np.ndarray  # (ni, nj, nk) uint8 or uint16
    affine: np.ndarray  # 4x4, voxel index -> RAS mm
    spacing_mm: float
    label_of: dict[str, int]

    def ras_to_index(self, ras_mm: np.ndarray) -> np.ndarray:
        ijk = (np.asarray(ras_mm, float) - self.affine[:3, 3]) / self.spacing_mm
        return np.rint(ijk).astype(int)


def structure_labels(structure_ids: list[str]) -> dict[str, int]:
    """Label value of each structure: its position in the atlas, from 1."""
    return {sid: i + 1 for i, sid in enumerate(structure_ids)}


def voxelise(
    meshes: Mapping[str, SurfaceMesh],
    kinds: Mapping[str, str],
    spacing_mm: float,
    progress: Callable[[str], None] | None = None,
) -> LabelVolume:
    """Label volume of closed surfaces given in thighmap's frame (see the module notes)."""
    lo_s, hi_s = SPACING_RANGE_MM
    if not (math.isfinite(spacing_mm) and lo_s <= spacing_mm <= hi_s):
        raise ValueError(f"spacing {spacing_mm} mm: must be between {lo_s:g} and {hi_s:g} mm")
    ids = list(meshes)
    label_of = structure_labels(ids)
    s = float(spacing_mm)
    # RAS bounds of everything: R = x, A = -y, S = z
    ras_of = {sid: meshes[sid].vertices * np.array([1.0, -1.0, 1.0]) for sid in ids}
    lo = np.min([v.min(axis=0) for v in ras_of.values()], axis=0)
    hi = np.max([v.max(axis=0) for v in ras_of.values()], axis=0)
    first = np.floor(lo / s) * s - s  # a grid point on the origin; one voxel of margin
    shape = (np.rint((np.ceil(hi / s) * s + s - first) / s).astype(int) + 1).tolist()
    axes = [first[d] + s * np.arange(shape[d]) for d in range(3)]
    dtype = np.uint8 if len(ids) < 256 else np.uint16
    labels = np.zeros(shape, dtype=dtype)
    order = sorted(range(len(ids)), key=lambda i: (KIND_RANK.get(kinds[ids[i]], 3), i))
    for i in order:
        sid = ids[i]
        if progress is not None:
            progress(sid)
        v = ras_of[sid]
        a = np.maximum(np.floor((v.min(axis=0) - first) / s).astype(int), 0)
        b = np.minimum(np.ceil((v.max(axis=0) - first) / s).astype(int), np.array(shape) - 1)
        if np.any(b < a):
            continue
        rs, as_, ss = (axes[d][a[d] : b[d] + 1] for d in range(3))
        ys = -as_[::-1]  # thighmap y, ascending as inside_grid needs
        step = max(1, _MAX_POINTS_PER_CALL // max(1, len(rs) * len(ys)))
        label = label_of[sid]
        for k0 in range(0, len(ss), step):
            zs = ss[k0 : k0 + step]
            inside = inside_grid(meshes[sid], rs, ys, zs)[:, ::-1, :]  # back to ascending A
            block = labels[a[0] : b[0] + 1, a[1] : b[1] + 1, a[2] + k0 : a[2] + k0 + len(zs)]
            block[inside] = label
    affine = np.eye(4)
    affine[:3, :3] *= s
    affine[:3, 3] = first
    return LabelVolume(labels, affine, s, label_of)


def nifti_bytes(volume: LabelVolume, description: str = "thighmap atlas labels") -> bytes:
    """The volume as a gzip-compressed single-file NIfTI-1 (.nii.gz), written by VTK.

    The image goes to VTK with its origin at 0 and the grid spacing; the qform matrix (VTK's
    data coordinates to RAS) carries the grid's first point, so that voxel (i, j, k) lies
    at RAS ``volume.affine @ (i, j, k, 1)``. The sform rows are that affine, given in the
    header: with an sform matrix of its own, VTK would mark the sform "aligned" (code 2),
    where this file's world is the scanner-style RAS frame (code 1) like its qform."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkCommonMath import vtkMatrix4x4
    from vtkmodules.vtkIOImage import vtkNIFTIImageHeader, vtkNIFTIImageWriter

    data = np.asarray(volume.labels)
    if data.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"label volume of type {data.dtype}: must be uint8 or uint16")
    s = volume.spacing_mm
    aff = np.asarray(volume.affine, float)
    if not np.allclose(aff[:3, :3], np.eye(3) * s):
        raise ValueError("the label volume's grid axes must run along R, A, S")
    image = vtkImageData()
    image.SetDimensions(*data.shape)
    image.SetSpacing(s, s, s)
    image.SetOrigin(0.0, 0.0, 0.0)
    # VTK's x index runs fastest: the array in Fortran order, i first
    scalars = numpy_to_vtk(np.ascontiguousarray(data.ravel(order="F")), deep=True)
    scalars.SetName("labels")
    image.GetPointData().SetScalars(scalars)
    to_ras = vtkMatrix4x4()  # VTK data coordinates (mm from the first voxel) -> RAS
    for d in range(3):
        to_ras.SetElement(d, 3, float(aff[d, 3]))
    header = vtkNIFTIImageHeader()
    header.SetIntentCode(NIFTI_INTENT_LABEL)
    header.SetIntentName("labels")
    header.SetDescrip(description.encode("ascii", "replace").decode("ascii")[:79])
    header.SetXYZTUnits(NIFTI_UNITS_MM)
    header.SetQFormCode(NIFTI_XFORM_SCANNER_ANAT)
    header.SetSFormCode(NIFTI_XFORM_SCANNER_ANAT)
    header.SetSRowX(*(float(v) for v in aff[0]))
    header.SetSRowY(*(float(v) for v in aff[1]))
    header.SetSRowZ(*(float(v) for v in aff[2]))
    header.SetCalMin(0.0)
    header.SetCalMax(float(data.max(initial=0)))
    with tempfile.TemporaryDirectory(prefix="thighmap-nifti-") as folder:
        path = Path(folder) / "labels.nii.gz"  # the name tells VTK: one file, compressed
        writer = vtkNIFTIImageWriter()
        writer.SetInputData(image)
        writer.SetNIFTIHeader(header)
        writer.SetNIFTIVersion(1)
        writer.SetDescription(header.GetDescrip())
        writer.SetQFac(1.0)
        writer.SetQFormMatrix(to_ras)
        writer.SetFileName(str(path))
        writer.Write()
        if writer.GetErrorCode() != 0 or not path.is_file():
            raise OSError(f"VTK could not write the label volume (error {writer.GetErrorCode()})")
        return path.read_bytes()


def color_table_text(label_of: Mapping[str, int], colours: Mapping[str, tuple[int, int, int]]) -> str:
    """A 3D Slicer colour table (.ctbl): ``label name R G B A`` per line, 0-255, ``#``
    comments (3D Slicer, Libs/MRML/Core/vtkMRMLColorTableStorageNode.cxx, which reads a
    name as one word and shows its underscores as spaces). The names are structure ids;
    the index file gives the full names."""
    lines = [
        "# thighmap atlas labels (3D Slicer colour table: label name R G B A)",
        f"# {len(label_of) + 1} values",
        "0 background 0 0 0 0",
    ]
    for sid, label in label_of.items():
        r, g, b = colours[sid]
        lines.append(f"{label} {sid} {r} {g} {b} 255")
    return "\n".join(lines) + "\n"
