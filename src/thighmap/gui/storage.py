"""Where the window keeps its settings, recovery file and log.

``THIGHMAP_SETTINGS_DIR`` overrides the location (tests point it at a temporary
folder so that they never touch the user's files); otherwise Qt's per-user
application-data folder is used.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QSettings, QStandardPaths

from thighmap.planning import Plan, dumps_plan

ENV_DIR = "THIGHMAP_SETTINGS_DIR"
RECOVERY_NAME = "recovery.thighplan.json"
RECOVERY_META = "recovery.meta.json"
LOG_NAME = "thighmap.log"
MAX_RECENT = 8

log = logging.getLogger("thighmap.gui")


def data_dir() -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        path = Path(env)
    else:
        loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        path = Path(loc) if loc else Path.home() / ".thighmap"
        if path.name != "thighmap":
            path = path / "thighmap"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings() -> QSettings:
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


# ----------------------------------------------------------------- recent files
def recent_files() -> list[str]:
    value = settings().value("recent_files", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_file(path: str | os.PathLike[str]) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files() if f != path]
    files = files[:MAX_RECENT]
    s = settings()
    s.setValue("recent_files", files)
    s.sync()
    return files


# ----------------------------------------------------------------- recovery
def recovery_path() -> Path:
    return data_dir() / RECOVERY_NAME


def write_recovery(plan: Plan, plan_path: str | None) -> Path:
    """Write the unsaved plan (atomically) plus which file it belongs to."""
    target = recovery_path()
    tmp = target.with_suffix(".tmp")
    tmp.write_text(dumps_plan(plan), encoding="utf-8")
    os.replace(tmp, target)
    meta = {"plan_path": plan_path, "written": time.time()}
    (data_dir() / RECOVERY_META).write_text(json.dumps(meta), encoding="utf-8")
    return target


def recovery_candidate() -> tuple[Path, str | None] | None:
    """The recovery file and the plan it belongs to, if it is worth offering.

    Offered when it exists and is newer than the plan file it was made from (or the
    plan was never saved).
    """
    rec = recovery_path()
    if not rec.exists():
        return None
    try:
        meta = json.loads((data_dir() / RECOVERY_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    plan_path = meta.get("plan_path") if isinstance(meta, dict) else None
    if plan_path:
        try:
            if Path(plan_path).stat().st_mtime >= rec.stat().st_mtime:
                return None
        except OSError:
            pass
    return rec, plan_path


def clear_recovery() -> None:
    for name in (RECOVERY_NAME, RECOVERY_META):
        try:
            (data_dir() / name).unlink()
        except FileNotFoundError:
            pass


# ----------------------------------------------------------------- logging
def setup_logging() -> Path:
    path = data_dir() / LOG_NAME
    root = logging.getLogger("thighmap")
    if not any(isinstance(h, logging.FileHandler) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return path


ErrorSink = Callable[[str, str], None]


def install_excepthook(show: ErrorSink) -> None:
    """Log every uncaught exception and show it, instead of dying silently."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error\n%s", text)
        try:
            show(f"{exc_type.__name__}: {exc}", text)
        except Exception:  # the dialog itself failed: the log still has it
            sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook
