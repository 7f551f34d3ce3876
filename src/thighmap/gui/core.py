"""The GUI's one door into the core (no Qt here).

Every question the window asks about anatomy or safety goes through :class:`CoreSession`,
which holds the current plan's safety model (fitted to the patient, mirrored for a left
plan) and caches needle reports by needle value, so that a redraw after an edit of one
needle re-checks only that needle.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from thighmap.anatomy.atlas import Atlas, load_atlas
from thighmap.anatomy.mirror import MirroredAtlas
from thighmap.planning import Needle, Plan
from thighmap.planning.document import CheckUnavailable
from thighmap.planning.edits import stated_by_trigger_point


class EngineMissing(CheckUnavailable):
    """The safety engine (thighmap.safety.engine) is not importable."""


def _engine() -> Any:
    try:
        return importlib.import_module("thighmap.safety.engine")
    except ImportError as exc:  # pragma: no cover - only while the core is incomplete
        raise EngineMissing(f"the safety engine is not available: {exc}") from exc


def engine_available() -> bool:
    try:
        _engine()
    except EngineMissing:
        return False
    return True


@dataclass
class _Cached:
    needle: Needle
    contraindications: dict[str, bool] | None
    report: Any


class CoreSession:
    """The reference atlas, the model of the current plan, and cached needle reports."""

    def __init__(self, atlas: Atlas | None = None) -> None:
        self.reference_atlas: Atlas = atlas if atlas is not None else load_atlas()
        self._model: Any = None
        self._model_key: tuple[Any, ...] | None = None
        self._reports: dict[str, _Cached] = {}
        self._display: MirroredAtlas | None = None
        # skin frames asked for again and again while a needle is aimed (its entry stays)
        self._frames: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ model
    @staticmethod
    def _key(plan: Plan) -> tuple[Any, ...]:
        p = plan.patient
        patient = None
        if p is not None:
            patient = (
                p.thigh_length_mm,
                p.mid_thigh_circumference_mm,
                p.subcutaneous_fat_mm,
                p.sex,
            )
        return (plan.side, patient)

    def model(self, plan: Plan) -> Any:
        """The safety model for this plan (re-fitted only when side or patient change)."""
        key = self._key(plan)
        if self._model is None or key != self._model_key:
            eng = _engine()
            self._model = eng.model_for_plan(plan, base=self.reference_atlas)
            self._model_key = key
            self._reports.clear()
            self._frames.clear()
            self._display = None
        return self._model

    def atlas(self, plan: Plan) -> Any:
        """The atlas the view draws, in the plan's frame: fitted to the patient like the
        checks, and mirrored in x for a left-side plan (the model keeps the right-thigh
        atlas and mirrors needles itself)."""
        try:
            model = self.model(plan)
        except EngineMissing:
            return self.reference_atlas
        if plan.side != "left":
            return model.atlas
        if self._display is None or self._display.base is not model.atlas:
            self._display = MirroredAtlas(model.atlas)
        return self._display

    def load(self, path: str | os.PathLike[str]) -> Plan:
        """Load a plan file as the checker does (trigger points resolve on the patient's
        fitted atlas). Raises planning.PlanError."""
        plan, _model = _engine().load_plan_for_checking(str(path), base=self.reference_atlas)
        return plan

    def model_changes(self, old: Plan | None, new: Plan) -> bool:
        return old is None or self._key(old) != self._key(new)

    # ------------------------------------------------------------------ checks
    def check(self, plan: Plan, needle: Needle) -> Any:
        model = self.model(plan)
        cached = self._reports.get(needle.id)
        recorded = plan.contraindications
        if cached is not None and cached.needle == needle and cached.contraindications == recorded:
            return cached.report
        # the plan's checklist counts in every needle's verdict, as in `thighmap check`
        report = model.check_needle(needle, recorded)
        self._reports[needle.id] = _Cached(needle, None if recorded is None else dict(recorded), report)
        return report

    def check_all(self, plan: Plan) -> dict[str, Any]:
        out = {n.id: self.check(plan, n) for n in plan.needles}
        for nid in set(self._reports) - set(out):
            del self._reports[nid]
        return out

    def skin_frame(self, plan: Plan, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The skin point nearest ``point_mm`` and the skin's outward normal there (the
        same answer for the same model and point: kept for the last few points)."""
        model = self.model(plan)
        p = np.asarray(point_mm, float)
        key = (id(model), *p.tolist())
        hit = self._frames.get(key)
        if hit is None:
            point, normal = model.skin_surface_frame(p)
            hit = (np.asarray(point, float), np.asarray(normal, float))
            if len(self._frames) >= 16:
                self._frames.pop(next(iter(self._frames)))
            self._frames[key] = hit
        return hit[0].copy(), hit[1].copy()

    def needle_from_trigger_point(self, plan: Plan, tp_id: str, needle_id: str) -> Needle:
        """The trigger point's technique as a needle, stated by its trigger point (so it
        is saved as one, and follows the site when the patient changes)."""
        n = self.model(plan).needle_from_trigger_point(tp_id, needle_id)
        return stated_by_trigger_point(n, tp_id)

    def carry_to_patient(self, plan: Plan, patient: Any) -> Any:
        """The plan with ``patient`` and every needle moved with the fit
        (``planning.refit.CarriedPlan``); raises ValueError when the atlas cannot be
        fitted to the patient."""
        carry = importlib.import_module("thighmap.safety.carry")
        return carry.carry_plan_to_patient(plan, patient, base=self.reference_atlas)

    def danger_zone_mesh(self, plan: Plan, sid: str) -> Any:
        return self.model(plan).danger_zone_mesh(sid)
