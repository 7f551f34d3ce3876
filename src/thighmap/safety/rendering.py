"""A plan's report as text or JSON without holding every needle's report at once.

`thighmap check` of a large plan used to build every NeedleReport, then the JSON
document of all of them, then its text: a 100,000-needle plan took more than 2 GB. Here
each needle's report is rendered as soon as it is checked and only its text is kept;
the plan's frame (heading, status, disclaimer, the JSON keys) still comes from
PlanReport itself, given stand-ins that carry each needle's status and rendered text, so
the output is the same, byte for byte, as PlanReport.to_text() or
json.dumps(PlanReport.to_json(), indent=2) (tests/test_prefetch.py compares them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from thighmap.safety.report import NeedleReport, PlanReport

# What a stand-in gives for its JSON: NUL cannot appear in anything else the frame holds
# (paths, the disclaimer), so its encoded form marks exactly where the needles go.
_MARK = "\x00thighmap-needle\x00"
_MARK_JSON = json.dumps(_MARK)


class _Rendered:
    """A needle's report reduced to its status and its rendered text."""

    __slots__ = ("status", "text")

    def __init__(self, status: str, text: str) -> None:
        self.status = status
        self.text = text

    def to_text(self) -> str:
        return self.text

    def to_json(self) -> str:
        return _MARK


def render_plan_report(
    reports: Iterable[NeedleReport],
    *,
    plan_path: str | None,
    side: str,
    patient_fitted: bool,
    as_json: bool,
) -> tuple[str, str]:
    """(the report's text, the plan's status) for the needle reports, consumed one by one."""
    rendered = [
        _Rendered(r.status, json.dumps(r.to_json(), indent=2) if as_json else r.to_text()) for r in reports
    ]
    frame = PlanReport(plan_path, side, rendered, patient_fitted)  # type: ignore[arg-type]
    if not as_json:
        return frame.to_text(), frame.status
    pieces = json.dumps(frame.to_json(), indent=2).split(_MARK_JSON)
    if len(pieces) != len(rendered) + 1:  # the frame changed shape: render it whole
        raise AssertionError("PlanReport.to_json no longer lists the needles' reports")
    out = [pieces[0]]
    for r, after in zip(rendered, pieces[1:], strict=True):
        indent = out[-1][out[-1].rfind("\n") + 1 :]  # the needle's place in the list
        out.append(r.text.replace("\n", "\n" + indent))
        out.append(after)
    return "".join(out), frame.status
