"""What a safety check says about a needle: plain data, JSON and readable text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thighmap import NOT_A_MEDICAL_DEVICE
from thighmap.safety import wording

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
class NearestStructure:
    """The danger (or caution) structure nearest to a needle, and where."""

    structure: str
    clearance_mm: float
    zone_clearance_mm: float  # clearance minus the structure's positional uncertainty there
    point_on_structure_mm: np.ndarray  # closest point on the structure's surface
    point_on_needle_mm: np.ndarray  # closest point on the needle axis
    depth_on_needle_mm: float  # where along the needle that point is


NearestDanger = NearestStructure  # the name it had when only danger structures were measured


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
    # the rule that sets max_safe_depth_mm (None: nothing fires within the needle's length)
    limiting_rule: str | None = None
    # the nearest caution structure (a cutaneous nerve, a superficial vein); None when the
    # atlas has none. nearest_danger is of the danger structures only.
    nearest_caution: NearestStructure | None = None
    # the ids of clearances_mm whose structure's role is caution (the others are danger)
    caution_structures: tuple[str, ...] = ()

    @property
    def tip_mm(self) -> np.ndarray:
        return self.entry_mm + self.direction * self.depth_mm

    def name(self, sid: str | None) -> str:
        if sid is None:
            return "no structure"
        return self.names.get(sid, sid.replace("_", " "))

    def key_sentence(self) -> str:
        """The one line a student reads first."""
        return wording.key_sentence(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.key_sentence(),
            "nearest_danger": _nearest_json(self.nearest_danger),
            "nearest_caution": _nearest_json(self.nearest_caution),
            "clearances_mm": {k: round(v, 2) for k, v in self.clearances_mm.items()},
            "caution_structures": list(self.caution_structures),
            "max_safe_depth_mm": round(self.max_safe_depth_mm, 2),
            "max_safe_depth_limited_by": self.limiting_structure,
            "max_safe_depth_rule": self.limiting_rule,
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
        lines = [
            f"Needle {self.id}: {wording.status_word(self.status)}",
            f"  {self.key_sentence()}",
        ]
        if self.nearest_danger is not None:
            lines.append(f"  Nearest danger structure: {wording.nearest_danger_text(self)}")
        if self.nearest_caution is not None:
            lines.append(f"  Nearest caution structure: {wording.nearest_caution_text(self)}")
        lines.append(
            f"  Maximum safe depth on this line: {wording.max_safe_text(self)}; "
            f"planned depth {wording.depth_text(self)}"
        )
        lines.append(f"  Tip lies in: {wording.tip_text(self)}")
        if self.tissues:
            lines.append("  Tissues passed (depth along the needle):")
            for t in self.tissues:
                lines.append(f"    {wording.tissue_row(self, t)}")
        if self.findings:
            lines.append("  Findings:")
            for f in self.findings:
                lines.append(f"    {wording.finding_line(f)}")
        return "\n".join(lines)


def _nearest_json(nd: NearestStructure | None) -> dict[str, Any] | None:
    if nd is None:
        return None
    return {
        "structure": nd.structure,
        "clearance_mm": round(nd.clearance_mm, 2),
        "zone_clearance_mm": round(nd.zone_clearance_mm, 2),
        "closest_point_mm": [round(float(v), 2) for v in nd.point_on_structure_mm],
        "at_depth_mm": round(nd.depth_on_needle_mm, 2),
    }


@dataclass
class PlanReport:
    plan_path: str | None
    side: str
    needles: list[NeedleReport]
    patient_fitted: bool = False
    # findings about the plan as a whole (the contraindication checklist); each needle's
    # report carries them too, so every needle's status counts them
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        plan = [{"danger": "danger", "caution": "caution"}.get(f.severity, "safe") for f in self.findings]
        return worst_status([n.status for n in self.needles] + plan)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan_path,
            "status": self.status,
            "side": self.side,
            "patient_fitted": self.patient_fitted,
            "disclaimer": NOT_A_MEDICAL_DEVICE,
            "findings": [f.to_json() for f in self.findings],
            "needles": [n.to_json() for n in self.needles],
        }

    def to_text(self) -> str:
        head = f"Plan {self.plan_path or '(unsaved)'}: {wording.status_word(self.status)}  ({self.side} thigh"
        head += ", fitted to the patient profile)" if self.patient_fitted else ", reference adult)"
        parts = [head, ""]
        if self.findings:
            parts.append("Plan findings:")
            parts += [f"  {wording.finding_line(f)}" for f in self.findings]
            parts.append("")
        for n in self.needles:
            parts.append(n.to_text())
            parts.append("")
        parts.append(NOT_A_MEDICAL_DEVICE)
        return "\n".join(parts)
