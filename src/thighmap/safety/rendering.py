"""A plan's report as text or JSON without holding every needle's report at once.

`thighmap check` of a large plan used to build every NeedleReport, then the JSON
document of all of them, then its text: a 100,000-needle plan took more than 2 GB. Here
each needle's report is rendered as soon as it is checked and only its text is kept,
and the report is written out piece by piece (never joined into one string);
the plan's frame (heading, status, disclaimer, the JSON keys) still comes from
PlanReport itself, given stand-ins that carry each needle's status and rendered text, so
the output is the same, byte for byte, as PlanReport.to_text() or
json.dumps(PlanReport.to_json(), indent=2) (tests/test_prefetch.py compares them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

from thighmap.safety.report import Finding, NeedleReport, PlanReport

# What a stand-in gives for its text and JSON: NUL cannot appear in anything else the frame
# holds (paths, the disclaimer), so it marks exactly where the needles go.
_MARK = "\x00thighmap-needle\x00"
_MARK_JSON = json.dumps(_MARK)


class _Rendered:
    """A needle's report reduced to its status and its rendered text; in the frame it
    stands as a mark, where the text goes."""

    __slots__ = ("status", "text")

    def __init__(self, status: str, text: str) -> None:
        self.status = status
        self.text = text

    def to_text(self) -> str:
        return _MARK

    def to_json(self) -> str:
        return _MARK


def render_plan_report(
    reports: Iterable[NeedleReport],
    *,
    plan_path: str | None,
    side: str,
    patient_fitted: bool,
    as_json: bool,
    findings: Sequence[Finding] = (),
) -> tuple[Iterator[str], str]:
    """(the pieces of the report's text, the plan's status) for the needle reports,
    consumed one by one; written one after the other, the pieces are the report."""
    rendered = [
        _Rendered(r.status, json.dumps(r.to_json(), indent=2) if as_json else r.to_text()) for r in reports
    ]
    frame = PlanReport(plan_path, side, rendered, patient_fitted, list(findings))  # type: ignore[arg-type]
    if as_json:
        pieces = json.dumps(frame.to_json(), indent=2).split(_MARK_JSON)
    else:
        pieces = frame.to_text().split(_MARK)
    if len(pieces) != len(rendered) + 1:
        raise AssertionError("PlanReport no longer renders each needle's report once")
    return _interleave(pieces, rendered, as_json), frame.status


def _interleave(pieces: list[str], rendered: list[_Rendered], as_json: bool) -> Iterator[str]:
    yield pieces[0]
    for r, before, after in zip(rendered, pieces, pieces[1:], strict=False):
        if as_json:  # nested in the list: every line after the first at the list's indent
            yield r.text.replace("\n", "\n" + before[before.rfind("\n") + 1 :])
        else:
            yield r.text
        yield after
