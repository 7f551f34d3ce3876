"""The words of a safety check, in one place: the text report, the window's Safety panel
and the PDF report all print a needle's verdict, findings and figures through these
functions, so the three never say different things.

The sentences of the atlas rules themselves are in landmarks.json ("rules"); the
sentences of the danger-zone and caution-structure rules are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thighmap.anatomy.atlas_rules import Rules
    from thighmap.safety.report import Finding, NeedleReport, TissueSpan

NO_STRUCTURE = "no modelled structure (connective tissue)"
NO_FINDING = "No rule fired."
NOT_RECORDED = "not recorded"


def status_word(status: str) -> str:
    """The verdict as the badge and the headings print it."""
    return status.upper()


def finding_parts(finding: Finding) -> tuple[str, str]:
    """A finding's tag (its severity in brackets) and its sentence."""
    return f"[{finding.severity}]", finding.message


def finding_line(finding: Finding) -> str:
    """One finding as a line: its tag, then its sentence."""
    return " ".join(finding_parts(finding))


def danger_zone_message(name: str, clearance_mm: float, stop_mm: float) -> str:
    inside = (
        f"it enters the modelled structure by {-clearance_mm:.1f} mm."
        if clearance_mm < 0
        else f"it passes {clearance_mm:.1f} mm from the modelled structure."
    )
    return (
        f"The needle enters the danger zone of the {name} (the structure grown by its positional "
        f"uncertainty): {inside} Stop short of {stop_mm:.1f} mm on this line or change the angle."
    )


def caution_margin_message(
    name: str, margin_mm: float, zone_mm: float, clearance_mm: float, clear_to_mm: float
) -> str:
    return (
        f"The needle comes within the {margin_mm:.0f} mm caution margin of the {name}'s danger zone "
        f"({zone_mm:.1f} mm from the zone, {clearance_mm:.1f} mm from the structure). On this line it is "
        f"clear only down to {clear_to_mm:.1f} mm."
    )


# What touching a caution structure risks, and what to do, by the structure's kind: a
# cutaneous nerve's contact is unpleasant and passes, a superficial vessel's puncture
# bruises. Careful wording: these are risks, not certainties.
_CAUTION_RISK = {
    "nerve": (
        "a cutaneous nerve",
        "Touching it may cause a sharp or electric pain and tingling or numbness (paraesthesia) "
        "in the skin it supplies, usually brief.",
        "Redirect the needle or insert beside the nerve; if the patient reports an electric or "
        "spreading sensation, withdraw slightly and change the angle.",
    ),
    "vein": (
        "a superficial vein",
        "Puncturing it may cause bruising or a haematoma.",
        "Insert beside the vein, or redirect the needle; after withdrawing, press on the site "
        "for a minute or two.",
    ),
    "artery": (
        "a superficial artery",
        "Puncturing it may cause bleeding and a haematoma.",
        "Redirect the needle or insert beside the artery; after withdrawing, press firmly on the "
        "site for several minutes.",
    ),
}
_CAUTION_RISK_OTHER = (
    "a caution structure",
    "Contact with it is best avoided.",
    "Redirect the needle or insert beside it.",
)


def caution_structure_message(
    name: str,
    kind: str,
    margin_mm: float,
    zone_mm: float,
    clearance_mm: float,
    clear_to_mm: float,
    *,
    bleeding: bool = False,
) -> str:
    """The sentence of the caution_structure finding: the needle touches a caution
    structure (a cutaneous nerve, a superficial vein), its zone (the structure grown by
    its positional uncertainty) or its caution margin. Its `kind` chooses the words."""
    what, risk, advice = _CAUTION_RISK.get(kind, _CAUTION_RISK_OTHER)
    uncertainty_mm = max(clearance_mm - zone_mm, 0.0)
    if clearance_mm < 0:
        where = f"The needle enters the {name} ({what}) by {-clearance_mm:.1f} mm."
    elif zone_mm < 0:
        where = (
            f"The needle passes {clearance_mm:.1f} mm from the {name} ({what}), closer than its "
            f"positional uncertainty of {uncertainty_mm:.1f} mm: it may touch it."
        )
    else:
        where = (
            f"The needle passes {clearance_mm:.1f} mm from the {name} ({what}), within its "
            f"{margin_mm:.0f} mm caution margin ({zone_mm:.1f} mm beyond its positional "
            f"uncertainty of {uncertainty_mm:.1f} mm)."
        )
    text = f"{where} {risk} {advice} On this line it is clear only down to {clear_to_mm:.1f} mm."
    if bleeding and kind in ("vein", "artery"):
        text += (
            " A bleeding disorder or anticoagulation is recorded: a bruise is more likely and "
            "larger, so keep well clear and press longer."
        )
    return text


