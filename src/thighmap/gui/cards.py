"""The information card of a structure, in plain sentences (HTML for the Information
panel; no Qt here, so it is tested without a window).

The atlas's source notes are written for maintainers ("Measured on the mesh
(size_checks, tested)", "chan2006", "z = 220 mm", "femoral_artery"). The card says the
same in words a student or a clinician reads without the code: citation keys become
"Chan et al. 2006" with the full reference listed at the end, heights become "220 mm
above the knee", ids become names, and test names become "checked by the program's
tests".

The danger box has its own colours, dark red text on a pale red ground, and the caution
box of a caution structure (a cutaneous nerve, a superficial vein) dark brown on pale
amber; the WCAG 2 contrast ratio of both is well above the 4.5:1 the guidelines ask of
body text.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from thighmap.viz import scene

DANGER_BOX_BG = "#fdecea"
DANGER_BOX_FG = "#5f1010"
DANGER_BOX_BORDER = "#d7263d"
CAUTION_BOX_BG = "#fdf3e0"
CAUTION_BOX_FG = "#4d3200"
CAUTION_BOX_BORDER = "#e8a317"
MIN_CONTRAST = 4.5  # WCAG 2.x, level AA, normal text

KIND_WORDS = {
    "muscle": "A muscle",
    "tendon": "A tendon",
    "bone": "A bone",
    "nerve": "A nerve",
    "artery": "An artery",
    "vein": "A vein",
    "skin": "The skin",
    "fat": "The fat under the skin",
    "fascia": "A fascia (a sheet of connective tissue)",
}
ROLE_WORDS = {
    "target": "one of the muscles this program plans needles into.",
    "danger": "a danger structure: a needle must stay clear of it.",
    "caution": (
        "a caution structure: touching it is not dangerous but can cause numbness, tingling or "
        "a bruise; the check warns (a caution, never a danger) when a needle comes within its margin."
    ),
    "context": "shown to find your way; the check names it when a needle passes through it.",
}
SOURCE_HEADINGS = {
    "source": "Where its shape comes from",
    "course_source": "Where its course comes from",
    "radius_source": "Where its thickness comes from",
    "section_source": "Where its width and thickness come from",
}
_CITATION = re.compile(r"\b([a-z]+)(\d{4})([a-z]?)\b")
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
_HEIGHT = re.compile(r"\bz = (-?\d+(?:\.\d+)?(?:\s*-\s*-?\d+(?:\.\d+)?)?) mm\b")


# ---------------------------------------------------------------------- contrast
def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of "#rrggbb"."""
    r, g, b = (int(colour.lstrip("#")[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio (1 to 21) of two "#rrggbb" colours."""
    a, b = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# ---------------------------------------------------------------------- plain words
def citation_name(key: str, sources: dict[str, str]) -> str | None:
    """ "chan2006" -> "Chan et al. 2006" from the atlas's source table (None if unknown)."""
    m = _CITATION.fullmatch(key)
    if m is None or key not in sources:
        return None
    authors = str(sources[key]).split(",")[0].split(";")[0].strip()
    year = f"{m.group(2)}{m.group(3)}"
    return authors if m.group(2) in authors else f"{authors} {year}"  # "Ann Rehabil Med 2016"


def plain_text(text: str, atlas: Any, cited: list[str] | None = None) -> str:
    """A maintainer's note in plain words (see the module's text). Keys of the sources
    it cites are appended to `cited`, in order, once each."""
    sources = dict(getattr(atlas, "document", {}).get("sources", {}) or {})
    structures = getattr(atlas, "structures", {})
    out = text.replace("(size_checks, tested)", "(checked by the program's tests)")
    out = out.replace("size_checks", "the program's size checks")
    out = re.sub(r"\bTests?: (?:tests/)?test_[a-z_]+(?:\.py)?", "Checked by the program's tests", out)
    out = re.sub(r"\b(?:tests/)?test_[a-z_]+(?:\.py)?", "the program's tests", out)
    out = re.sub(r"^chosen:\s*", "Chosen for this model: ", out)
    out = re.sub(r"^refs_[a-z_]+:\s*", "", out)

    def cite(m: re.Match[str]) -> str:
        key = m.group(0)
        name = citation_name(key, sources)
        if name is None:
            return key
        if cited is not None and key not in cited:
            cited.append(key)
        return name

    out = _CITATION.sub(cite, out)

    def name_of(m: re.Match[str]) -> str:
        sid = m.group(0)
        st = structures.get(sid)
        return st.name.lower() if st is not None else sid.replace("_", " ")

    out = _SNAKE.sub(name_of, out)
    out = _HEIGHT.sub(lambda m: f"{m.group(1).replace(' ', '')} mm above the knee", out)
    return _units(out)


def _units(text: str) -> str:
    text = text.replace("+/-", "±")
    return re.sub(r"\b(mm|cm)([23])\b", lambda m: m.group(1) + {"2": "²", "3": "³"}[m.group(2)], text)


# ---------------------------------------------------------------------- the card
def _danger_box(thing: str, unc: str, who: str, margin_mm: float) -> str:
    return (
        f"<table width='100%' cellpadding='6' cellspacing='0' bgcolor='{DANGER_BOX_BG}' "
        f"style='border:1px solid {DANGER_BOX_BORDER}'><tr><td style='color:{DANGER_BOX_FG}'>"
        f"<b>Keep the needle away from this {thing}.</b><br>"
        f"Where it lies varies from person to person, so the check treats it as {unc} "
        f"larger on every side ({who}): its <b>danger zone</b>. A needle that reaches the "
        f"zone is a <b>danger</b>; one that comes within a further "
        f"{margin_mm:.0f} mm of it is a <b>caution</b>.</td></tr></table>"
    )


def _caution_box(thing: str, unc: str, who: str, margin_mm: float) -> str:
    return (
        f"<table width='100%' cellpadding='6' cellspacing='0' bgcolor='{CAUTION_BOX_BG}' "
        f"style='border:1px solid {CAUTION_BOX_BORDER}'><tr><td style='color:{CAUTION_BOX_FG}'>"
        f"<b>Take care near this {thing}: a caution, not a danger.</b><br>"
        f"Where it lies varies from person to person, so the check treats it as {unc} "
        f"larger on every side ({who}): its <b>caution zone</b>. A needle that reaches the "
        f"zone, or comes within a further {margin_mm:.0f} mm of it, is a <b>caution</b> "
        f"with its own finding; it never makes the needle a danger.</td></tr></table>"
    )


def _esc(value: Any) -> str:
    return html.escape(str(value))


def structure_card_html(atlas: Any, sid: str) -> str:
    st = atlas.structures.get(sid)
    if st is None:
        return ""
    colour = scene.colour_of(st)
    cited: list[str] = []
    kind = KIND_WORDS.get(st.kind, f"A {st.kind}")
    role = ROLE_WORDS.get(st.role, f"role: {st.role}.")
    rows = [
        f"<h3 style='margin-bottom:2px'><span style='color:{colour}'>■</span> {_esc(st.name)}</h3>",
        f"<p style='margin-top:0'>{_esc(kind)}, {_esc(role)}</p>",
    ]
    table = [
        f"<tr><td valign='top'><b>{key.capitalize()}</b></td><td>{_esc(st.info[key])}</td></tr>"
        for key in ("origin", "insertion", "innervation", "action")
        if st.info.get(key)
    ]
    if table:
        rows.append("<table cellspacing='3'>" + "".join(table) + "</table>")
    if st.info.get("description"):
        rows.append(f"<p>{_esc(plain_text(str(st.info['description']), atlas, cited))}</p>")
    if st.safety is not None:
        sf = st.safety
        fitted = bool(getattr(atlas, "fitted", False))
        vals = sf.uncertainty_fitted_mm if fitted else sf.uncertainty_reference_mm
        lo, hi = float(min(vals)), float(max(vals))
        unc = f"{lo:.0f} mm" if math.isclose(lo, hi) else f"{lo:.0f} to {hi:.0f} mm"
        who = "this patient's fitted model" if fitted else "the reference adult"
        thing = {"nerve": "nerve", "artery": "artery", "vein": "vein"}.get(st.kind, "structure")
        box = _caution_box if st.role == "caution" else _danger_box
        rows.append(box(thing, unc, who, sf.caution_margin_mm))
        rows.append(
            f"<p><small><b>Why the zone is {unc} wide:</b> "
            f"{_esc(plain_text(sf.uncertainty_source, atlas, cited))}<br>"
            f"<b>Why the caution margin is {sf.caution_margin_mm:.0f} mm:</b> "
            f"{_esc(plain_text(sf.caution_margin_source, atlas, cited))}</small></p>"
        )
    for key, heading in SOURCE_HEADINGS.items():
        if st.info.get(key):
            rows.append(
                f"<p><small><b>{heading}:</b> {_esc(plain_text(str(st.info[key]), atlas, cited))}</small></p>"
            )
    if cited:
        sources = getattr(atlas, "document", {}).get("sources", {})
        refs = "".join(f"<li>{_esc(_units(str(sources[k])))}</li>" for k in cited)
        rows.append(f"<p><small><b>References</b></small></p><ol><small>{refs}</small></ol>")
    return "".join(rows)
