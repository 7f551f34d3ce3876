"""What a safety check says about a needle: plain data, JSON and readable text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thighmap import NOT_A_MEDICAL_DEVICE

STATUS_ORDER = {"safe": 0, "caution": 1, "danger": 2}
SEVERITY_ORDER = {"note": 0, "caution": 1, "danger": 2}


def worst_status(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_ORDER.__getitem__, default="safe")


@dataclass(frozen=True)
class Finding:
    """One rule that fired. severity: 'danger', 'caution' or 'note' (notes do not
    change the status)."""

    rule: str
    severity: str
    message: str
    structure: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "structure": self.structure,
            "message": self.message,
        }


@dataclass(frozen=True)
class TissueSpan:
    structure: str
    enter_mm: float
    exit_mm: float

    def to_json(self) -> dict[str, Any]:
        return {
            "structure": self.structure,
            "enter_mm": round(self.enter_mm, 2),
            "exit_mm": round(self.exit_mm, 2),
        }


@dataclass(frozen=True)
class NearestDanger:
    structure: str
    clearance_mm: float
    zone_clearance_mm: float  # clearance minus the structure's positional uncertainty there
    point_on_structure_mm: np.ndarray  # closest point on the structure's surface
    point_on_needle_mm: np.ndarray  # closest point on the needle axis
    depth_on_needle_mm: float  # where along the needle that point is


@dataclass
class NeedleReport:
    id: str
    status: str
    nearest_danger: NearestDanger | None
    clearances_mm: dict[str, float]
    zone_clearances_mm: dict[str, float]
    max_safe_depth_mm: float
    limiting_structure: str | None
    tissues: list[TissueSpan]
    tip_in: str | None
    findings: list[Finding]
    entry_mm: np.ndarray
    direction: np.ndarray
    depth_mm: float
    needle_length_mm: float
    gauge_mm: float
    target: str | None = None
    names: dict[str, str] = field(default_factory=dict)

    @property
    def tip_mm(self) -> np.ndarray:
        return self.entry_mm + self.direction * self.depth_mm

    def name(self, sid: str | None) -> str:
        if sid is None:
            return "no structure"
        return self.names.get(sid, sid.replace("_", " "))

    def key_sentence(self) -> str:
        """The one line a student reads first."""
        nd = self.nearest_danger
        if self.status == "danger" and nd is not None:
            where = (
                f"it enters the structure itself by {-nd.clearance_mm:.1f} mm"
                if nd.clearance_mm < 0
                else f"{nd.clearance_mm:.1f} mm from the structure itself"
            )
            return (
                f"DANGER: the needle reaches the danger zone of the {self.name(nd.structure)} "
                f"({where}). Stop at {self.max_safe_depth_mm:.1f} mm or change the angle."
            )
        if self.status == "caution":
            first = next((f for f in self.findings if f.severity == "caution"), None)
            reason = first.message if first else "a caution rule fired"
            return f"CAUTION: {reason}"
        if nd is not None:
            return (
                f"SAFE: nearest danger structure is the {self.name(nd.structure)}, "
                f"{nd.clearance_mm:.1f} mm away; the trajectory stays clear down to "
                f"{self.max_safe_depth_mm:.1f} mm."
            )
        return "SAFE: no danger structure near this trajectory."

    def to_json(self) -> dict[str, Any]:
        nd = self.nearest_danger
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.key_sentence(),
            "nearest_danger": None
            if nd is None
            else {
                "structure": nd.structure,
                "clearance_mm": round(nd.clearance_mm, 2),
                "zone_clearance_mm": round(nd.zone_clearance_mm, 2),
                "closest_point_mm": [round(float(v), 2) for v in nd.point_on_structure_mm],
                "at_depth_mm": round(nd.depth_on_needle_mm, 2),
            },
            "clearances_mm": {k: round(v, 2) for k, v in self.clearances_mm.items()},
            "max_safe_depth_mm": round(self.max_safe_depth_mm, 2),
            "max_safe_depth_limited_by": self.limiting_structure,
            "depth_mm": round(self.depth_mm, 2),
            "needle_length_mm": self.needle_length_mm,
            "gauge_mm": self.gauge_mm,
            "entry_mm": [round(float(v), 2) for v in self.entry_mm],
            "tip_mm": [round(float(v), 2) for v in self.tip_mm],
            "target": self.target,
            "tissues": [t.to_json() for t in self.tissues],
            "tip_in": self.tip_in,
            "findings": [f.to_json() for f in self.findings],
        }

    def to_text(self) -> str:
        lines = [f"Needle {self.id}: {self.status.upper()}", f"  {self.key_sentence()}"]
        nd = self.nearest_danger
        if nd is not None:
            lines.append(
                f"  Nearest danger structure: {self.name(nd.structure)}, clearance "
                f"{nd.clearance_mm:.1f} mm (danger zone {nd.zone_clearance_mm:+.1f} mm), "
                f"closest at {nd.depth_on_needle_mm:.1f} mm along the needle"
            )
        limit = f" (limited by the {self.name(self.limiting_structure)})" if self.limiting_structure else ""
        lines.append(
            f"  Maximum safe depth on this line: {self.max_safe_depth_mm:.1f} mm{limit}; "
            f"planned depth {self.depth_mm:.1f} mm of a {self.needle_length_mm:.0f} mm needle, "
            f"gauge {self.gauge_mm:.2f} mm"
        )
        tip = self.name(self.tip_in) if self.tip_in else "no modelled structure (connective tissue)"
        lines.append(f"  Tip lies in: {tip}")
        if self.tissues:
            lines.append("  Tissues passed (depth along the needle):")
            for t in self.tissues:
                lines.append(f"    {t.enter_mm:6.1f} - {t.exit_mm:6.1f} mm  {self.name(t.structure)}")
        if self.findings:
            lines.append("  Findings:")
            for f in self.findings:
                lines.append(f"    [{f.severity}] {f.message}")
        return "\n".join(lines)


@dataclass
class PlanReport:
    plan_path: str | None
    side: str
    needles: list[NeedleReport]
    patient_fitted: bool = False

    @property
    def status(self) -> str:
        return worst_status([n.status for n in self.needles])

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan_path,
            "status": self.status,
            "side": self.side,
            "patient_fitted": self.patient_fitted,
            "disclaimer": NOT_A_MEDICAL_DEVICE,
            "needles": [n.to_json() for n in self.needles],
        }

    def to_text(self) -> str:
        head = f"Plan {self.plan_path or '(unsaved)'}: {self.status.upper()}  ({self.side} thigh"
        head += ", fitted to the patient profile)" if self.patient_fitted else ", reference adult)"
        parts = [head, ""]
        for n in self.needles:
            parts.append(n.to_text())
            parts.append("")
        parts.append(NOT_A_MEDICAL_DEVICE)
        return "\n".join(parts)
