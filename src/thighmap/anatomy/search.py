"""Finding structures by what people call them: names, ids, synonyms, abbreviations and
groups ("hamstrings", "peroneal", "SM"), accent- and case-insensitive, ranked (no Qt).

The vocabulary below is keyed by structure id. Names follow Terminologia Anatomica
(2nd ed., FIPAT 2019), which lists the older "peroneal" for "fibular"; the
abbreviations (BFLH, BFSH, ST, SM, AM) are those of the hamstring imaging and
dry-needling literature (e.g. Koulouris & Connell, Radiol Clin North Am 2005). An
atlas may add its own per structure with the keys "synonyms" and "groups" (lists of
text) beside "name"; they are searched as well.

Ranking: an exact match beats a match at the start, which beats a match of every
query word at the start of a word, which beats a match inside a word; a structure's
own name or id beats a synonym, which beats a group it belongs to. Ties keep the
atlas order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HAMSTRINGS = (
    "biceps_femoris_long_head",
    "biceps_femoris_short_head",
    "semitendinosus",
    "semimembranosus",
)

SYNONYMS: dict[str, tuple[str, ...]] = {
    "skin": ("cutis", "integument"),
    "subcutaneous_fat": ("fat", "subcutis", "hypodermis", "adipose tissue"),
    "femur": ("thigh bone", "femoral shaft"),
    "biceps_femoris_long_head": ("BFLH", "BF long head", "long head of biceps femoris", "lateral hamstring"),
    "biceps_femoris_short_head": ("BFSH", "BF short head", "short head of biceps femoris"),
    "semitendinosus": ("ST", "medial hamstring"),
    "semimembranosus": ("SM", "medial hamstring"),
    "adductor_magnus": ("AM", "great adductor", "ischiocondylar part"),
    "gluteus_maximus": ("glute max", "gluteal muscle"),
    "sciatic_nerve": ("ischiadic nerve",),
    "tibial_nerve": ("medial popliteal nerve",),
    "common_fibular_nerve": (
        "common peroneal nerve",
        "peroneal nerve",
        "fibular nerve",
        "lateral popliteal nerve",
        "CFN",
        "CPN",
    ),
    "femoral_artery": ("superficial femoral artery", "SFA"),
    "femoral_vein": ("superficial femoral vein",),
    # caution structures (issue #11): cutaneous nerves and superficial veins
    "posterior_femoral_cutaneous_nerve": (
        "posterior cutaneous nerve of the thigh",
        "small sciatic nerve",
        "PFCN",
    ),
    "medial_sural_cutaneous_nerve": ("medial sural nerve", "MSCN"),
    "great_saphenous_vein": ("long saphenous vein", "greater saphenous vein", "GSV"),
    "small_saphenous_vein": ("short saphenous vein", "lesser saphenous vein", "SSV"),
    # the deep arteries of issue #11
    "profunda_femoris_artery": ("deep femoral artery", "deep artery of the thigh", "PFA"),
    "perforating_artery_first": ("first perforator",),
    "perforating_artery_second": ("second perforator",),
    "perforating_artery_third": ("third perforator",),
    "perforating_artery_fourth": ("fourth perforator",),
    "inferior_gluteal_artery": ("sciatic artery", "IGA"),
    "fascia_lata": ("deep fascia", "iliotibial tract", "iliotibial band", "ITB", "IT band", "ITT"),
    # its branch on the sciatic nerve and a vein beside it ("sciatic artery" is Gray's
    # other name for the inferior gluteal artery itself)
    "sciatic_companion_artery": (
        "arteria comitans nervi ischiadici",
        "artery of the sciatic nerve",
        "comitans artery",
    ),
    "sciatic_companion_vein": ("vena comitans of the sciatic nerve", "venae comitantes", "comitans vein"),
    "sciatic_companion_vein_medial": (
        "vena comitans of the sciatic nerve",
        "venae comitantes",
        "comitans vein",
    ),
}

GROUPS: dict[str, tuple[str, ...]] = {
    "Hamstrings": HAMSTRINGS,
    "Quadriceps": ("rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis"),
    "Adductors": ("adductor_magnus", "adductor_longus", "adductor_brevis", "gracilis"),
    # the muscles of the calf whose upper parts lie in the model, below the popliteal fossa
    "Calf muscles": ("gastrocnemius_medial_head", "gastrocnemius_lateral_head", "plantaris"),
    "Popliteal vessels": ("popliteal_artery", "popliteal_vein"),
    "Perforating arteries": (
        "profunda_femoris_artery",
        "perforating_artery_first",
        "perforating_artery_second",
        "perforating_artery_third",
        "perforating_artery_fourth",
    ),
    "Femoral vessels": ("femoral_artery", "femoral_vein"),
    "Companion vessels of the sciatic nerve": (
        "sciatic_companion_artery",
        "sciatic_companion_vein",
        "sciatic_companion_vein_medial",
    ),
    "Sciatic nerve and branches": ("sciatic_nerve", "tibial_nerve", "common_fibular_nerve"),
}

KIND_GROUPS: dict[str, tuple[str, ...]] = {  # groups every structure of a kind belongs to
    "muscle": ("Muscles",),
    "tendon": ("Tendons",),
    "bone": ("Bones",),
    "nerve": ("Nerves",),
    "artery": ("Arteries", "Vessels", "Blood vessels"),
    "vein": ("Veins", "Vessels", "Blood vessels"),
    "skin": ("Skin and fat",),
    "fat": ("Skin and fat",),
    "fascia": ("Fascia",),
}
ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "target": ("Targets", "Needling targets"),
    "danger": ("Danger structures",),
    "caution": ("Caution structures",),
}
ROLE_KIND_GROUPS: dict[tuple[str, str], tuple[str, ...]] = {  # groups of a kind within a role
    ("caution", "nerve"): ("Cutaneous nerves",),
    ("caution", "vein"): ("Superficial veins",),
    ("caution", "artery"): ("Superficial vessels",),
}

MIN_GROUP_QUERY = 3  # shorter queries do not search the groups
# match kinds, best first, and where the matched text came from
_MATCH_SCORE = {"exact": 400, "start": 300, "words": 200, "inside": 100}
_SOURCE_SCORE = {"name": 30, "id": 25, "synonym": 20, "abbreviation": 20, "group": 0}


@dataclass(frozen=True)
class SearchHit:
    structure_id: str
    name: str
    matched: str  # the name, synonym or group that matched, as written
    source: str  # "name", "id", "synonym", "abbreviation" or "group"
    score: int


def normalise(text: str) -> str:
    """Lower case, accents dropped, punctuation and underscores as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def _is_abbreviation(text: str) -> bool:
    return text.isupper() and text.isalpha() and len(text) <= 5


