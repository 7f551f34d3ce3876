"""Data model of a needling plan: patient profile, needles, plan.

Everything is in millimetres, in the frame of ``design.md`` ("Coordinate frame"):
right thigh, patient prone, ``+x`` lateral, ``+y`` posterior, ``+z`` proximal, origin
at the midpoint of the femoral epicondyles. A plan for the left thigh stores its
coordinates mirrored in ``x`` (see :func:`thighmap.planning.resolve.mirror_x`); the
model itself only records the side.

The dataclasses are frozen ("frozen-ish": the arrays are made read-only, but the
``needles`` list and the ``extra``/``source`` dicts are ordinary containers). Use
:meth:`Needle.with_changes` / :func:`dataclasses.replace` to derive modified copies.

Range checks live here as ``problems()`` methods that return
``(field, value, message)`` triples, so that the file loader can report every problem
at once and the GUI can validate a form without raising.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Common dry-needling needles (filiform, solid). The seed articles describe
# 0.25 mm x 40-50 mm needles for the hamstrings; the other sizes are the usual range
# offered by manufacturers and are here so the GUI can offer them as presets.
GAUGE_PRESETS_MM: tuple[float, ...] = (0.16, 0.20, 0.25, 0.30)
NEEDLE_LENGTH_PRESETS_MM: tuple[float, ...] = (25.0, 30.0, 40.0, 50.0, 60.0, 75.0)

# Accepted ranges (inclusive). Wider than the presets: 0.12 mm and 0.35-0.40 mm needles
# and 13-15 mm or 100-125 mm lengths exist. The bounds mostly catch unit mistakes
# (a gauge number such as 30 instead of 0.30 mm, centimetres instead of millimetres).
GAUGE_RANGE_MM: tuple[float, float] = (0.10, 0.50)
NEEDLE_LENGTH_RANGE_MM: tuple[float, float] = (5.0, 150.0)
# No point of a thigh model is a metre away from the knee: anything beyond this is a
# unit error (or a plan meant for another frame).
COORDINATE_LIMIT_MM: float = 1000.0

SIDES: tuple[str, ...] = ("right", "left")
SEXES: tuple[str, ...] = ("male", "female", "unspecified")

# Physiological bounds for the patient profile (inclusive), adults.
# thigh length: gluteal fold/greater trochanter to the knee, ~300-500 mm in adults;
# mid-thigh circumference: ~350-800 mm from very lean to obese adults;
# posterior subcutaneous fat at mid-thigh: a few mm (lean athletes) to several cm.
PATIENT_BOUNDS: dict[str, tuple[float, float]] = {
    "thigh_length_mm": (250.0, 600.0),
    "mid_thigh_circumference_mm": (300.0, 1000.0),
    "subcutaneous_fat_mm": (1.0, 80.0),
}

CONTRAINDICATION_KEYS: tuple[str, ...] = (
    "acute_tear_under_72h",
    "bleeding_disorder_or_anticoagulation",
    "needle_phobia",
    "infection_at_site",
    "pregnancy",
)
CONTRAINDICATION_LABELS: dict[str, str] = {
    "acute_tear_under_72h": "Acute hamstring tear in the last 72 hours",
    "bleeding_disorder_or_anticoagulation": "Bleeding disorder or anticoagulant medication",
    "needle_phobia": "Needle phobia",
    "infection_at_site": "Infection or broken skin at the site",
    "pregnancy": "Pregnancy",
}

Problem = tuple[str, Any, str]
"""``(field, value, message)`` as returned by the ``problems()`` methods."""


def _fmt(x: float) -> str:
    return f"{x:g}"


def _finite_number(value: Any) -> bool:
    """A real number that is not NaN or infinite (bool is not a number). Integers of any
    size count without conversion: ``float(10**400)`` would raise ``OverflowError``; the
    range checks compare them exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


