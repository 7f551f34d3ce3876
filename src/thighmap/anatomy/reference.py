"""The reference adult's measurements under the patient profile's field names (no Qt).

The atlas (landmarks.json, "reference_adult") names its fat thickness
"posterior_subcutaneous_fat_mm" where a plan's patient profile says
"subcutaneous_fat_mm"; this table is where the two meet, so that the patient dialog can
start from, and show, the reference adult's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROFILE_TO_REFERENCE: dict[str, str] = {
    "thigh_length_mm": "thigh_length_mm",
    "mid_thigh_circumference_mm": "mid_thigh_circumference_mm",
    "subcutaneous_fat_mm": "posterior_subcutaneous_fat_mm",
}


def reference_profile(reference_adult: Mapping[str, Any]) -> dict[str, float]:
    """{profile field: the reference adult's value} for the fields the atlas states."""
    out: dict[str, float] = {}
    for field, key in PROFILE_TO_REFERENCE.items():
        value = reference_adult.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[field] = float(value)
    return out
