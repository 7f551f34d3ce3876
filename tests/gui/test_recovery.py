"""Crash recovery: one recovery file per window, written atomically, offered after the
process that wrote it died (tested by killing a real process), never while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from thighmap import atomic
from thighmap.gui import storage
from thighmap.planning import Needle, Plan, save_plan

DRIVER = Path(__file__).with_name("recovery_driver.py")
SRC = Path(__file__).resolve().parents[2] / "src"
START_TIMEOUT_S = 120.0  # a cold start compiles nothing, but loads VTK and the atlas


def _plan_file(folder: Path, name: str = "p.thighplan.json", depth_mm: float = 10.0) -> Path:
    path = folder / name
    needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], depth_mm, 50.0, 0.25)
    save_plan(Plan(needles=[needle]), path)
    old = time.time() - 100  # saved well before any recovery file
    os.utime(path, (old, old))
    return path


def _answer_yes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def question(_parent, title, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


def _dead_pid() -> int:
    """The pid of a process that has finished (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _as_if_dead(window_id: str) -> None:
    """Rewrite a recovery file's metadata as if its process had died."""
    meta_file = storage.recovery_dir() / f"{window_id}{storage.META_SUFFIX}"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["pid"] = _dead_pid()
    meta["process_started"] = None
    atomic.write_atomic(meta_file, json.dumps(meta))


@pytest.mark.slow
def test_killed_process_work_is_offered_when_the_plan_is_opened_again(
    qtbot,
    session,
    tmp_path,
    settings_dir,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    plan_path = _plan_file(tmp_path)
    env = {
        **os.environ,
        "THIGHMAP_SETTINGS_DIR": str(settings_dir),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    (tmp_path / "home").mkdir()
    out_log = tmp_path / "driver.log"  # a file, not a pipe nobody reads while it runs
    with out_log.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), str(plan_path), "22"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        mine: list[storage.Recovery] = []
        while time.monotonic() < deadline and proc.poll() is None:
            mine = [r for r in storage.recoveries() if r.pid == proc.pid]
            if mine:
                break
            time.sleep(0.2)
        assert mine, "no recovery file from the running window:\n" + out_log.read_text(encoding="utf-8")
        rec = mine[0]
        assert rec.plan_path == str(plan_path.resolve())
        # the window is alive: its work is never offered to anyone else
        assert storage.recovery_candidates(plan_path) == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "edited 22.0" in out_log.read_text(encoding="utf-8")  # typed into the depth box
    assert rec.plan_file.exists()  # a kill leaves it behind ...
    assert [r.window_id for r in storage.recovery_candidates(plan_path)] == [rec.window_id]  # ... offered now
    assert not list(storage.recovery_dir().glob(f".*{atomic.PARTIAL_SUFFIX}"))

    # `thighmap PLAN` again (in this process): the plan opens, then its recovery is offered
    asked = _answer_yes(monkeypatch)
    from thighmap.gui.app import MainWindow

    w = MainWindow(str(plan_path), session=session)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert str(plan_path.resolve()) in asked[0]
    assert w.plan.needles[0].depth_mm == 22.0  # the edit made in the killed process
    assert Path(w.doc.path or "").resolve() == plan_path.resolve()
    assert not w.undo.isClean()  # restored work is unsaved
    # the window took the work over: the dead window's files are gone, its own written
    assert not rec.plan_file.exists() and not rec.meta_file.exists()
    assert [r.window_id for r in storage.recoveries()] == [w.window_id]
    assert w.files.save()
    assert storage.recoveries() == []  # saving clears it
    w.close()


def test_two_windows_keep_separate_recovery_files(qtbot, session, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from thighmap.gui.app import MainWindow

    written: list[Path] = []
    real = storage.write_atomic
    assert real is atomic.write_atomic  # the project's one atomic writer

    def recording(path, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        written.append(Path(path))
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(storage, "write_atomic", recording)
    a_path, b_path = _plan_file(tmp_path, "a.thighplan.json"), _plan_file(tmp_path, "b.thighplan.json")
    windows = []
    for path, depth in ((a_path, 12.0), (b_path, 14.0)):
        w = MainWindow(str(path), session=session, offer_recovery=False)
        qtbot.addWidget(w)
        w.needles.depth.setValue(depth)
        w.files.write_recovery()  # what the autosave timer does
        windows.append(w)
    wa, wb = windows
    assert wa.window_id != wb.window_id
    files = {r.window_id: r for r in storage.recoveries()}
    assert set(files) == {wa.window_id, wb.window_id}
    assert {p.name for p in written} == {
        f"{w.window_id}{suffix}" for w in windows for suffix in (storage.RECOVERY_SUFFIX, storage.META_SUFFIX)
    }
    assert files[wa.window_id].plan_path == str(a_path.resolve())
    assert files[wb.window_id].plan_path == str(b_path.resolve())
    # both windows are alive (this process): neither is offered the other's work
    assert storage.recovery_candidates() == []
    assert wb.files.offer_recovery() is False

    # closing one (discarding its changes) removes its file only
    wa.undo.setClean()
    wa.close()
    assert [r.window_id for r in storage.recoveries()] == [wb.window_id]
    assert (
        json.loads(files[wb.window_id].plan_file.read_text(encoding="utf-8"))["needles"][0]["depth_mm"]
        == 14.0
    )
    wb.undo.setClean()
    wb.close()
    assert storage.recoveries() == []


def test_file_open_offers_that_plans_recovery_only(qtbot, session, window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a_path, b_path = _plan_file(tmp_path, "a.thighplan.json"), _plan_file(tmp_path, "b.thighplan.json")
    for path, depth in ((a_path, 31.0), (b_path, 33.0)):
        wid = storage.new_window_id()
        needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], depth, 50.0, 0.25)
        storage.write_recovery(wid, Plan(needles=[needle]), str(path))
        _as_if_dead(wid)
    asked = _answer_yes(monkeypatch)
    assert window.files.open_plan(b_path) is True
    assert len(asked) == 1 and str(b_path.resolve()) in asked[0]
    assert window.plan.needles[0].depth_mm == 33.0
    # a's recovery is left for its own plan (or the next start)
    left = storage.recovery_candidates()
    assert [r.plan_path for r in left] == [str(a_path.resolve())]


def test_declining_removes_only_that_recovery(
    qtbot, session, window, tmp_path, no_blocking_questions
) -> None:  # type: ignore[no-untyped-def]
    a_path = _plan_file(tmp_path, "a.thighplan.json")
    ids = []
    for depth in (31.0, 33.0):
        wid = storage.new_window_id()
        needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], depth, 50.0, 0.25)
        storage.write_recovery(wid, Plan(needles=[needle]), None if depth == 33.0 else str(a_path))
        ids.append(wid)
    _as_if_dead(ids[0])  # the other one belongs to a live window (this process)
    assert window.files.offer_recovery() is False  # the fixture answers "No"
    assert len(no_blocking_questions) == 1
    assert [r.window_id for r in storage.recoveries()] == [ids[1]]


def test_plain_start_offers_an_untitled_plans_recovery(qtbot, session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`thighmap` with no plan: the work of a dead window on a never-saved plan comes back."""
    from thighmap.gui.app import MainWindow

    wid = storage.new_window_id()
    needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], 27.0, 50.0, 0.25)
    storage.write_recovery(wid, Plan(needles=[needle]), None)
    _as_if_dead(wid)
    asked = _answer_yes(monkeypatch)
    w = MainWindow(session=session)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert "untitled plan" in asked[0]
    assert w.doc.path is None and w.plan.needles[0].depth_mm == 27.0
    w.undo.setClean()
    w.close()
    assert storage.recoveries() == []


def test_old_single_recovery_file_is_still_offered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The shared recovery file of earlier versions becomes one dead window's file."""
    plan_path = _plan_file(tmp_path)
    needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], 19.0, 50.0, 0.25)
    save_plan(Plan(needles=[needle]), storage.data_dir() / storage.LEGACY_RECOVERY)
    (storage.data_dir() / storage.LEGACY_META).write_text(
        json.dumps({"plan_path": str(plan_path), "written": time.time()}), encoding="utf-8"
    )
    [rec] = storage.recovery_candidates(plan_path)
    assert rec.plan_path == str(plan_path.resolve()) and rec.pid is None
    assert not (storage.data_dir() / storage.LEGACY_RECOVERY).exists()
    assert json.loads(rec.plan_file.read_text(encoding="utf-8"))["needles"][0]["depth_mm"] == 19.0


def test_partial_files_of_dead_windows_are_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = storage.recovery_dir()
    dead = f"window-{_dead_pid()}-0123456789ab"
    alive = storage.new_window_id()
    for wid in (dead, alive):
        atomic.partial_path(folder / f"{wid}{storage.RECOVERY_SUFFIX}").write_text("{", encoding="utf-8")
    storage.recoveries()
    left = [p.name for p in folder.glob(f".*{atomic.PARTIAL_SUFFIX}")]
    assert left == [f".{alive}{storage.RECOVERY_SUFFIX}{atomic.PARTIAL_SUFFIX}"]
    storage.clear_recovery(alive)
    assert not list(folder.glob(f".*{atomic.PARTIAL_SUFFIX}"))