@dataclass(frozen=True)
class PatientProfile:
    """Measurements the atlas is fitted to before a plan is checked.

    Every field is optional (``None``: use the atlas's reference adult for that
    measurement); ``sex`` defaults to ``"unspecified"``. In the file the whole
    ``patient`` object is optional too, and unknown keys in it are kept in ``extra``.
    """

    thigh_length_mm: float | None = None
    mid_thigh_circumference_mm: float | None = None
    subcutaneous_fat_mm: float | None = None
    sex: str = "unspecified"
    extra: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[Problem]:
        """Out-of-range or inconsistent values, as ``(field, value, message)``."""
        out: list[Problem] = []
        for name, (lo, hi) in PATIENT_BOUNDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not _finite_number(value):
                out.append((name, value, "must be a finite number"))
            elif not lo <= value <= hi:
                out.append(
                    (
                        name,
                        value,
                        f"must be between {_fmt(lo)} and {_fmt(hi)} mm (adult range; is it in millimetres?)",
                    )
                )
        if self.sex not in SEXES:
            out.append(("sex", self.sex, "must be one of " + ", ".join(map(repr, SEXES))))
        fat, circ = self.subcutaneous_fat_mm, self.mid_thigh_circumference_mm
        if not out and fat is not None and circ is not None:
            radius = circ / (2.0 * math.pi)
            if fat > 0.5 * radius:
                out.append(
                    (
                        "subcutaneous_fat_mm",
                        fat,
                        f"is more than half the radius ({radius:.0f} mm) of a thigh of "
                        f"circumference {_fmt(circ)} mm, leaving no room for muscle and bone",
                    )
                )
        return out


def _as_vec3(value: Iterable[float] | np.ndarray, name: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float).reshape(-1)
    except OverflowError:  # an integer beyond float range, e.g. 10**400
        raise ValueError(f"{name} has a component too large for a number of millimetres") from None
    if arr.shape != (3,):
        raise ValueError(f"{name} must have 3 components, got {arr.shape[0]}")
    return arr


@dataclass(frozen=True, eq=False)
class Needle:
    """One planned insertion, resolved to entry point, unit direction and depth.

    ``entry_mm`` is the skin entry point and ``direction`` the unit vector along which
    the needle advances (given directions are normalised; a zero or non-finite
    direction raises ``ValueError``). ``depth_mm`` is the inserted length, measured
    along the needle from the entry point.

    ``source`` records how the needle was stated in the file so that saving writes the
    same statement back: ``{"kind": "explicit" | "trigger_point" | "angles", ...}``;
    needles loaded from a file also carry ``"stated"`` (the original keys, verbatim)
    and ``"resolved"`` (the values those keys resolved to). ``extra`` holds unknown
    keys of the needle object verbatim.
    """

    id: str
    entry_mm: np.ndarray
    direction: np.ndarray
    depth_mm: float
    needle_length_mm: float
    gauge_mm: float
    target: str | None = None
    note: str | None = None
    source: dict[str, Any] = field(default_factory=lambda: {"kind": "explicit"})
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        entry = _as_vec3(self.entry_mm, "entry_mm")
        direction = _as_vec3(self.direction, "direction")
        norm = float(np.linalg.norm(direction))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError(f"direction must be a finite, non-zero vector, got {direction}")
        if abs(norm - 1.0) > 4.0 * np.finfo(float).eps:  # idempotent: unit stays bit-exact
            direction = direction / norm
        entry.flags.writeable = False
        direction.flags.writeable = False
        object.__setattr__(self, "entry_mm", entry)
        object.__setattr__(self, "direction", direction)
        for name in ("depth_mm", "needle_length_mm", "gauge_mm"):
            try:
                object.__setattr__(self, name, float(getattr(self, name)))
            except OverflowError:  # an integer beyond float range, e.g. 10**400
                raise ValueError(f"{name} is too large for a number of millimetres") from None

    @property
    def tip_mm(self) -> np.ndarray:
        """Position of the needle tip: ``entry_mm + depth_mm * direction``."""
        return self.entry_mm + self.depth_mm * self.direction

    @property
    def kind(self) -> str:
        """How the needle was stated: ``explicit``, ``trigger_point`` or ``angles``."""
        return str(self.source.get("kind", "explicit"))

    def with_changes(self, **changes: Any) -> Needle:
        """A copy with the given fields replaced (direction is re-normalised).

        The statement in ``source`` is kept; on save, fields that no longer match what
        the statement resolved to are written explicitly (see ``plan_to_document``).
        """
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Needle):
            return NotImplemented
        return (
            self.id == other.id
            and bool(np.array_equal(self.entry_mm, other.entry_mm))
            and bool(np.array_equal(self.direction, other.direction))
            and self.depth_mm == other.depth_mm
            and self.needle_length_mm == other.needle_length_mm
            and self.gauge_mm == other.gauge_mm
            and self.target == other.target
            and self.note == other.note
            and self.source == other.source
            and self.extra == other.extra
        )

    __hash__ = None  # type: ignore[assignment]

    def isclose(self, other: Needle, tol_mm: float = 1e-6) -> bool:
        """Same needle geometry and metadata within ``tol_mm`` (ignores ``source``)."""
        return (
            self.id == other.id
            and bool(np.allclose(self.entry_mm, other.entry_mm, rtol=0.0, atol=tol_mm))
            and bool(np.allclose(self.direction, other.direction, rtol=0.0, atol=tol_mm))
            and abs(self.depth_mm - other.depth_mm) <= tol_mm
            and abs(self.needle_length_mm - other.needle_length_mm) <= tol_mm
            and abs(self.gauge_mm - other.gauge_mm) <= tol_mm
            and self.target == other.target
            and self.note == other.note
            and self.extra == other.extra
        )

    def problems(self) -> list[Problem]:
        """Range problems of the resolved values, as ``(field, value, message)``."""
        return needle_value_problems(
            self.entry_mm.tolist(), self.depth_mm, self.needle_length_mm, self.gauge_mm
        )


