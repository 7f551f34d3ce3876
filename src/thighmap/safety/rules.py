"""The rules besides the danger zones, as data from landmarks.json ("rules").

Each rule returns Findings with a sentence a student can read. Thresholds and their
sources live in the atlas, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import Needle
from thighmap.safety.report import Finding
from thighmap.safety.tissues import Interval


def evaluate(
    atlas: Atlas,
    needle: Needle,
    direction: np.ndarray,
    depth: float,
    ladder: Sequence[Interval],
    line: Sequence[Interval],
    tip_in: str | None,
) -> list[Finding]:
    """Findings of the non-geometric rules. `ladder` holds the structures passed
    between entry and tip; `line` the same line's intervals including those behind
    the entry (negative depths), which locate the skin surface."""
    entry = np.asarray(needle.entry_mm, float)
    cfg: dict[str, Any] = atlas.rules or {}
    out: list[Finding] = []
    names = {sid: st.name for sid, st in atlas.structures.items()}

    shaft = cfg.get("shaft_outside_skin")
    if shaft:
        limit = float(shaft["max_inserted_fraction"]) * float(needle.needle_length_mm)
        if depth > limit + 1e-9:
            out.append(
                Finding(
                    "shaft_outside_skin",
                    shaft.get("severity", "caution"),
                    shaft["message"].format(fraction=depth / needle.needle_length_mm, limit_mm=limit),
                )
            )

    bone = cfg.get("bone_strike")
    if bone:
        for iv in ladder:
            if iv.structure in bone.get("structures", []):
                out.append(
                    Finding(
                        "bone_strike",
                        bone.get("severity", "caution"),
                        bone["message"].format(
                            structure=names.get(iv.structure, iv.structure), depth_mm=iv.enter_mm
                        ),
                        iv.structure,
                    )
                )
                break

    on_skin = cfg.get("entry_on_skin")
    if on_skin and "skin" in atlas.structures:
        # the skin's outer surface is where the line first enters the skin
        outer = [iv.enter_mm for iv in line if iv.structure == "skin"]
        dist = abs(min(outer, key=abs)) if outer else float("inf")
        if dist > float(on_skin["max_distance_mm"]):
            out.append(
                Finding(
                    "entry_on_skin",
                    on_skin.get("severity", "caution"),
                    on_skin["message"].format(distance_mm=dist),
                )
            )

    tgt = cfg.get("target")
    if tgt and needle.target:
        passed = {iv.structure for iv in ladder}
        target_name = names.get(needle.target, needle.target)
        if needle.target not in passed:
            out.append(
                Finding(
                    "target",
                    tgt.get("severity", "note"),
                    tgt["message_not_reached"].format(target=target_name),
                    needle.target,
                )
            )
        elif tip_in != needle.target:
            tip_name = (
                names.get(tip_in, "connective tissue between structures")
                if tip_in
                else "connective tissue between structures"
            )
            out.append(
                Finding(
                    "target",
                    tgt.get("severity", "note"),
                    tgt["message_missed"].format(tip=tip_name, target=target_name),
                    needle.target,
                )
            )

    for rule in cfg.get("regional", []):
        kind = rule.get("type")
        if kind == "max_depth_near_landmark":
            lm = atlas.landmark(rule["landmark"])
            radius = float(rule["radius_mm"])
            # distance across the skin: ignore the antero-posterior axis
            tip = entry + direction * depth
            near = min(
                float(np.hypot(*(entry - lm)[[0, 2]])),
                float(np.hypot(*(tip - lm)[[0, 2]])),
            )
            if near <= radius and depth > float(rule["max_depth_mm"]):
                out.append(
                    Finding(
                        rule["id"],
                        rule.get("severity", "caution"),
                        rule["message"].format(
                            radius_mm=radius,
                            depth_mm=depth,
                            max_depth_mm=float(rule["max_depth_mm"]),
                        ),
                        None,
                    )
                )
        elif kind == "lateral_angle_in_structure":
            sid = rule["structure"]
            reaches = any(iv.structure == sid for iv in ladder) or needle.target == sid
            medial_deg = float(np.degrees(np.arcsin(np.clip(-direction[0], -1.0, 1.0))))
            if reaches and medial_deg > float(rule.get("max_medial_angle_deg", 0.0)):
                out.append(
                    Finding(
                        rule["id"],
                        rule.get("severity", "caution"),
                        rule["message"].format(medial_deg=medial_deg),
                        sid,
                    )
                )
    return out
