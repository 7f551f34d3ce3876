"""thighmap's frame to the patient coordinate systems of medical software (LPS, RAS).

thighmap's frame (docs/reference.md, "Coordinate frame") has ``+x`` lateral for a right
thigh, ``+y`` posterior, ``+z`` proximal, in millimetres, with the origin at the midpoint
of the femoral epicondyles. A left thigh is stored mirrored in ``x``, so in both sides'
files ``+x`` points to the patient's right: the axes are (right, posterior, superior),
a left-handed frame. DICOM's LPS and NIfTI's (and 3D Slicer's internal) RAS are
right-handed:

    LPS = (-x,  y, z)      RAS = (x, -y, z)      for a right and a left thigh alike

Each is a mirror (determinant -1), so a surface converted to either must have its
triangles reversed to keep its normals pointing outward. The origin is not moved: it
stays the epicondyle midpoint of the exported thigh (a user registers the export to a
scan, e.g. with the landmarks file).
"""

from __future__ import annotations

import numpy as np

SPACES = ("LPS", "RAS")

# rows: the exported axes in terms of thighmap's (x, y, z)
_AXES: dict[str, np.ndarray] = {
    "LPS": np.diag([-1.0, 1.0, 1.0]),
    "RAS": np.diag([1.0, -1.0, 1.0]),
}


def check_space(space: str) -> str:
    if space not in _AXES:
        raise ValueError(f"unknown coordinate system {space!r}; expected one of {', '.join(SPACES)}")
    return space


def frame_to_space_matrix(space: str) -> np.ndarray:
    """The 4x4 matrix taking thighmap frame points (mm) to ``space`` (mm)."""
    m = np.eye(4)
    m[:3, :3] = _AXES[check_space(space)]
    return m


def to_space(points_mm: np.ndarray, space: str) -> np.ndarray:
    """Points (..., 3) in thighmap's frame to ``space``; vectors convert the same way."""
    return np.asarray(points_mm, float) @ _AXES[check_space(space)].T


def from_space(points_mm: np.ndarray, space: str) -> np.ndarray:
    """The inverse of :func:`to_space` (each conversion is its own inverse)."""
    return to_space(points_mm, space)


def flips_orientation(space: str) -> bool:
    """Whether converting to ``space`` mirrors (so triangles must be reversed)."""
    return bool(np.linalg.det(_AXES[check_space(space)]) < 0)