def needle_value_problems(
    entry_mm: list[float] | None,
    depth_mm: float | None,
    needle_length_mm: float | None,
    gauge_mm: float | None,
) -> list[Problem]:
    """Range checks shared by the loader (on resolved values) and by ``save_plan``.

    ``None`` means "absent or already reported"; that check is skipped.
    """
    out: list[Problem] = []
    if entry_mm is not None:
        if not all(_finite_number(c) for c in entry_mm):
            out.append(("entry_mm", entry_mm, "must be 3 finite numbers"))
        elif max(abs(c) for c in entry_mm) > COORDINATE_LIMIT_MM:
            out.append(
                (
                    "entry_mm",
                    entry_mm,
                    f"is more than {_fmt(COORDINATE_LIMIT_MM)} mm from the origin (the knee); "
                    "coordinates are in millimetres",
                )
            )
    length_ok = False
    if needle_length_mm is not None:
        lo, hi = NEEDLE_LENGTH_RANGE_MM
        if not _finite_number(needle_length_mm):
            out.append(("needle_length_mm", needle_length_mm, "must be a finite number"))
        elif not lo <= needle_length_mm <= hi:
            out.append(
                (
                    "needle_length_mm",
                    needle_length_mm,
                    f"needle length must be between {_fmt(lo)} and {_fmt(hi)} mm "
                    f"(common lengths: {', '.join(map(_fmt, NEEDLE_LENGTH_PRESETS_MM))} mm)",
                )
            )
        else:
            length_ok = True
    if depth_mm is not None:
        if not _finite_number(depth_mm):
            out.append(("depth_mm", depth_mm, "must be a finite number"))
        elif depth_mm <= 0:
            out.append(("depth_mm", depth_mm, "depth must be greater than 0 mm"))
        elif length_ok and needle_length_mm is not None and depth_mm > needle_length_mm:
            out.append(
                (
                    "depth_mm",
                    depth_mm,
                    f"depth is beyond the needle length ({_fmt(needle_length_mm)} mm); "
                    "a needle cannot be inserted deeper than it is long",
                )
            )
    if gauge_mm is not None:
        lo, hi = GAUGE_RANGE_MM
        if not _finite_number(gauge_mm):
            out.append(("gauge_mm", gauge_mm, "must be a finite number"))
        elif not lo <= gauge_mm <= hi:
            out.append(
                (
                    "gauge_mm",
                    gauge_mm,
                    f"gauge (needle diameter) must be between {_fmt(lo)} and {_fmt(hi)} mm "
                    f"(common: {', '.join(f'{g:.2f}' for g in GAUGE_PRESETS_MM)} mm)",
                )
            )
    return out


@dataclass(frozen=True)
class Plan:
    """A plan: which thigh, optional patient profile, the needles.

    ``contraindications`` is ``None`` when the file does not state any; otherwise a
    mapping from keys of :data:`CONTRAINDICATION_KEYS` to booleans. ``extra`` keeps
    unknown top-level keys verbatim.
    """

    side: str = "right"
    title: str | None = None
    patient: PatientProfile | None = None
    needles: list[Needle] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    contraindications: dict[str, bool] | None = None

    def needle(self, needle_id: str) -> Needle:
        """The needle with this id (``KeyError`` if none)."""
        for n in self.needles:
            if n.id == needle_id:
                return n
        raise KeyError(needle_id)

    def with_changes(self, **changes: Any) -> Plan:
        return dataclasses.replace(self, **changes)