def key_sentence(report: NeedleReport) -> str:
    """The one line a student reads first."""
    nd = report.nearest_danger
    if report.status == "danger":
        zone = next((f for f in report.findings if f.rule == "danger_zone"), None)
        if zone is not None and nd is not None and zone.structure == nd.structure:
            where = (
                f"it enters the structure itself by {-nd.clearance_mm:.1f} mm"
                if nd.clearance_mm < 0
                else f"{nd.clearance_mm:.1f} mm from the structure itself"
            )
            return (
                f"DANGER: the needle reaches the danger zone of the {report.name(nd.structure)} "
                f"({where}). Stop at {report.max_safe_depth_mm:.1f} mm or change the angle."
            )
        first = next((f for f in report.findings if f.severity == "danger"), None)
        return f"DANGER: {first.message if first else 'a danger rule fired'}"
    if report.status == "caution":
        first = next((f for f in report.findings if f.severity == "caution"), None)
        return f"CAUTION: {first.message if first else 'a caution rule fired'}"
    nc = report.nearest_caution
    # a caution structure nearer than every danger structure is named too
    also = (
        f" (nearest caution structure: the {report.name(nc.structure)}, {nc.clearance_mm:.1f} mm away)"
        if nc is not None and (nd is None or nc.clearance_mm < nd.clearance_mm)
        else ""
    )
    if nd is not None:
        return (
            f"SAFE: nearest danger structure is the {report.name(nd.structure)}, "
            f"{nd.clearance_mm:.1f} mm away{also}; the trajectory stays clear down to "
            f"{report.max_safe_depth_mm:.1f} mm."
        )
    return f"SAFE: no danger structure near this trajectory{also}."


def nearest_danger_text(report: NeedleReport) -> str:
    nd = report.nearest_danger
    if nd is None:
        return "none near this trajectory"
    return (
        f"{report.name(nd.structure)}: {nd.clearance_mm:.1f} mm (danger zone {nd.zone_clearance_mm:+.1f} mm) "
        f"at {nd.depth_on_needle_mm:.1f} mm along the needle"
    )


def nearest_caution_text(report: NeedleReport) -> str:
    """The nearest caution structure (a cutaneous nerve, a superficial vein) and its
    clearance; its zone is a caution, never a danger."""
    nc = report.nearest_caution
    if nc is None:
        return "none in this atlas"
    return (
        f"{report.name(nc.structure)}: {nc.clearance_mm:.1f} mm "
        f"(caution zone {nc.zone_clearance_mm:+.1f} mm) at {nc.depth_on_needle_mm:.1f} mm along the needle"
    )


def caution_clearances_text(report: NeedleReport) -> str:
    """The clearance of every caution structure (a cutaneous nerve, a superficial vein:
    touching one is a caution, never a danger), nearest first ('' if the atlas has none)."""
    ids = sorted(report.caution_structures, key=lambda sid: report.clearances_mm[sid])
    return "; ".join(f"{report.name(sid)} {report.clearances_mm[sid]:.1f} mm" for sid in ids)


_LIMIT_WORDS = {
    "shaft_outside_skin": "the shaft rule, which keeps part of the needle outside the skin",
}


def limited_by_text(report: NeedleReport) -> str:
    """What sets the maximum safe depth, as words ('' if nothing within the needle's length)."""
    rule = report.limiting_rule
    if rule is None:
        return ""
    if rule in ("caution_margin", "danger_zone") and report.limiting_structure:
        return f"the caution margin of the {report.name(report.limiting_structure)}"
    if rule == "caution_structure" and report.limiting_structure:
        return f"the caution margin of the {report.name(report.limiting_structure)} (a caution structure)"
    if rule == "bone_strike" and report.limiting_structure:
        return f"the {report.name(report.limiting_structure)} (bone)"
    return _LIMIT_WORDS.get(rule, f"the regional depth limit: {rule.replace('_', ' ')}")


def max_safe_text(report: NeedleReport) -> str:
    limit = limited_by_text(report)
    return f"{report.max_safe_depth_mm:.1f} mm" + (f" (limited by {limit})" if limit else "")


def tip_text(report: NeedleReport) -> str:
    return report.name(report.tip_in) if report.tip_in else NO_STRUCTURE


def depth_text(report: NeedleReport) -> str:
    return (
        f"{report.depth_mm:.1f} mm of a {report.needle_length_mm:.0f} mm needle, "
        f"gauge {report.gauge_mm:.2f} mm"
    )


def tissue_row(report: NeedleReport, span: TissueSpan) -> str:
    return f"{span.enter_mm:6.1f} - {span.exit_mm:6.1f} mm  {report.name(span.structure)}"


def contraindication_answer(rules: Rules, key: str, recorded: Mapping[str, bool] | None) -> str:
    """What a report prints after a checklist item: the rule's answer for yes."""
    if recorded is None or key not in recorded:
        return NOT_RECORDED
    if not recorded[key]:
        return "no"
    rule = rules.contraindications.get(key)
    return rule.answer if rule is not None else "YES"
