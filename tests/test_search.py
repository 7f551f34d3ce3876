"""Search over structure names, ids, synonyms, abbreviations and groups (no Qt)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thighmap.anatomy.search import HAMSTRINGS, normalise, search_structures


@pytest.fixture(scope="module")
def structures(atlas):  # type: ignore[no-untyped-def]
    return list(atlas.structures.values())


def _ids(structures, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.structure_id for h in search_structures(structures, query)]


@pytest.mark.parametrize("query", ["hamstrings", "hamstring", "Hamstrings", "HAMSTR"])
def test_hamstrings_finds_the_four_heads(structures, query) -> None:  # type: ignore[no-untyped-def]
    assert set(_ids(structures, query)[:4]) == set(HAMSTRINGS)


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("peroneal", "common_fibular_nerve"),
        ("common peroneal", "common_fibular_nerve"),
        ("SM", "semimembranosus"),
        ("st", "semitendinosus"),
        ("BFLH", "biceps_femoris_long_head"),
        ("bfsh", "biceps_femoris_short_head"),
        ("sciatic", "sciatic_nerve"),
        ("semimem", "semimembranosus"),
        ("long head", "biceps_femoris_long_head"),  # the start of a word inside the name
        ("femoris long", "biceps_femoris_long_head"),  # words in any place
        ("common_fibular_nerve", "common_fibular_nerve"),  # the id
        ("ischiadic", "sciatic_nerve"),
    ],
)
def test_synonyms_abbreviations_and_words_rank_the_right_structure_first(structures, query, best) -> None:  # type: ignore[no-untyped-def]
    assert _ids(structures, query)[0] == best


def test_groups(structures) -> None:  # type: ignore[no-untyped-def]
    kinds = {s.id: s.kind for s in structures}
    popliteal = _ids(structures, "popliteal")
    assert set(popliteal[:2]) == {"popliteal_artery", "popliteal_vein"}  # the names first
    assert set(_ids(structures, "vessels")) == {s for s, k in kinds.items() if k in ("artery", "vein")}
    assert set(_ids(structures, "nerves")) == {s for s, k in kinds.items() if k == "nerve"}
    assert set(_ids(structures, "quadriceps")) == {
        "rectus_femoris",
        "vastus_lateralis",
        "vastus_intermedius",
        "vastus_medialis",
    }
    assert {"adductor_magnus", "adductor_longus", "gracilis"} <= set(_ids(structures, "adductors"))
    # a short query does not drag in whole groups ("st" is not "Danger structures")
    assert "sciatic_nerve" not in _ids(structures, "st")


def test_accents_case_and_no_match(structures) -> None:  # type: ignore[no-untyped-def]
    assert _ids(structures, "SÉMITENDÍNOSUS")[0] == "semitendinosus"
    assert _ids(structures, "  fibular   (peroneal) ")[0] == "common_fibular_nerve"
    assert search_structures(structures, "xyzzy") == []
    assert search_structures(structures, "   ") == []
    hit = search_structures(structures, "peroneal")[0]
    assert hit.source == "synonym" and "peroneal" in hit.matched.lower()


def test_an_atlas_can_add_its_own_synonyms_and_groups() -> None:
    st_ = SimpleNamespace(
        id="x1",
        name="Thing",
        kind="muscle",
        role="context",
        info={"synonyms": ["Widget"], "groups": ["Gadgets"]},
    )
    other = SimpleNamespace(id="x2", name="Other", kind="muscle", role="context", info={})
    assert [h.structure_id for h in search_structures([other, st_], "widget")] == ["x1"]
    assert [h.structure_id for h in search_structures([other, st_], "gadgets")] == ["x1"]


@given(st.text(max_size=30))
def test_search_never_fails_and_ranks_in_order(text: str) -> None:
    structures = [
        SimpleNamespace(id=f"s{i}", name=name, kind="muscle", role="target", info={})
        for i, name in enumerate(["Semitendinosus", "Biceps femoris, long head", "Sciatic nerve"])
    ]
    hits = search_structures(structures, text)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert normalise(normalise(text)) == normalise(text)
    if not normalise(text):
        assert hits == []


def test_the_groups_of_issue_11_find_their_own_kind_only(structures) -> None:  # type: ignore[no-untyped-def]
    """ "superficial veins" finds the saphenous veins and no cutaneous nerve; "cutaneous
    nerves" the reverse; "nerves" no vein; the perforating arteries' group its five."""
    veins = set(_ids(structures, "superficial veins"))
    assert {"great_saphenous_vein", "small_saphenous_vein"} <= veins
    assert "posterior_femoral_cutaneous_nerve" not in veins
    nerves = set(_ids(structures, "cutaneous nerves"))
    assert {"posterior_femoral_cutaneous_nerve", "medial_sural_cutaneous_nerve"} <= nerves
    assert "great_saphenous_vein" not in nerves
    assert not {"great_saphenous_vein", "small_saphenous_vein"} & set(_ids(structures, "nerves"))
    assert set(_ids(structures, "perforating arteries")) >= {
        "profunda_femoris_artery",
        "perforating_artery_first",
        "perforating_artery_fourth",
    }
    assert _ids(structures, "deep femoral artery")[0] == "profunda_femoris_artery"


def test_the_companion_vessels_of_the_sciatic_nerve_are_found_by_their_names(structures) -> None:  # type: ignore[no-untyped-def]
    """The companion artery and vein of the sciatic nerve answer to their English and
    Latin names and to their group; "sciatic" still means the nerve and "sciatic artery"
    (Gray's other name for it) the inferior gluteal artery."""
    assert _ids(structures, "companion artery")[0] == "sciatic_companion_artery"
    assert _ids(structures, "arteria comitans")[0] == "sciatic_companion_artery"
    veins = {"sciatic_companion_vein", "sciatic_companion_vein_medial"}
    assert set(_ids(structures, "companion vein")[:2]) == veins
    assert set(_ids(structures, "venae comitantes")[:2]) == veins
    assert set(_ids(structures, "companion vessels")) == {"sciatic_companion_artery", *veins}
    assert _ids(structures, "sciatic")[0] == "sciatic_nerve"
    assert _ids(structures, "sciatic artery")[0] == "inferior_gluteal_artery"
    # a deep vein: not among the superficial veins
    assert not veins & set(_ids(structures, "superficial veins"))


def test_a_short_whole_abbreviation_means_that_structure_only(structures) -> None:  # type: ignore[no-untyped-def]
    """ "SM" is semimembranosus, not also the small saphenous vein or the "small sciatic
    nerve" (a synonym of the posterior femoral cutaneous nerve) that start with "sm"; a
    short query that is no whole name or abbreviation still finds names by their start."""
    assert _ids(structures, "SM") == ["semimembranosus"]
    assert "sartorius" in _ids(structures, "sa")


def test_calf_muscles_finds_the_heads_of_gastrocnemius_and_plantaris(structures) -> None:  # type: ignore[no-untyped-def]
    calf = {"gastrocnemius_medial_head", "gastrocnemius_lateral_head", "plantaris"}
    assert set(_ids(structures, "calf muscles")) == calf
    assert set(_ids(structures, "calf")) == calf
    assert _ids(structures, "plantaris")[0] == "plantaris"
    assert "plantaris" in _ids(structures, "muscles")
