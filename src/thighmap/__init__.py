"""thighmap: a 3D posterior-thigh atlas and dry-needling insertion checker.

An educational and planning aid, not a medical device.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("thighmap")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

NOT_A_MEDICAL_DEVICE = (
    "thighmap is an educational and planning aid, not a medical device. It does not replace "
    "anatomical training, palpation, clinical judgement or imaging; real anatomy varies."
)
