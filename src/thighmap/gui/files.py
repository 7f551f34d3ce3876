"""The window's plan files: new, open, save, the recent files, the recovery file of
unsaved work (and offering it back after a crash), and exports (PNG of the view, the PDF
report). The plan itself is the window's document (planning.document)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from thighmap.planning import Plan, PlanError, save_plan

from . import storage

log = logging.getLogger("thighmap.gui")
AUTOSAVE_DELAY_MS = 3000
PLAN_FILTER = "thighmap plans (*.thighplan.json);;JSON files (*.json);;All files (*)"


class PlanFiles(QObject):
    """Files of a window (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        # unsaved work goes to the recovery file a little after each edit
        self.autosave = QTimer(self)
        self.autosave.setSingleShot(True)
        self.autosave.setInterval(AUTOSAVE_DELAY_MS)
        self.autosave.timeout.connect(self.write_recovery)

    def update_title(self) -> None:
        name = Path(self.win.doc.path).name if self.win.doc.path else "untitled plan"
        self.win.setWindowTitle(f"{name}[*] — thighmap")
        self.win.setWindowModified(self.win.doc.dirty)

    def schedule_autosave(self, _index: int = 0) -> None:
        if not self.win.undo.isClean():
            self.autosave.start()

    def write_recovery(self) -> None:
        """Keep this window's unsaved work in its recovery file (none when it is saved)."""
        try:
            if self.win.undo.isClean():
                storage.clear_recovery(self.win.window_id)
            else:
                storage.write_recovery(self.win.window_id, self.win.plan, self.win.doc.path)
        except Exception:
            log.exception("could not write the recovery file")

    def offer_recovery(self, plan_path: str | None = None, others: bool = True) -> bool:
        """Offer the unsaved work of windows whose program is no longer running (a crash,
        a kill): those of ``plan_path`` first, then, with ``others``, every other one,
        until one is restored. A declined recovery file is removed; the rest stay."""
        for rec in storage.recovery_candidates(plan_path):
            if not others and rec.plan_path != storage.normal_plan_path(plan_path):
                continue
            if self._offer_one(rec):
                return True
        return False

    def _offer_one(self, rec: storage.Recovery) -> bool:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.written))
        original = rec.plan_path
        answer = QMessageBox.question(
            self.win,
            "Restore unsaved work?",
            recovery_question(when, original),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            storage.clear_recovery(rec.window_id)
            return False
        try:
            plan = self.win.core.load(rec.plan_file)
        except (PlanError, ValueError) as err:
            self.win.error("Cannot restore", str(err))
            return False
        self.set_document(plan, original)
        # restored work is unsaved: make it undoable back to the file's state
        self.win.undo.resetClean()
        # this window takes the work over: its own recovery file first, then the old one goes
        self.write_recovery()
        storage.clear_recovery(rec.window_id)
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to discard the current plan."""
        if self.win.undo.isClean():
            return True
        answer = QMessageBox.question(
            self.win,
            "Unsaved changes",
            "The plan has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def set_document(self, plan: Plan, path: str | None) -> None:
        self.win.undo.clear()
        self.win.doc.open(plan, path)

    def new_plan(self) -> None:
        if self.maybe_save():
            self.set_document(Plan(), None)
            storage.clear_recovery(self.win.window_id)

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = str(Path(self.win.doc.path).parent) if self.win.doc.path else ""
        path, _ = QFileDialog.getOpenFileName(self.win, "Open plan", start, PLAN_FILTER)
        if path:
            self.open_plan(path, ask=False)

    def open_plan(self, path: str | os.PathLike[str], ask: bool = False, recovery: bool = True) -> bool:
        """Open a plan file; on a bad file show the problem and keep the current work.
        With ``recovery``, unsaved work on this plan left by a window that is no longer
        running is offered."""
        if ask and not self.maybe_save():
            return False
        try:
            plan = self.win.core.load(path)
        except PlanError as err:
            self.win.error("Cannot open the plan", str(err))
            return False
        except ValueError as err:  # the atlas cannot be fitted to the plan's patient
            self.win.error("Cannot open the plan", f"{path}: field 'patient': {err}")
            return False
        self.set_document(plan, str(path))
        storage.clear_recovery(self.win.window_id)  # the work it had was saved or discarded
        storage.add_recent_file(path)
        self.refresh_recent()
        self.win.statusBar().showMessage(f"Opened {path}", 4000)
        if recovery:
            self.offer_recovery(str(path), others=False)
        return True

    def save(self) -> bool:
        if self.win.doc.path is None:
            return self.save_as()
        return self.save_to(self.win.doc.path)

    def save_as(self) -> bool:
        start = self.win.doc.path or str(Path.home() / "plan.thighplan.json")
        path, _ = QFileDialog.getSaveFileName(self.win, "Save plan", start, PLAN_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".thighplan.json"
        return self.save_to(path)

    def save_to(self, path: str | os.PathLike[str]) -> bool:
        try:
            save_plan(self.win.plan, path)
        except (PlanError, OSError) as err:
            self.win.error("Cannot save the plan", str(err))
            return False
        self.win.doc.set_path(str(path))
        self.win.undo.setClean()
        storage.clear_recovery(self.win.window_id)
        storage.add_recent_file(path)
        self.refresh_recent()
        self.update_title()
        self.win.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def refresh_recent(self) -> None:
        self.win.recent_menu.clear()
        files = storage.recent_files()
        for f in files:
            act = self.win.recent_menu.addAction(f)
            act.triggered.connect(lambda _c=False, p=f: self.open_plan(p, ask=True))
        self.win.recent_menu.setEnabled(bool(files))

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.win, "Export view", "thighmap-view.png", "PNG images (*.png)"
        )
        if not path:
            return
        try:
            self.export_png(path)
        except (OSError, ValueError) as err:
            self.win.error("Cannot export the view", f"{path}: {err}")
            return
        self.win.statusBar().showMessage(f"Saved the view to {path}", 4000)

    def export_report_dialog(self) -> None:
        if not self.win.plan.needles:
            self.win.error("Export report", "The plan has no needles to report on.")
            return
        stem = Path(self.win.doc.path).name.split(".")[0] if self.win.doc.path else "thighmap-plan"
        path, _ = QFileDialog.getSaveFileName(self.win, "Export report", f"{stem}-report.pdf", "PDF (*.pdf)")
        if not path:
            return
        try:
            self.export_report(path)
        except (OSError, ValueError) as err:
            self.win.error("Cannot write the report", f"{path}: {err}")
            return
        self.win.statusBar().showMessage(f"Wrote the report {path}", 4000)

    def export_report(self, path: str | os.PathLike[str]) -> Path:
        """The PDF report of the current plan, as checked now (saved or not)."""
        from thighmap.report import write_plan_report

        model = self.win.core.model(self.win.plan)
        return write_plan_report(self.win.plan, model, path, plan_path=self.win.doc.path)

    def export_png(self, path: str | os.PathLike[str]) -> Path:
        self.win.scene.render_now()
        from thighmap.viz.render import write_image

        write_image(path, np.asarray(self.win.pl.screenshot(return_img=True)), ".png")  # atomic
        return Path(path)


def recovery_question(when: str, plan_path: str | None) -> str:
    """The question asked before restoring a dead window's work. Its first line holds no
    text from a file: Qt decides between plain and rich text by what comes before the
    first line break, so a path such as ``/tmp/<img src=x>.json`` is shown as written."""
    return (
        f"thighmap found unsaved changes from {when}; the window that made them was closed "
        "without saving.\n"
        + (f"Plan: {plan_path}" if plan_path else "Plan: an untitled plan, never saved")
        + "\nRestore them?"
    )
