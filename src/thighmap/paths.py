"""Where the atlas lives: an override, the frozen bundle, the source checkout or the package.

The repository keeps the atlas in its top-level assets/ folder; the wheel and the sdist
install that folder as the package data folder thighmap/assets/ (see setup.py), read here
through importlib.resources.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class AtlasLocation:
    """The atlas folder and where it came from.

    origin: "override" (THIGHMAP_ASSETS), "checkout" (the repository's assets/ folder, a
    source tree or an editable install), "package" (an installed wheel's package data) or
    "bundle" (a frozen one-folder application). Only "override" and "checkout" are meant
    to be written to: the atlas of an installed package or bundle is part of the program.
    """

    directory: Path
    origin: str

    @property
    def writable(self) -> bool:
        return self.origin in ("override", "checkout")


def _checkout_assets() -> Path | None:
    """The repository's assets/ folder when this module runs from a source checkout."""
    root = Path(__file__).resolve().parents[2]  # src/thighmap/paths.py -> the repository
    if (root / "pyproject.toml").is_file() and (root / "assets" / "landmarks.json").is_file():
        return root / "assets"
    return None


def atlas_location() -> AtlasLocation:
    """Where the atlas is read from, in order of precedence.

    THIGHMAP_ASSETS overrides (another atlas); a frozen bundle keeps its atlas beside the
    executable; a source checkout or editable install uses the repository's assets/ folder
    (so that `thighmap atlas build` updates the committed files); an installed package
    reads its package data.
    """
    env = os.environ.get("THIGHMAP_ASSETS")
    if env:
        return AtlasLocation(Path(env), "override")
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return AtlasLocation(Path(frozen_root) / "assets", "bundle")
    checkout = _checkout_assets()
    if checkout is not None:
        return AtlasLocation(checkout, "checkout")
    return AtlasLocation(_packaged_assets(), "package")


def _packaged_assets() -> Path:
    packaged = resources.files("thighmap").joinpath("assets")
    # pip installs a wheel into a folder, so this is a real path, read in place; a zipped
    # installation (not made by pip) gives a path that cannot be read, and loading the
    # atlas says so, naming it
    return packaged if isinstance(packaged, Path) else Path(str(packaged))


def assets_dir() -> Path:
    """Directory holding landmarks.json, meshes/ and skeleton/."""
    return atlas_location().directory


def landmarks_path() -> Path:
    return assets_dir() / "landmarks.json"


def meshes_dir() -> Path:
    return assets_dir() / "meshes"


def skeleton_dir() -> Path:
    """Directory holding the skeleton (bone surfaces, skeleton.json, NOTICE)."""
    return assets_dir() / "skeleton"
