"""Checking the fields of an atlas file (landmarks.json, skeleton.json): one message
format for every bad value, naming the file, the field and the value, raised as the
caller's own error type."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

E = TypeVar("E", bound=Exception)


def read_json(error: type[Exception], path: Path, what: str) -> Any:
    """The JSON document of an atlas file, or `error` saying why it cannot be read
    (`what` names the file's kind in the message: "atlas", "skeleton")."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None


def field_error(error: type[E], path: Path, where: str, value: Any, message: str) -> E:
    shown = json.dumps(value) if not isinstance(value, str) else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return error(f"{path}: field '{where}': value {shown}: {message}")


def vec3(error: type[Exception], path: Path, where: str, value: Any) -> np.ndarray:
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise field_error(error, path, where, value, "expected three finite numbers [x, y, z] in mm")
    return np.array(value, float)


def number(error: type[Exception], path: Path, where: str, value: Any, *, positive: bool = False) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise field_error(error, path, where, value, "expected a finite number")
    if positive and value <= 0:
        raise field_error(error, path, where, value, "expected a number greater than 0")
    return float(value)


def text(error: type[Exception], path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise field_error(error, path, where, value, "expected non-empty text")
    return value
