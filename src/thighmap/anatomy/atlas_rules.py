"""The "rules" section of landmarks.json, read and validated when the atlas loads.

Every threshold, severity and sentence of the safety rules besides the danger zones
lives in the atlas with its source; this module turns that section into typed, checked
objects, so a malformed rule is refused at load time with the file, the field and the
value (never a KeyError at check time). Each message is tried with the placeholders the
check will fill in, so a misspelt placeholder fails here too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("danger", "caution", "note")
REGIONAL_TYPES = ("max_depth_near_landmark", "lateral_angle_in_structure", "near_line")


class RuleError(ValueError):
    """A rule cannot be used; the message names the file, the field and the value."""


@dataclass(frozen=True)
class ShaftRule:
    """Keep part of the shaft outside the skin: depth <= fraction x needle length."""

    max_inserted_fraction: float
    severity: str
    message: str  # {fraction}, {limit_mm}
    source: str


@dataclass(frozen=True)
class BoneStrikeRule:
    structures: tuple[str, ...]
    severity: str
    message: str  # {structure}, {depth_mm}
    source: str


@dataclass(frozen=True)
class EntryRule:
    """Does the needle enter the body through the skin at its entry? (docs/reference.md)"""

    max_distance_mm: float  # entry to the nearest point of the outer skin
    max_distance_along_line_mm: float  # entry to where its line meets the skin
    severity: str  # entry off the skin
    message: str  # {distance_mm}, {where}, {max_distance_mm}
    points_out_severity: str
    points_out_message: str  # {angle_deg}
    misses_skin_severity: str
    misses_skin_message_never: str
    misses_skin_message_far: str  # {along_mm}, {max_along_mm}
    tip_severity: str
    tip_in_skin_message: str  # {depth_mm}, {skin_exit_mm}
    tip_outside_message: str  # {depth_mm}, {exit_mm}
    source: str


@dataclass(frozen=True)
class TargetRule:
    severity: str
    message_missed: str  # {tip}, {target}
    message_not_reached: str  # {target}
    source: str


@dataclass(frozen=True)
class DepthNearLandmarkRule:
    id: str
    landmark: str
    radius_mm: float
    max_depth_mm: float
    severity: str
    message: str  # {radius_mm}, {depth_mm}, {max_depth_mm}
    source: str


@dataclass(frozen=True)
class NearLineRule:
    """Keep the needle (a cylinder of its gauge) more than `distance_mm` from a line drawn
    through the atlas (a polyline, atlas frame, on the bone it follows: fitting moves it
    with the bone). Depth-dependent: going deeper brings the needle closer."""

    id: str
    line_mm: tuple[tuple[float, float, float], ...]  # at least two points
    distance_mm: float
    severity: str
    message: str  # {distance_mm}, {clearance_mm}, {depth_mm}
    source: str


@dataclass(frozen=True)
class LateralAngleRule:
    id: str
    structure: str
    max_medial_angle_deg: float
    severity: str
    message: str  # {medial_deg}
    source: str


@dataclass(frozen=True)
class ContraindicationRule:
    key: str
    severity: str
    message: str  # {label}
    answer: str  # what the PDF prints after the item when it is answered yes
    source: str


@dataclass(frozen=True)
class BleedingVesselRule:
    """With this contraindication recorded, a caution margin of these kinds of
    structure counts at this severity."""

    contraindication: str
    kinds: tuple[str, ...]
    severity: str
    message: str  # appended to the caution-margin finding; {label}
    source: str


@dataclass(frozen=True)
class Rules:
    needle_text: str = ""
    shaft: ShaftRule | None = None
    bone_strike: BoneStrikeRule | None = None
    entry: EntryRule | None = None
    target: TargetRule | None = None
    regional_depth: tuple[DepthNearLandmarkRule, ...] = ()
    lateral_angle: tuple[LateralAngleRule, ...] = ()
    near_line: tuple[NearLineRule, ...] = ()
    contraindications: Mapping[str, ContraindicationRule] = field(default_factory=dict)
    bleeding_vessels: BleedingVesselRule | None = None


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def err(self, where: str, value: Any, message: str) -> RuleError:
        try:
            shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        except (TypeError, ValueError):
            shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return RuleError(f"{self.path}: field '{where}': value {shown}: {message}")

    def obj(self, where: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.err(where, value, "expected an object")
        return value

    def text(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.err(where, value, "expected non-empty text")
        return value

    def number(self, where: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise self.err(where, value, "expected a finite number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.err(
                where, value, f"expected a number from {lo:g} to {hi:g}" if hi else f"at least {lo:g}"
            )
        return float(value)

    def polyline(self, where: str, value: Any) -> tuple[tuple[float, float, float], ...]:
        """A list of at least two [x, y, z] points (mm), every coordinate finite."""
        if not isinstance(value, list) or len(value) < 2:
            raise self.err(where, value, "expected a list of at least two [x, y, z] points in mm")
        points = []
        for k, p in enumerate(value):
            if not isinstance(p, list) or len(p) != 3:
                raise self.err(f"{where}[{k}]", p, "expected a point [x, y, z] in mm")
            x, y, z = (self.number(f"{where}[{k}][{j}]", c) for j, c in enumerate(p))
            points.append((x, y, z))
        return tuple(points)

    def severity(self, where: str, value: Any, allowed: Iterable[str] = SEVERITIES) -> str:
        allowed = tuple(allowed)
        if value not in allowed:
            raise self.err(where, value, f"expected one of {', '.join(allowed)}")
        return str(value)

    def message(self, field_: str, value: Any, **example: Any) -> str:
        text = self.text(field_, value)
        try:
            text.format(**example)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            names = ", ".join("{" + k + "}" for k in example) or "none"
            raise self.err(
                field_, value, f"the message cannot be filled in ({exc!r}); placeholders: {names}"
            ) from exc
        return text


def parse_rules(
    raw: Any,
    path: Path,
    *,
    structures: Mapping[str, Any],
    landmarks: Mapping[str, Any],
    contraindication_keys: Iterable[str],
) -> Rules:
    """The "rules" section validated. The entry rule and one rule per contraindication
    key are required: without them a needle that misses the skin, or a contraindication
    answered yes, could come out safe."""
    r = _Reader(path)
    cfg = r.obj("rules", raw if raw is not None else {})
    keys = tuple(contraindication_keys)

    needle_text = ""
    if "needle" in cfg:
        needle_text = r.text("rules.needle.capsule", r.obj("rules.needle", cfg["needle"]).get("capsule"))

    shaft = None
    if "shaft_outside_skin" in cfg:
        w = "rules.shaft_outside_skin"
        s = r.obj(w, cfg["shaft_outside_skin"])
        frac = r.number(f"{w}.max_inserted_fraction", s.get("max_inserted_fraction"), 0.0, 1.0)
        if frac <= 0:
            raise r.err(f"{w}.max_inserted_fraction", frac, "expected a fraction greater than 0")
        shaft = ShaftRule(
            frac,
            r.severity(f"{w}.severity", s.get("severity", "caution")),
            r.message(f"{w}.message", s.get("message"), fraction=0.8, limit_mm=37.5),
            r.text(f"{w}.source", s.get("source")),
        )

    bone = None
    if "bone_strike" in cfg:
        w = "rules.bone_strike"
        b = r.obj(w, cfg["bone_strike"])
        sids = b.get("structures")
        if not isinstance(sids, list) or not sids:
            raise r.err(f"{w}.structures", sids, "expected a list of structure ids")
        for k, sid in enumerate(sids):
            if sid not in structures:
                raise r.err(f"{w}.structures[{k}]", sid, "unknown structure id")
        bone = BoneStrikeRule(
            tuple(sids),
            r.severity(f"{w}.severity", b.get("severity", "caution")),
            r.message(f"{w}.message", b.get("message"), structure="Femur", depth_mm=40.0),
            r.text(f"{w}.source", b.get("source")),
        )

    w = "rules.entry_on_skin"
    if "entry_on_skin" not in cfg:
        raise r.err(w, None, "this rule is required (a needle that misses the skin must never be safe)")
    e = r.obj(w, cfg["entry_on_skin"])
    danger_or_caution = ("danger", "caution")
    out = r.obj(f"{w}.points_out", e.get("points_out"))
    miss = r.obj(f"{w}.misses_skin", e.get("misses_skin"))
    tip = r.obj(f"{w}.tip_not_beneath_skin", e.get("tip_not_beneath_skin"))
    entry = EntryRule(
        max_distance_mm=r.number(f"{w}.max_distance_mm", e.get("max_distance_mm"), 0.0, 50.0),
        max_distance_along_line_mm=r.number(
            f"{w}.max_distance_along_line_mm", e.get("max_distance_along_line_mm"), 0.0, 100.0
        ),
        severity=r.severity(f"{w}.severity", e.get("severity"), danger_or_caution),
        message=r.message(
            f"{w}.message", e.get("message"), distance_mm=5.0, where="outside", max_distance_mm=3.0
        ),
        points_out_severity=r.severity(f"{w}.points_out.severity", out.get("severity"), danger_or_caution),
        points_out_message=r.message(f"{w}.points_out.message", out.get("message"), angle_deg=120.0),
        misses_skin_severity=r.severity(f"{w}.misses_skin.severity", miss.get("severity"), danger_or_caution),
        misses_skin_message_never=r.message(f"{w}.misses_skin.message_never", miss.get("message_never")),
        misses_skin_message_far=r.message(
            f"{w}.misses_skin.message_far", miss.get("message_far"), along_mm=12.0, max_along_mm=6.0
        ),
        tip_severity=r.severity(f"{w}.tip_not_beneath_skin.severity", tip.get("severity"), danger_or_caution),
        tip_in_skin_message=r.message(
            f"{w}.tip_not_beneath_skin.message_in_skin",
            tip.get("message_in_skin"),
            depth_mm=1.0,
            skin_exit_mm=2.0,
        ),
        tip_outside_message=r.message(
            f"{w}.tip_not_beneath_skin.message_outside", tip.get("message_outside"), depth_mm=1.0, exit_mm=2.0
        ),
        source=r.text(f"{w}.source", e.get("source")),
    )
    for sub in ("points_out", "misses_skin", "tip_not_beneath_skin"):
        r.text(f"{w}.{sub}.source", r.obj(f"{w}.{sub}", e.get(sub)).get("source"))

    target = None
    if "target" in cfg:
        w = "rules.target"
        t = r.obj(w, cfg["target"])
        target = TargetRule(
            r.severity(f"{w}.severity", t.get("severity", "note")),
            r.message(f"{w}.message_missed", t.get("message_missed"), tip="Fat", target="Muscle"),
            r.message(f"{w}.message_not_reached", t.get("message_not_reached"), target="Muscle"),
            r.text(f"{w}.source", t.get("source")),
        )

    regional_depth: list[DepthNearLandmarkRule] = []
    lateral: list[LateralAngleRule] = []
    near_line: list[NearLineRule] = []
    regional = cfg.get("regional", [])
    if not isinstance(regional, list):
        raise r.err("rules.regional", regional, "expected a list of rules")
    seen: set[str] = set()
    for i, rule in enumerate(regional):
        w = f"rules.regional[{i}]"
        g = r.obj(w, rule)
        rid = r.text(f"{w}.id", g.get("id"))
        if rid in seen:
            raise r.err(f"{w}.id", rid, "duplicate rule id")
        seen.add(rid)
        kind = g.get("type")
        if kind not in REGIONAL_TYPES:
            raise r.err(f"{w}.type", kind, f"expected one of {', '.join(REGIONAL_TYPES)}")
        allowed = ("danger", "caution") if kind == "near_line" else SEVERITIES
        severity = r.severity(f"{w}.severity", g.get("severity", "caution"), allowed)
        source = r.text(f"{w}.source", g.get("source"))
        if kind == "near_line":
            distance = r.number(f"{w}.distance_mm", g.get("distance_mm"), 0.0)
            if distance <= 0.0:
                raise r.err(f"{w}.distance_mm", g.get("distance_mm"), "expected a distance greater than 0")
            near_line.append(
                NearLineRule(
                    rid,
                    r.polyline(f"{w}.line_mm", g.get("line_mm")),
                    distance,
                    severity,
                    r.message(
                        f"{w}.message", g.get("message"), distance_mm=15.0, clearance_mm=8.0, depth_mm=45.0
                    ),
                    source,
                )
            )
        elif kind == "max_depth_near_landmark":
            lm = g.get("landmark")
            if lm not in landmarks:
                raise r.err(f"{w}.landmark", lm, "unknown landmark id")
            regional_depth.append(
                DepthNearLandmarkRule(
                    rid,
                    lm,
                    r.number(f"{w}.radius_mm", g.get("radius_mm"), 0.0),
                    r.number(f"{w}.max_depth_mm", g.get("max_depth_mm"), 0.0),
                    severity,
                    r.message(
                        f"{w}.message", g.get("message"), radius_mm=40.0, depth_mm=38.0, max_depth_mm=35.0
                    ),
                    source,
                )
            )
        else:
            sid = g.get("structure")
            if sid not in structures:
                raise r.err(f"{w}.structure", sid, "unknown structure id")
            lateral.append(
                LateralAngleRule(
                    rid,
                    sid,
                    r.number(f"{w}.max_medial_angle_deg", g.get("max_medial_angle_deg", 0.0), -90.0, 90.0),
                    severity,
                    r.message(f"{w}.message", g.get("message"), medial_deg=10.0),
                    source,
                )
            )

    w = "rules.contraindications"
    if "contraindications" not in cfg:
        raise r.err(w, None, "this section is required (a contraindication answered yes must count)")
    c = r.obj(w, cfg["contraindications"])
    items = r.obj(f"{w}.items", c.get("items"))
    contraindications: dict[str, ContraindicationRule] = {}
    for key in keys:
        if key not in items:
            raise r.err(f"{w}.items.{key}", None, "every checklist item needs its rule")
        it = r.obj(f"{w}.items.{key}", items[key])
        contraindications[key] = ContraindicationRule(
            key,
            r.severity(f"{w}.items.{key}.severity", it.get("severity"), ("danger", "caution")),
            r.message(f"{w}.items.{key}.message", it.get("message"), label="Needle phobia"),
            r.text(f"{w}.items.{key}.answer", it.get("answer")),
            r.text(f"{w}.items.{key}.source", it.get("source")),
        )
    for key in items:
        if key not in contraindications:
            raise r.err(f"{w}.items.{key}", key, f"unknown checklist item; known: {', '.join(keys)}")
    bleeding = None
    if "vessel_margin" in c:
        v = r.obj(f"{w}.vessel_margin", c["vessel_margin"])
        item = v.get("contraindication")
        if item not in contraindications:
            raise r.err(f"{w}.vessel_margin.contraindication", item, f"expected one of {', '.join(keys)}")
        kinds = v.get("kinds")
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            raise r.err(f"{w}.vessel_margin.kinds", kinds, "expected a list of structure kinds")
        bleeding = BleedingVesselRule(
            item,
            tuple(kinds),
            r.severity(f"{w}.vessel_margin.severity", v.get("severity"), ("danger", "caution")),
            r.message(f"{w}.vessel_margin.message", v.get("message"), label="Bleeding disorder"),
            r.text(f"{w}.vessel_margin.source", v.get("source")),
        )

    return Rules(
        needle_text=needle_text,
        shaft=shaft,
        bone_strike=bone,
        entry=entry,
        target=target,
        regional_depth=tuple(regional_depth),
        lateral_angle=tuple(lateral),
        near_line=tuple(near_line),
        contraindications=contraindications,
        bleeding_vessels=bleeding,
    )
