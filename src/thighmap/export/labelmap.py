"""The atlas as a label volume: surfaces voxelised on a grid, written as NIfTI-1.

Each structure gets a label value (1, 2, ... in atlas order; 0 is background). A voxel
takes the label of the structure whose closed surface contains its centre (ray parity,
thighmap.anatomy.voxels); where structures overlap, the higher rank wins:

    nerves, arteries, veins  >  bone  >  muscles, tendons  >  fascia  >  fat  >  skin

(within one rank, the later structure in the atlas). Nerves and vessels come first
because a label volume is mostly used to see what a needle would reach.

The grid's axes run along R, A, S (NIfTI's world is RAS, whatever space the surfaces
are exported in), its spacing is the same on all three, and one grid point lies on the
frame's origin (the epicondyle midpoint). The file is NIfTI-1 (.nii.gz), written here
from the header layout of nifti1.h (NIfTI Data Format Working Group,
nifti.nimh.nih.gov/pub/dist/src/niftilib/nifti1.h): sform and qform both hold the same
voxel-to-RAS affine (code 1, scanner-based anatomical coordinates), units mm, intent
"label" (1002).
"""

from __future__ import annotations

import gzip
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
    """The volume as a gzip-compressed single-file NIfTI-1 (.nii.gz)."""
    data = volume.labels
    datatype, bitpix = (2, 8) if data.dtype == np.uint8 else (512, 16)  # DT_UINT8, DT_UINT16
    s = volume.spacing_mm
    aff = volume.affine
    dim = [3, *data.shape, 1, 1, 1, 1]
    pixdim = [1.0, s, s, s, 0.0, 0.0, 0.0, 0.0]  # pixdim[0] = qfac = 1 (proper rotation)
    header = struct.pack(
        "<i10s18sihcc8h3f4h8ffffhcc4f2i80s24s2h6f4f4f4f16s4s",
        348,  # sizeof_hdr
        b"",  # data_type (unused)
        b"",  # db_name (unused)
        0,  # extents
        0,  # session_error
        b"r",  # regular
        b"\0",  # dim_info
        *dim,
        0.0,
        0.0,
        0.0,  # intent_p1..3
        NIFTI_INTENT_LABEL,
        datatype,
        bitpix,
        0,  # slice_start
        *pixdim,
        352.0,  # vox_offset: header + 4-byte extension flag
        1.0,  # scl_slope
        0.0,  # scl_inter
        0,  # slice_end
        b"\0",  # slice_code
        bytes([NIFTI_UNITS_MM]),  # xyzt_units
        float(data.max(initial=0)),  # cal_max
        0.0,  # cal_min
        0.0,  # slice_duration
        0.0,  # toffset
        0,
        0,  # glmax, glmin (unused)
        description.encode("ascii", "replace")[:79],
        b"",  # aux_file
        NIFTI_XFORM_SCANNER_ANAT,  # qform_code
        NIFTI_XFORM_SCANNER_ANAT,  # sform_code
        0.0,
        0.0,
        0.0,  # quatern_b, c, d: no rotation (axes along R, A, S)
        *aff[:3, 3],  # qoffset_x, y, z
        *aff[0],
        *aff[1],
        *aff[2],  # srow_x, srow_y, srow_z
        b"labels",  # intent_name
        b"n+1\0",  # magic: single file
    )
    if len(header) != 348:
        raise AssertionError(f"NIfTI-1 header is {len(header)} bytes, not 348")
    if not np.allclose(aff[:3, :3], np.eye(3) * s):
        raise ValueError("the qform written here needs grid axes along R, A, S")
    body = header + b"\0\0\0\0" + np.asarray(data, dtype=data.dtype.newbyteorder("<")).tobytes(order="F")
    return gzip.compress(body, compresslevel=6, mtime=0)


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
