"""The plan document: the plan being edited, its file, the selected needle, its check
results and whether it has unsaved changes, with signals (psygnal) the views listen to.

No Qt here. The window keeps its undo stack (Qt's) and sets the plan through
:meth:`PlanDocument.set_plan`; everything that shows the plan (3D view, panels,
cross-section, status bar) subscribes to :attr:`PlanDocument.plan_changed` and
:attr:`PlanDocument.selection_changed` instead of being updated by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from psygnal import Signal

from thighmap.planning.edits import next_selection
from thighmap.planning.model import Needle, Plan

log = logging.getLogger("thighmap.planning")

Checker = Callable[[Plan], dict[str, Any]]

STATUS_ORDER = ("safe", "caution", "danger")


class CheckUnavailable(RuntimeError):
    """A checker raises this when it cannot check at all (no engine): its message is shown
    as the reason, without a traceback in the log."""


class PlanDocument:
    """One open plan and what goes with it.

    ``checker`` maps a plan to its needle reports by needle id (the window passes the
    core session's cached check); without one the document holds no reports.
    """

    plan_changed = Signal(object, object)  # (new plan, previous plan); reports are current
    selection_changed = Signal(object)  # the selected needle id or None (plan unchanged)
    path_changed = Signal(object)  # the file path or None
    dirty_changed = Signal(bool)

    def __init__(self, checker: Checker | None = None) -> None:
        self._checker = checker
        self.plan: Plan = Plan()
        self.path: str | None = None
        self.selected: str | None = None
        self.reports: dict[str, Any] = {}
        self.check_error: str | None = None
        self.dirty = False
        self.check_s = 0.0  # how long the last check took

    # ------------------------------------------------------------------ changes
    def set_plan(self, plan: Plan, select: str | None = None) -> None:
        """Make ``plan`` current: select ``select`` (or keep the selection, or the first
        needle), re-check, and tell the views."""
        old = self.plan
        self.plan = plan
        self.selected = next_selection(plan, select, self.selected)
        t0 = time.perf_counter()
        self._recheck()
        self.check_s = time.perf_counter() - t0
        self.plan_changed.emit(plan, old)

    def open(self, plan: Plan, path: str | None) -> None:
        """A new document: another plan from a file (or none), saved as it is."""
        self.selected = None
        self.set_path(path)
        self.set_plan(plan, plan.needles[0].id if plan.needles else None)
        self.set_dirty(False)

    def select(self, needle_id: str | None) -> None:
        if needle_id is not None and needle_id not in {n.id for n in self.plan.needles}:
            raise KeyError(needle_id)
        if needle_id != self.selected:
            self.selected = needle_id
            self.selection_changed.emit(needle_id)

    def set_path(self, path: str | None) -> None:
        if path != self.path:
            self.path = path
            self.path_changed.emit(path)

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)

    def _recheck(self) -> None:
        self.check_error = None
        if self._checker is None:
            self.reports = {}
            return
        try:
            self.reports = dict(self._checker(self.plan))
        except CheckUnavailable as exc:
            self.reports = {}
            self.check_error = str(exc)
        except Exception as exc:  # a failing check must be visible, never silent
            log.exception("safety check failed")
            self.reports = {}
            self.check_error = f"The safety check failed: {exc}"

    # ------------------------------------------------------------------ questions
    def selected_needle(self) -> Needle | None:
        if self.selected is None:
            return None
        try:
            return self.plan.needle(self.selected)
        except KeyError:
            return None

    def selected_report(self) -> Any | None:
        return self.reports.get(self.selected) if self.selected else None

    def worst_status(self) -> str | None:
        """The plan's worst needle status (safe < caution < danger), None without reports."""
        statuses = [r.status for r in self.reports.values()]
        return max(statuses, key=STATUS_ORDER.index, default=None)

    def summary(self) -> str:
        """One line for the status bar: side, patient, needles, the plan's verdict."""
        plan = self.plan
        patient = "fitted to patient" if plan.patient is not None else "reference adult"
        worst = self.worst_status()
        return f"{plan.side} thigh · {patient} · {len(plan.needles)} needle(s)" + (
            f" · plan {worst.upper()}" if worst else ""
        )


__all__ = ["CheckUnavailable", "Checker", "PlanDocument"]
