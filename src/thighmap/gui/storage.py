"""Where the window keeps its settings, recovery files and log.

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QSettings, QStandardPaths

from thighmap.atomic import PARTIAL_SUFFIX, partial_path, write_atomic
from thighmap.planning import Plan, dumps_plan

ENV_DIR = "THIGHMAP_SETTINGS_DIR"
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
# Every window has its own recovery file, named by the window's id, in RECOVERY_DIR:
# ``<id>.thighplan.json`` (the unsaved plan) and ``<id>.meta.json`` (which plan file it
# belongs to, the process that wrote it and when). Both are written through the one
# atomic writer. A recovery file is offered only once the process that wrote it is no
# longer running, so two windows, or two copies of the program, never take each other's.
RECOVERY_DIR = "recovery"
LEGACY_RECOVERY = "recovery.thighplan.json"  # the one shared file of earlier versions
LEGACY_META = "recovery.meta.json"
RECOVERY_SUFFIX = ".thighplan.json"
META_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class Recovery:
    """One window's recovery file and what its metadata says."""

    window_id: str
    plan_file: Path  # the unsaved plan
    meta_file: Path
    plan_path: str | None  # the plan file it was made from (None: never saved)
    pid: int | None
    process_started: int | None  # the writer's start time (Linux clock ticks), against pid reuse
    written: float  # seconds since the epoch


def new_window_id() -> str:
    """A window id unique across processes and over time (the pid alone is reused)."""
    return f"window-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def recovery_dir() -> Path:
    path = data_dir() / RECOVERY_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def normal_plan_path(path: str | os.PathLike[str] | None) -> str | None:
    """A plan path as recovery metadata records it (absolute, symbolic links resolved)."""
    if not path:
        return None
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return str(path)


def _process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where
    the platform does not say."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(stat_line.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_running(pid: int | None, started: int | None = None) -> bool:
    """Is the process that wrote a recovery file still running? (A pid that now belongs
    to a process started at another time is not it.)"""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    if started is not None:
        now = _process_started(pid)
        if now is not None and now != started:
            return False
    return True


def write_recovery(window_id: str, plan: Plan, plan_path: str | None) -> Path:
    """Write this window's unsaved plan and its metadata, each atomically."""
    folder = recovery_dir()
    target = folder / f"{window_id}{RECOVERY_SUFFIX}"
    write_atomic(target, dumps_plan(plan))
    meta = {
        "window_id": window_id,
        "plan_path": normal_plan_path(plan_path),
        "pid": os.getpid(),
        "process_started": _process_started(os.getpid()),
        "written": time.time(),
    }
    write_atomic(folder / f"{window_id}{META_SUFFIX}", json.dumps(meta, indent=1))
    return target


def _read_recovery(plan_file: Path) -> Recovery | None:
    window_id = plan_file.name[: -len(RECOVERY_SUFFIX)]
    meta_file = plan_file.with_name(f"{window_id}{META_SUFFIX}")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}  # killed between the plan and its metadata: still worth offering
    if not isinstance(meta, dict):
        meta = {}

    def whole(key: str) -> int | None:
        value = meta.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    plan_path = meta.get("plan_path")
    written = meta.get("written")
    try:
        mtime = plan_file.stat().st_mtime
    except OSError:
        return None
    return Recovery(
        window_id=window_id,
        plan_file=plan_file,
        meta_file=meta_file,
        plan_path=plan_path if isinstance(plan_path, str) and plan_path else None,
        pid=whole("pid"),
        process_started=whole("process_started"),
        written=float(written)
        if isinstance(written, int | float) and not isinstance(written, bool)
        else mtime,
    )


def _adopt_legacy() -> None:
    """Move the single recovery file of earlier versions (``recovery.thighplan.json`` in
    the data folder) into the per-window folder, as the work of a window that is gone."""
    old_plan, old_meta = data_dir() / LEGACY_RECOVERY, data_dir() / LEGACY_META
    if not old_plan.exists():
        return
    try:
        meta = json.loads(old_meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    window_id = f"window-legacy-{uuid.uuid4().hex[:12]}"
    folder = recovery_dir()
    plan_path = meta.get("plan_path")
    new_meta = {
        "window_id": window_id,
        "plan_path": normal_plan_path(plan_path) if isinstance(plan_path, str) else None,
        "pid": None,
        "process_started": None,
        "written": meta.get("written", old_plan.stat().st_mtime),
    }
    write_atomic(folder / f"{window_id}{META_SUFFIX}", json.dumps(new_meta, indent=1))
    os.replace(old_plan, folder / f"{window_id}{RECOVERY_SUFFIX}")
    old_meta.unlink(missing_ok=True)


def _writer_pid(window_id: str) -> int | None:
    parts = window_id.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def _remove_dead_partials(folder: Path) -> None:
    """Partial files a killed window left (its id names its process): removed once that
    process is gone; a live window's partial file may be in use and is left alone."""
    for partial in folder.glob(f".*{PARTIAL_SUFFIX}"):
        window_id = partial.name[1:].split(".", 1)[0]
        pid = _writer_pid(window_id)
        if pid is not None and not process_running(pid):
            partial.unlink(missing_ok=True)


def recoveries() -> list[Recovery]:
    """Every recovery file on disk, of live windows and dead ones."""
    try:
        _adopt_legacy()
    except OSError:
        log.exception("could not move the old recovery file")
    folder = recovery_dir()
    _remove_dead_partials(folder)
    out = []
    for plan_file in sorted(folder.glob(f"*{RECOVERY_SUFFIX}")):
        if plan_file.name.startswith("."):
            continue  # a partial file of the atomic writer
        rec = _read_recovery(plan_file)
        if rec is not None:
            out.append(rec)
    return out


def recovery_candidates(plan_path: str | os.PathLike[str] | None = None) -> list[Recovery]:
    """Recovery files worth offering: written by a process that is no longer running,
    and newer than the plan file they were made from (or the plan was never saved).
    Those of ``plan_path`` come first, then the newest first."""
    wanted = normal_plan_path(plan_path)
    out = []
    for rec in recoveries():
        if process_running(rec.pid, rec.process_started):
            continue
        if rec.plan_path:
            try:
                if Path(rec.plan_path).stat().st_mtime >= rec.plan_file.stat().st_mtime:
                    continue  # the plan was saved after this was written
            except OSError:
                pass
        out.append(rec)
    out.sort(key=lambda r: (wanted is None or r.plan_path != wanted, -r.written))
    return out


def clear_recovery(window_id: str) -> None:
    """Remove one window's recovery file and its metadata (no other window's)."""
    folder = recovery_dir()
    for name in (f"{window_id}{RECOVERY_SUFFIX}", f"{window_id}{META_SUFFIX}"):
        for path in (folder / name, partial_path(folder / name)):
            path.unlink(missing_ok=True)


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
