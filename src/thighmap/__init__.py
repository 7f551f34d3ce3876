"""thighmap: a 3D posterior-thigh atlas and dry-needling insertion checker.

An educational and planning aid, not a medical device.
"""

from typing import Any

NOT_A_MEDICAL_DEVICE = (
    "thighmap is an educational and planning aid, not a medical device. It does not replace "
    "anatomical training, palpation, clinical judgement or imaging; real anatomy varies."
)


def __getattr__(name: str) -> Any:
    """``__version__``, read from the installed package's metadata when first asked for
    (importlib.metadata costs a tenth of a second or more to import: `thighmap --help`
    and `thighmap check` do not need it)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("thighmap")
        except PackageNotFoundError:  # running from a source tree that is not installed
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'thighmap' has no attribute {name!r}")