def _match(query: str, words: list[str], text: str) -> str | None:
    if not text:
        return None
    if text == query:
        return "exact"
    if text.startswith(query):
        return "start"
    text_words = text.split()
    if all(any(tw.startswith(qw) for tw in text_words) for qw in words):
        return "words"
    if query in text:
        return "inside"
    return None


def vocabulary(structure: Any) -> list[tuple[str, str]]:
    """Every (text, source) a structure answers to."""
    sid = structure.id
    info: Mapping[str, Any] = getattr(structure, "info", {}) or {}
    out: list[tuple[str, str]] = [(structure.name, "name"), (sid, "id")]
    extra = info.get("synonyms", [])
    for s in [*SYNONYMS.get(sid, ()), *(extra if isinstance(extra, list) else [])]:
        if isinstance(s, str):
            out.append((s, "abbreviation" if _is_abbreviation(s) else "synonym"))
    groups = [g for g, members in GROUPS.items() if sid in members]
    groups += [*KIND_GROUPS.get(structure.kind, ()), *ROLE_GROUPS.get(structure.role, ())]
    groups += ROLE_KIND_GROUPS.get((structure.role, structure.kind), ())
    extra_groups = info.get("groups", [])
    groups += [g for g in (extra_groups if isinstance(extra_groups, list) else []) if isinstance(g, str)]
    out += [(g, "group") for g in groups]
    return out


def search_structures(structures: Iterable[Any], query: str, limit: int | None = None) -> list[SearchHit]:
    """Structures answering to `query`, best first; [] for an empty query or no match.

    `structures` are the atlas's Structure objects (anything with id, name, kind, role)."""
    q = normalise(query)
    if not q:
        return []
    words = q.split()
    hits: list[tuple[int, int, SearchHit]] = []
    for order, st in enumerate(structures):
        best: SearchHit | None = None
        for text, source in vocabulary(st):
            if source == "abbreviation":  # "SM" is only ever the whole query
                kind = "exact" if normalise(text) == q else None
            elif source == "group" and len(q) < MIN_GROUP_QUERY:
                continue  # "st" must not bring every "Danger structure"
            else:
                kind = _match(q, words, normalise(text))
            if kind is None:
                continue
            score = _MATCH_SCORE[kind] + _SOURCE_SCORE[source]
            if best is None or score > best.score:
                best = SearchHit(st.id, st.name, text, source, score)
        if best is not None:
            hits.append((-best.score, order, best))
    hits.sort(key=lambda h: (h[0], h[1]))
    found = [h[2] for h in hits]
    if len(q) < MIN_GROUP_QUERY:
        # a query this short that is a whole abbreviation or name means that one ("SM"
        # is semimembranosus), not every name that starts with those letters ("small ...")
        exact = [h for h in found if h.score >= _MATCH_SCORE["exact"]]
        found = exact or found
    return found if limit is None else found[:limit]
