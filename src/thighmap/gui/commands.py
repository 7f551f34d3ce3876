"""Undo/redo: every edit replaces the (immutable) plan by a new one.

A command holds the plan before and after, and which needle to select afterwards.
Consecutive edits of the same kind on the same needle that follow each other within
MERGE_WINDOW_S (dragging the depth slider, dragging the tip handle, turning the wheel)
merge into one undo step; a pause starts a new step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from thighmap.planning import Plan

Apply = Callable[[Plan, str | None], None]

MERGE_IDS = {"depth": 1, "aim": 2, "angles": 3, "entry": 4}
MERGE_WINDOW_S = 1.5


class PlanEdit(QUndoCommand):
    def __init__(
        self,
        apply: Apply,
        before: Plan,
        after: Plan,
        text: str,
        select_before: str | None,
        select_after: str | None,
        merge: str | None = None,
    ) -> None:
        super().__init__(text)
        self._apply = apply
        self.before = before
        self.after = after
        self.select_before = select_before
        self.select_after = select_after
        self._merge = merge
        self._last_edit_s = time.monotonic()

    def id(self) -> int:
        if self._merge is None:
            return -1
        return MERGE_IDS[self._merge]

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, PlanEdit) or other._merge != self._merge:
            return False
        if other.select_after != self.select_after:
            return False
        if other._last_edit_s - self._last_edit_s > MERGE_WINDOW_S:
            return False
        self.after = other.after
        self._last_edit_s = other._last_edit_s
        return True

    def redo(self) -> None:
        self._apply(self.after, self.select_after)

    def undo(self) -> None:
        self._apply(self.before, self.select_before)
