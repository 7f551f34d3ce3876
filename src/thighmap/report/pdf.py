"""The PDF report of a checked plan, for the clinician's file (no Qt).

Page 1: the plan (title, file, date, side, patient profile), the contraindication
checklist the plan records, and a summary line per needle. Then one page per needle: a
picture of the needle in the thigh, its status and key sentence, nearest danger structure
and clearance, maximum safe depth, the tissues it passes, and every finding. Every page
carries the not-a-medical-device line.

Drawn with matplotlib (TrueType fonts, so the text can be searched and read back).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import textwrap
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from thighmap import NOT_A_MEDICAL_DEVICE, __version__
from thighmap.anatomy.atlas_rules import Rules
from thighmap.atomic import atomic_destination
from thighmap.planning import CONTRAINDICATION_KEYS, CONTRAINDICATION_LABELS, Plan
from thighmap.safety import wording
from thighmap.safety.engine import SafetyModel
from thighmap.safety.report import NeedleReport, PlanReport
from thighmap.viz import scene

A4_IN = (8.27, 11.69)
_WRAP = 96  # characters per line of body text


def write_plan_report(
    plan: Plan,
    model: SafetyModel,
    out: str | os.PathLike[str],
    *,
    plan_path: str | None = None,
    report: PlanReport | None = None,
    pictures: bool = True,
    today: _dt.date | None = None,
) -> Path:
    """Check the plan on `model` (unless `report` is given) and write the PDF atomically."""
    report = report or model.check_plan(plan, plan_path=plan_path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt.rcParams["pdf.fonttype"] = 42
    plt.rcParams["font.family"] = "DejaVu Sans"
    plt.rcParams["text.usetex"] = False
    with atomic_destination(out) as partial, PdfPages(partial) as pdf:
        info = pdf.infodict()
        info["Title"] = "thighmap plan report: " + shown_text(
            plan.title or plan_path or "unsaved plan", MAX_TITLE_CHARS
        )
        info["Creator"] = f"thighmap {__version__}"
        pages = 1 + len(report.needles)
        first = _front_page(plan, report, plan_path, today or _dt.date.today(), pages, model.atlas.rules)
        pdf.savefig(first)
        plt.close(first)
        atlas = _display_atlas(model, plan.side)
        for k, nr in enumerate(report.needles):
            image = _needle_picture(atlas, nr) if pictures else None
            fig = _needle_page(nr, image, model, k + 2, pages)
            pdf.savefig(fig)
            plt.close(fig)
    return out


# ---------------------------------------------------------------------- text
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_TITLE_CHARS = 200  # a plan title or file name on a page (longer ones end in "…")
MAX_ID_CHARS = 60  # a needle id in a heading or a summary line
MAX_LINE_TEXT_CHARS = 4000  # any other text drawn (findings, notes)


def shown_text(text: object, limit: int = MAX_LINE_TEXT_CHARS, one_line: bool = True) -> str:
    """Text from a file made fit to draw: lone surrogates replaced by U+FFFD, byte-order
    marks and control characters dropped (tabs and, with ``one_line``, line breaks become
    spaces), cut to ``limit`` characters with an ellipsis. It is drawn with maths markup
    off (:func:`_text`), so ``$`` is a dollar sign."""
    s = str(text)[: limit + 1]
    if not s.isascii():
        s = _SURROGATE.sub("\ufffd", s)
    if not s.isprintable():
        kept = []
        for ch in s:
            if ch == "\n" and not one_line:
                kept.append(ch)
            elif ch in "\n\r\t":
                kept.append(" ")
            elif ch.isprintable() or (ch != "\ufeff" and unicodedata.category(ch) == "Cf"):
                kept.append(ch)
        s = "".join(kept)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _text(fig: Figure, x: float, y: float, text: str, **kw: object) -> None:
    """Draw text exactly as given: no maths markup (``$x$``), no TeX."""
    fig.text(x, y, shown_text(text, one_line=False), parse_math=False, usetex=False, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- pages
def _page(number: int, pages: int) -> Figure:
    fig = plt.figure(figsize=A4_IN)
    _text(fig, 0.07, 0.035, "\n".join(textwrap.wrap(NOT_A_MEDICAL_DEVICE, 110)), fontsize=7, color="#555555")
    _text(fig, 0.93, 0.035, f"page {number} of {pages}", fontsize=7, color="#555555", ha="right")
    return fig


def _lines(fig: Figure, y: float, lines: Sequence[tuple[str, dict]], step: float = 0.018) -> float:
    for text, kw in lines:
        for part in textwrap.wrap(text, kw.pop("wrap", _WRAP)) or [""]:
            _text(
                fig,
                0.07,
                y,
                part,
                fontsize=kw.get("fontsize", 9),
                **{k: v for k, v in kw.items() if k != "fontsize"},
            )
            y -= step
    return y


def _status_box(fig: Figure, x: float, y: float, status: str) -> None:
    _text(
        fig,
        x,
        y,
        f"  {wording.status_word(status)}  ",
        fontsize=13,
        weight="bold",
        color="white",
        ha="right",
        bbox={"facecolor": scene.STATUS_COLOURS[status], "edgecolor": "none", "boxstyle": "round,pad=0.35"},
    )


def _front_page(
    plan: Plan, report: PlanReport, plan_path: str | None, today: _dt.date, pages: int, rules: Rules
) -> Figure:
    fig = _page(1, pages)
    _text(fig, 0.07, 0.935, "thighmap plan report", fontsize=18, weight="bold")
    _status_box(fig, 0.93, 0.935, report.status)
    p = plan.patient
    if p is None:
        patient = "reference adult of the atlas (no patient profile: full positional uncertainty)"
    else:
        parts = [
            f"thigh length {p.thigh_length_mm:.0f} mm" if p.thigh_length_mm else None,
            f"mid-thigh circumference {p.mid_thigh_circumference_mm:.0f} mm"
            if p.mid_thigh_circumference_mm
            else None,
            f"posterior subcutaneous fat {p.subcutaneous_fat_mm:.0f} mm" if p.subcutaneous_fat_mm else None,
            f"sex {p.sex}" if p.sex else None,
        ]
        patient = ", ".join(x for x in parts if x) + " (the atlas was fitted to this profile)"
    y = _lines(
        fig,
        0.88,
        [
            (
                f"Plan: {shown_text(plan.title or '(untitled)', MAX_TITLE_CHARS)}",
                {"fontsize": 11, "weight": "bold"},
            ),
            (f"File: {shown_text(plan_path or 'not saved', MAX_TITLE_CHARS)}", {}),
            (f"Date of report: {today.isoformat()}    thighmap {__version__}", {}),
            (f"Side: {plan.side} thigh    Needles: {len(report.needles)}", {}),
            (f"Patient: {patient}", {}),
        ],
    )
    y -= 0.02
    _text(fig, 0.07, y, "Contraindication checklist (as recorded in the plan)", fontsize=11, weight="bold")
    y -= 0.025
    recorded = plan.contraindications
    rows = []
    for key in CONTRAINDICATION_KEYS:
        answer = wording.contraindication_answer(rules, key, recorded)
        rows.append((f"{CONTRAINDICATION_LABELS.get(key, key)}: {answer}", {}))
    rows += [(wording.finding_line(f), {}) for f in report.findings]
    y = _lines(fig, y, rows)
    if recorded is None:
        y = _lines(
            fig, y, [("The plan records no checklist: ask and record before treatment.", {"style": "italic"})]
        )
    y -= 0.02
    _text(fig, 0.07, y, "Needles", fontsize=11, weight="bold")
    y -= 0.025
    for nr in report.needles:
        y = _lines(
            fig,
            y,
            [
                (
                    f"{shown_text(nr.id, MAX_ID_CHARS)}: {wording.status_word(nr.status)} - nearest danger "
                    f"{wording.nearest_danger_text(nr)}; "
                    + (
                        f"nearest caution structure {wording.nearest_caution_text(nr)}; "
                        if nr.nearest_caution is not None
                        else ""
                    )
                    + f"max safe depth {wording.max_safe_text(nr)}, planned {wording.depth_text(nr)}",
                    {},
                )
            ],
        )
    y -= 0.02
    _lines(
        fig,
        y,
        [
            (
                "How to read this report: clearances are the shortest distances between the needle (a "
                "cylinder of its gauge from entry to tip) and each nerve or vessel of the model; a danger "
                "zone is the structure grown by the published spread of its position, a caution margin "
                "surrounds it. Caution structures (cutaneous nerves, superficial veins) are measured the "
                "same way, but reaching one or its margin is a caution, never a danger. The model is an "
                "average anatomy fitted to a few measurements: real anatomy varies, and the evidence "
                "for dry needling is limited and mostly short-term.",
                {"color": "#333333"},
            )
        ],
        step=0.016,
    )
    return fig


def _needle_page(
    nr: NeedleReport, image: np.ndarray | None, model: SafetyModel, number: int, pages: int
) -> Figure:
    fig = _page(number, pages)
    _text(fig, 0.07, 0.935, f"Needle {shown_text(nr.id, MAX_ID_CHARS)}", fontsize=16, weight="bold")
    _status_box(fig, 0.93, 0.935, nr.status)
    y = _lines(fig, 0.9, [(nr.key_sentence(), {"fontsize": 10, "weight": "bold"})], step=0.02)
    if image is not None:
        ax = fig.add_axes((0.07, y - 0.39, 0.42, 0.38))
        ax.imshow(image)
        ax.set_axis_off()
        _text(
            fig,
            0.07,
            y - 0.405,
            "Seen from the side of the needle; skin translucent.",
            fontsize=7,
            color="#555555",
        )
    facts = [
        ("Target", nr.name(nr.target) if nr.target else "not stated"),
        ("Entry (mm)", ", ".join(f"{v:.1f}" for v in nr.entry_mm)),
        ("Depth", wording.depth_text(nr)),
        ("Nearest danger", wording.nearest_danger_text(nr)),
        *(
            [
                (
                    "Caution structures (role: caution)",
                    wording.caution_clearances_text(nr),
                )
            ]
            if nr.caution_structures
            else []
        ),
        ("Max safe depth", wording.max_safe_text(nr)),
        ("Tip lies in", wording.tip_text(nr)),
    ]
    fx = 0.52 if image is not None else 0.07
    fy = y - 0.01
    for label, value in facts:
        _text(fig, fx, fy, label, fontsize=8, color="#555555")
        for part in textwrap.wrap(value, 44 if image is not None else _WRAP):
            fy -= 0.016
            _text(fig, fx, fy, part, fontsize=9)
        fy -= 0.022
    y = min(y - 0.43, fy) if image is not None else fy
    _text(fig, 0.07, y, "Tissues along the needle (depth from the skin)", fontsize=11, weight="bold")
    y -= 0.022
    rows = [
        (f"{t.enter_mm:6.1f} - {t.exit_mm:6.1f} mm   {nr.name(t.structure)}", {"family": "DejaVu Sans Mono"})
        for t in nr.tissues
    ]
    y = _lines(fig, y, rows or [("none (the needle stays outside the model)", {})], step=0.016)
    y -= 0.015
    _text(fig, 0.07, y, "Findings", fontsize=11, weight="bold")
    y -= 0.022
    rows = [(wording.finding_line(f), {}) for f in nr.findings]
    _lines(fig, y, rows or [(wording.NO_FINDING, {})], step=0.016)
    return fig


# ---------------------------------------------------------------------- pictures
def _display_atlas(model: SafetyModel, side: str):  # type: ignore[no-untyped-def]
    from thighmap.anatomy.mirror import atlas_on_side

    return atlas_on_side(model.atlas, side)


def _needle_picture(atlas, nr: NeedleReport, size: tuple[int, int] = (640, 640)) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The needle in the thigh, seen from the side (perpendicular to the needle and as
    close to the thigh's long axis view as possible), zoomed on the needle."""
    import pyvista as pv

    from thighmap.viz.needles import needle_actors_for_report
    from thighmap.viz.render import add_atlas

    pl = pv.Plotter(off_screen=True, window_size=list(size))
    try:
        pl.set_background("#20242b", top="#3a4150")
        pl.enable_lightkit()
        add_atlas(pl, atlas, hidden={"subcutaneous_fat"})
        for data, kw in needle_actors_for_report(nr):
            pl.add_mesh(data, **kw)
        d = scene.to_display(nr.direction[None])[0]
        mid = scene.to_display(((nr.entry_mm + nr.tip_mm) / 2)[None])[0]
        side = np.cross(d, [0.0, 0.0, 1.0])
        if np.linalg.norm(side) < 1e-6:
            side = np.array([1.0, 0.0, 0.0])
        view = side / np.linalg.norm(side)
        if view[1] < 0:  # prefer looking from behind the thigh
            view = -view
        distance = max(nr.needle_length_mm, 60.0) * 5.0
        pl.camera.focal_point = tuple(mid)
        pl.camera.position = tuple(mid + view * distance)
        pl.camera.up = (0.0, 0.0, 1.0)
        pl.camera.view_angle = 30.0
        pl.reset_camera_clipping_range()
        return np.asarray(pl.screenshot(return_img=True))
    finally:
        pl.close()
