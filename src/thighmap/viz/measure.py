"""The measuring tool's model (no Qt): two points picked on surfaces, the straight
distance between them, and the structures they lie on.

A first pick starts a measurement, a second completes it, a third starts a new one (as
the ruler of 3D Slicer and Complete Anatomy does). Listeners hear of every change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal


@dataclass(frozen=True)
class MeasuredPoint:
    point_mm: np.ndarray  # (3,) in the plan's frame
    structure: str | None  # the structure whose surface it lies on (viz.probe.structure_at)


def distance_mm(a: np.ndarray, b: np.ndarray) -> float:
    """The straight distance between two points (mm)."""
    return float(np.linalg.norm(np.asarray(b, float) - np.asarray(a, float)))


def distance_text(mm: float) -> str:
    """A distance as the view and the card show it: millimetres, one decimal."""
    return f"{mm:.1f} mm"


class Measurement:
    """Zero, one or two picked points; ``changed`` is emitted after every change."""

    changed = Signal()

    def __init__(self) -> None:
        self.points: list[MeasuredPoint] = []

    def add(self, point_mm: np.ndarray, structure: str | None) -> None:
        """A picked point: the first or second of a measurement, or (after two) the first
        of a new one."""
        p = np.asarray(point_mm, float).reshape(3)
        if not np.all(np.isfinite(p)):
            raise ValueError(f"a measured point must be finite, got {p.tolist()}")
        if len(self.points) >= 2:
            self.points = []
        self.points.append(MeasuredPoint(p, structure))
        self.changed.emit()

    def set_points(self, points: list[tuple[np.ndarray, str | None]]) -> None:
        """Show these (at most two) points at once, as a demonstration step recorded them."""
        if len(points) > 2:
            raise ValueError(f"a measurement has at most two points, got {len(points)}")
        new = []
        for point_mm, structure in points:
            p = np.asarray(point_mm, float).reshape(3)
            if not np.all(np.isfinite(p)):
                raise ValueError(f"a measured point must be finite, got {p.tolist()}")
            new.append(MeasuredPoint(p, structure))
        self.points = new
        self.changed.emit()

    def clear(self) -> None:
        if self.points:
            self.points = []
            self.changed.emit()

    @property
    def complete(self) -> bool:
        return len(self.points) == 2

    @property
    def distance_mm(self) -> float | None:
        return distance_mm(self.points[0].point_mm, self.points[1].point_mm) if self.complete else None


__all__ = ["MeasuredPoint", "Measurement", "distance_mm", "distance_text"]
