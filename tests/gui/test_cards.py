"""Information cards in plain words, with a readable danger box (WCAG contrast)."""

from __future__ import annotations

import html
import re

import pytest

from thighmap.gui.cards import (
    DANGER_BOX_BG,
    DANGER_BOX_FG,
    MIN_CONTRAST,
    contrast_ratio,
    plain_text,
    structure_card_html,
)

MAINTAINER_WORDS = re.compile(
    r"\b[a-z]+_[a-z0-9_]+\b|\b[a-z]+\d{4}[a-z]?\b|\btested\b|\bsize_checks\b|tests/"
)


def _text(card: str) -> str:
    """The card's words, without its reference list (quoted verbatim, URLs and all)."""
    body = re.sub(r"<ol>.*</ol>", " ", card, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the textbook grey
    assert contrast_ratio("#000000", "#3a2a2a") < MIN_CONTRAST  # the old box: black on dark maroon


def test_the_danger_box_is_readable(atlas) -> None:  # type: ignore[no-untyped-def]
    card = structure_card_html(atlas, "common_fibular_nerve")
    box = re.search(r"bgcolor='(#[0-9a-fA-F]{6})'.*?<td style='color:(#[0-9a-fA-F]{6})'>", card)
    assert box is not None, "the danger box sets its own ground and text colours"
    bg, fg = box.groups()
    assert contrast_ratio(fg, bg) >= MIN_CONTRAST
    assert (bg, fg) == (DANGER_BOX_BG, DANGER_BOX_FG) and contrast_ratio(fg, bg) >= 7.0  # even AAA
    assert structure_card_html(atlas, "semitendinosus").count("bgcolor") == 0  # no box on a muscle


@pytest.mark.parametrize(
    "sid", ["biceps_femoris_long_head", "semitendinosus", "sciatic_nerve", "popliteal_vein", "femur"]
)
def test_cards_speak_plainly(atlas, sid: str) -> None:  # type: ignore[no-untyped-def]
    text = _text(structure_card_html(atlas, sid))
    assert not MAINTAINER_WORDS.findall(text), MAINTAINER_WORDS.findall(text)
    assert atlas.structures[sid].name in text


def test_every_card_speaks_plainly_and_lists_what_it_cites(atlas) -> None:  # type: ignore[no-untyped-def]
    for sid in atlas.structures:
        card = structure_card_html(atlas, sid)
        text = _text(card)
        assert not MAINTAINER_WORDS.findall(text), (sid, MAINTAINER_WORDS.findall(text))
        if "et al." in text or "References" in text:
            assert "<ol>" in card


def test_plain_text_rewrites_a_maintainer_note(atlas) -> None:  # type: ignore[no-untyped-def]
    note = (
        "Measured on the mesh (size_checks, tested): 11.1 cm2 at z = 220 mm, "
        "13.6 +/- 2.2 cm2 (chan2006), as femoral_artery"
    )
    cited: list[str] = []
    out = plain_text(note, atlas, cited)
    assert out == (
        "Measured on the mesh (checked by the program's tests): 11.1 cm² at 220 mm above the knee, "
        "13.6 ± 2.2 cm² (Chan et al. 2006), as femoral artery"
    )
    assert cited == ["chan2006"]


def test_the_window_shows_the_plain_card(window) -> None:  # type: ignore[no-untyped-def]
    window.show_info("structure", "sciatic_nerve")
    text = window.info.toPlainText()
    assert "Keep the needle away from this nerve" in text and "danger zone" in text
    assert not MAINTAINER_WORDS.findall(text)
