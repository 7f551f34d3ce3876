"""The rules besides the danger zones, as data from landmarks.json ("rules", validated
when the atlas loads: anatomy/atlas_rules.py).

Each rule returns Findings with a sentence a student can read. Thresholds, severities,
sentences and their sources live in the atlas, not here.

Depth-dependent rules (docs/reference.md, "Maximum safe depth"): the caution margin
and danger zone of each danger structure, the caution margin of each caution structure
(caution_structure), the shaft rule, bone strike, the regional depth limits and the
regional lines to keep away from (`near_line`). Each fires exactly when the planned
depth is beyond the depth that `depth_limits` gives for it, so the maximum safe depth
(the smallest of those) is a depth at which none fires. The adductor-magnus angle rule
is about the direction, the target rule is a note, and the entry rules are about where
and how the needle enters; none of those is a depth rule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.anatomy.atlas_rules import EntryRule, NearLineRule, Rules
from thighmap.planning import CONTRAINDICATION_LABELS, Needle
from thighmap.safety.geometry import ray_capsule_first_hit, segment_segment_closest
from thighmap.safety.report import Finding
from thighmap.safety.tissues import Interval

# A rule on a boundary (depth exactly at its limit) does not fire; beyond it by more
# than this it does. Far below anything a needle can be placed to, far above rounding.
BOUNDARY_MM = 1e-9

DEPTH_RULES_FIXED = (
    "danger_zone",
    "caution_margin",
    "caution_structure",
    "shaft_outside_skin",
    "bone_strike",
)


def depth_rule_ids(rules: Rules) -> set[str]:
    """Ids of every depth-dependent rule of this atlas (findings that max_safe_depth_mm bounds)."""
    return set(DEPTH_RULES_FIXED) | {r.id for r in rules.regional_depth} | {r.id for r in rules.near_line}


def evaluate(
    atlas: Atlas,
    needle: Needle,
    direction: np.ndarray,
    depth: float,
    ladder: Sequence[Interval],
    tip_in: str | None,
) -> list[Finding]:
    """Findings of the shaft, bone, target and regional rules. `ladder` holds the
    structures passed between entry and tip (depths from the entry)."""
    entry = np.asarray(needle.entry_mm, float)
    cfg = atlas.rules
    out: list[Finding] = []
    names = {sid: st.name for sid, st in atlas.structures.items()}

    shaft = cfg.shaft
    if shaft is not None:
        limit = shaft.max_inserted_fraction * float(needle.needle_length_mm)
        if depth > limit + BOUNDARY_MM:
            out.append(
                Finding(
                    "shaft_outside_skin",
                    shaft.severity,
                    shaft.message.format(fraction=depth / needle.needle_length_mm, limit_mm=limit),
                )
            )

    bone = cfg.bone_strike
    if bone is not None:
        hit = first_enter(ladder, bone.structures)
        if hit is not None and hit[1] < depth - BOUNDARY_MM:
            out.append(
                Finding(
                    "bone_strike",
                    bone.severity,
                    bone.message.format(structure=names.get(hit[0], hit[0]), depth_mm=hit[1]),
                    hit[0],
                )
            )

    tgt = cfg.target
    if tgt is not None and needle.target:
        passed = {iv.structure for iv in ladder}
        target_name = names.get(needle.target, needle.target)
        if needle.target not in passed:
            out.append(
                Finding(
                    "target", tgt.severity, tgt.message_not_reached.format(target=target_name), needle.target
                )
            )
        elif tip_in != needle.target:
            tip_name = names.get(tip_in, tip_in) if tip_in else "connective tissue between structures"
            out.append(
                Finding(
                    "target",
                    tgt.severity,
                    tgt.message_missed.format(tip=tip_name, target=target_name),
                    needle.target,
                )
            )

    for rule in cfg.regional_depth:
        lm = atlas.landmark(rule.landmark)
        near = _xz_distance_to_segment(lm, entry, direction, depth)
        if near < rule.radius_mm - BOUNDARY_MM and depth > rule.max_depth_mm + BOUNDARY_MM:
            out.append(
                Finding(
                    rule.id,
                    rule.severity,
                    rule.message.format(
                        radius_mm=rule.radius_mm, depth_mm=depth, max_depth_mm=rule.max_depth_mm
                    ),
                    None,
                )
            )
    gauge = float(needle.gauge_mm)
    for lrule in cfg.near_line:
        clearance = line_clearance(lrule, entry, entry + direction * depth, gauge)
        if clearance < lrule.distance_mm - BOUNDARY_MM:
            out.append(
                Finding(
                    lrule.id,
                    lrule.severity,
                    lrule.message.format(
                        distance_mm=lrule.distance_mm, clearance_mm=max(clearance, 0.0), depth_mm=depth
                    ),
                    None,
                )
            )
    for arule in cfg.lateral_angle:
        sid = arule.structure
        reaches = any(iv.structure == sid for iv in ladder) or needle.target == sid
        medial_deg = float(np.degrees(np.arcsin(np.clip(-direction[0], -1.0, 1.0))))
        if reaches and medial_deg > arule.max_medial_angle_deg:
            out.append(Finding(arule.id, arule.severity, arule.message.format(medial_deg=medial_deg), sid))
    return out


def line_clearance(rule: NearLineRule, p0: np.ndarray, p1: np.ndarray, gauge_mm: float) -> float:
    """Distance from the needle from p0 to p1 (the cylinder of its gauge: the points within
    half the gauge of its axis, as the danger clearances count it) to the rule's polyline
    (the nearest of its segments), in mm; negative when the line passes through the needle."""
    line = np.asarray(rule.line_mm, float)
    d, _, _ = segment_segment_closest(p0, p1, line[:-1], line[1:])
    return float(d.min()) - gauge_mm / 2.0


def first_enter(intervals: Sequence[Interval], structures: Sequence[str]) -> tuple[str, float] | None:
    """(structure, depth) where the first of `structures` begins ahead of the entry
    (0 when the entry is inside it); None if the line never meets them."""
    best: tuple[str, float] | None = None
    for iv in intervals:
        if iv.structure in structures and iv.exit_mm > 0.0:
            d = max(iv.enter_mm, 0.0)
            if best is None or d < best[1]:
                best = (iv.structure, d)
    return best


# ---------------------------------------------------------------------- entering the body
@dataclass(frozen=True)
class SkinContact:
    """How a needle meets the skin at its entry (atlas frame)."""

    distance_mm: float  # entry to the nearest point of the outer skin
    outside: bool  # the entry lies outside the body (beyond the outer skin)
    angle_deg: float  # between the needle and the inward skin normal at that point


def entry_findings(
    rule: EntryRule,
    contact: SkinContact,
    line: Sequence[Interval],
    outer_crossings_mm: Sequence[float],
    depth: float,
) -> list[Finding]:
    """Does the needle enter the body through the skin at its entry? One finding naming
    the first fault, in this order: it points out of the skin; the entry is off the
    skin; its line does not meet the skin near the entry; its tip is not beneath the
    skin. `line` holds the intervals of the needle's whole line (negative depths behind
    the entry); `outer_crossings_mm` the sorted depths at which the line crosses the
    outer surface of the skin, traced from outside the body (so the tip is inside the
    body when an odd number of them lie before it)."""
    if not contact.angle_deg < 90.0:
        return [
            Finding(
                "needle_points_out_of_skin",
                rule.points_out_severity,
                rule.points_out_message.format(angle_deg=contact.angle_deg),
                "skin",
            )
        ]
    if contact.distance_mm > rule.max_distance_mm:
        return [
            Finding(
                "entry_on_skin",
                rule.severity,
                rule.message.format(
                    distance_mm=contact.distance_mm,
                    where="outside" if contact.outside else "beneath",
                    max_distance_mm=rule.max_distance_mm,
                ),
                "skin",
            )
        ]
    skin = [iv for iv in line if iv.structure == "skin"]
    along = min((_distance_to_interval(iv) for iv in skin), default=math.inf)
    if along > rule.max_distance_along_line_mm:
        message = (
            rule.misses_skin_message_never
            if not math.isfinite(along)
            else rule.misses_skin_message_far.format(
                along_mm=along, max_along_mm=rule.max_distance_along_line_mm
            )
        )
        return [Finding("needle_misses_skin", rule.misses_skin_severity, message, "skin")]
    # the tip lies beneath the skin when it is inside the body (an odd number of
    # crossings of the skin's outer surface before it) and not in the skin itself
    before = [t for t in outer_crossings_mm if t <= depth]
    in_skin = any(iv.enter_mm <= depth < iv.exit_mm for iv in skin)
    inside = len(before) % 2 == 1
    if inside and not in_skin:
        return []
    if not in_skin and len(before) >= 2 and before[-1] > 0.0:
        message = rule.tip_outside_message.format(depth_mm=depth, exit_mm=before[-1])
    else:
        ahead = [iv.exit_mm for iv in skin if iv.exit_mm > 0.0]
        message = rule.tip_in_skin_message.format(depth_mm=depth, skin_exit_mm=min(ahead, default=0.0))
    return [Finding("tip_not_beneath_skin", rule.tip_severity, message, "skin")]


def _distance_to_interval(iv: Interval) -> float:
    """Distance along the line from the entry (depth 0) to an interval."""
    if iv.enter_mm <= 0.0 <= iv.exit_mm:
        return 0.0
    return iv.enter_mm if iv.enter_mm > 0.0 else -iv.exit_mm


# ---------------------------------------------------------------------- contraindications
def contraindication_findings(rules: Rules, recorded: Mapping[str, bool] | None) -> list[Finding]:
    """One finding per checklist item answered yes, at the severity the atlas gives it."""
    out: list[Finding] = []
    for key, rule in rules.contraindications.items():
        if recorded and recorded.get(key) is True:
            label = CONTRAINDICATION_LABELS.get(key, key)
            out.append(Finding(f"contraindication_{key}", rule.severity, rule.message.format(label=label)))
    return out


def vessel_margin_severity(
    rules: Rules, recorded: Mapping[str, bool] | None, kind: str
) -> tuple[str, str] | None:
    """(severity, sentence) for a caution-margin finding on a structure of `kind` when
    the recorded contraindications raise it; None otherwise."""
    v = rules.bleeding_vessels
    if v is None or not recorded or recorded.get(v.contraindication) is not True or kind not in v.kinds:
        return None
    label = CONTRAINDICATION_LABELS.get(v.contraindication, v.contraindication)
    return v.severity, v.message.format(label=label)


# ---------------------------------------------------------------------- maximum safe depth
def depth_limits(
    atlas: Atlas,
    entry: np.ndarray,
    direction: np.ndarray,
    needle_length_mm: np.ndarray | None,
    bone_enter_mm: np.ndarray,
    gauge_mm: np.ndarray | float,
) -> tuple[np.ndarray, list[str | None]]:
    """For N needles (atlas frame, unit directions, gauges in mm): the depth at which the
    first of the shaft, bone-strike, regional depth and near-line rules would fire (inf if
    none), and that rule's id. The danger zones' caution margins come from the danger set."""
    entry = np.asarray(entry, float).reshape(-1, 3)
    direction = np.asarray(direction, float).reshape(-1, 3)
    n = len(entry)
    limit = np.full(n, np.inf)
    which: list[str | None] = [None] * n

    def take(candidate: np.ndarray, rule_id: str) -> None:
        better = candidate < limit
        limit[better] = candidate[better]
        for k in np.flatnonzero(better):
            which[k] = rule_id

    rules = atlas.rules
    if rules.shaft is not None and needle_length_mm is not None:
        take(
            rules.shaft.max_inserted_fraction * np.broadcast_to(needle_length_mm, (n,)).astype(float),
            "shaft_outside_skin",
        )
    if rules.bone_strike is not None:
        take(np.asarray(bone_enter_mm, float).reshape(n), "bone_strike")
    for rule in rules.regional_depth:
        lm = atlas.landmark(rule.landmark)
        within = _xz_first_within(lm, entry, direction, rule.radius_mm)
        take(np.maximum(within, rule.max_depth_mm), rule.id)
    if rules.near_line:
        half_gauge = np.broadcast_to(np.asarray(gauge_mm, float), (n,)) / 2.0
        for lrule in rules.near_line:
            take(line_first_within(lrule, entry, direction, half_gauge), lrule.id)
    return limit, which


def line_first_within(
    rule: NearLineRule, entry: np.ndarray, direction: np.ndarray, half_gauge_mm: np.ndarray
) -> np.ndarray:
    """For N needles (unit directions): the first depth along each needle's ray at which the
    needle (the cylinder of its gauge) comes within the rule's distance of its polyline,
    0 if the entry already is, inf if never. Per segment of the line, the first hit of the
    ray on the capsule of radius distance + half the gauge around it (closed form)."""
    line = np.asarray(rule.line_mm, float)
    radius = rule.distance_mm + half_gauge_mm
    first = np.full(len(entry), np.inf)
    for a, b in itertools.pairwise(line):
        first = np.minimum(first, ray_capsule_first_hit(entry, direction, a, b, radius))
    return first


def _xz_distance_to_segment(
    point: np.ndarray, entry: np.ndarray, direction: np.ndarray, depth: float
) -> float:
    """Distance across the skin (ignoring the antero-posterior axis y) from `point` to the
    needle's segment."""
    p = np.asarray(point, float)[[0, 2]]
    a = np.asarray(entry, float)[[0, 2]]
    u = np.asarray(direction, float)[[0, 2]] * depth
    uu = float(u @ u)
    t = 0.0 if uu == 0.0 else float(np.clip((p - a) @ u / uu, 0.0, 1.0))
    return float(np.linalg.norm(a + t * u - p))


def _xz_first_within(
    point: np.ndarray, entry: np.ndarray, direction: np.ndarray, radius: float
) -> np.ndarray:
    """For N needles: the smallest depth at which the needle's segment comes within
    `radius` of `point` across the skin (0 if its entry already is; inf if never)."""
    p = np.asarray(point, float)[[0, 2]]
    a = entry[:, [0, 2]] - p
    u = direction[:, [0, 2]]
    qa = np.einsum("ij,ij->i", u, u)
    qb = 2.0 * np.einsum("ij,ij->i", u, a)
    qc = np.einsum("ij,ij->i", a, a) - radius * radius
    disc = qb * qb - 4.0 * qa * qc
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-qb - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * qa)
    out = np.where((qa > 0) & (disc > 0) & (t1 >= 0), t1, np.inf)
    return np.where(qc < 0, 0.0, out)
