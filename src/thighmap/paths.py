"""Where the bundled assets live (source tree or installed bundle)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def assets_dir() -> Path:
    """Directory holding landmarks.json and meshes/.

    THIGHMAP_ASSETS overrides; a frozen bundle keeps assets beside the executable;
    otherwise the repository's assets/ folder (src layout, editable install).
    """
    env = os.environ.get("THIGHMAP_ASSETS")
    if env:
        return Path(env)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "assets"
    return Path(__file__).resolve().parents[2] / "assets"


def landmarks_path() -> Path:
    return assets_dir() / "landmarks.json"


def meshes_dir() -> Path:
    return assets_dir() / "meshes"
