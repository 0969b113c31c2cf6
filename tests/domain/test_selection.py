"""Selection (遴选): deterministic ranking, eligibility, prefecture minimums and caps, waiting list."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.demo.sample import nominees, online_study, sample_programme
from cohortflow.domain.programme import Programme, parse_programme
from cohortflow.domain.selection import Candidate, Ranked, is_eligible, rank, score, select

from .builders import CHANGSHA, XIANGTAN, ZHUZHOU, programme, template

ALL = ("plan", "reflection", "book")


def cand(pid: str, hours: float, deliverables: tuple[str, ...] = ("plan",), prefecture: str = CHANGSHA) -> Candidate:
    return Candidate(pid, prefecture, hours, deliverables)


def with_prefectures(**limits: tuple[int, int | None]) -> Programme:
    """The small template with (min_selected, max_selected) set per prefecture code."""
    data = template()
    for pref in data["prefectures"]:
        if pref["code"] in limits:
            pref["min_selected"], pref["max_selected"] = limits[pref["code"]]
    return parse_programme(data)


def ids(ranked: list[Ranked]) -> list[str]:
    return [r.candidate.participant_id for r in ranked]


# A spread of candidates over three prefectures: some ineligible, several ties.
POOL = [
    cand("P01", 150, ALL),
    cand("P02", 140, ALL, ZHUZHOU),
    cand("P03", 160, ("plan", "reflection"), XIANGTAN),
    cand("P04", 160, ("plan", "reflection")),
    cand("P05", 120, ("plan",), ZHUZHOU),
    cand("P06", 99.9, ALL, XIANGTAN),  # too few hours
    cand("P07", 300, ("reflection", "book")),  # no improvement plan
    cand("P08", 110, ("plan",), XIANGTAN),
    cand("P09", 105, ("plan",), ZHUZHOU),
    cand("P10", 100, ("plan",)),
]


def sample_candidates(seed: int = 2023) -> tuple[Programme, list[Candidate]]:
    prog = sample_programme()
    people = nominees(prog, seed)
    return prog, [Candidate(n.participant_id, n.prefecture_code, *_study(n.participant_id, seed)) for n in people]


def _study(pid: str, seed: int) -> tuple[float, tuple[str, ...]]:
    hours, delivered = online_study(pid, seed)
    return hours, tuple(delivered)


def test_score_is_capped_hours_plus_distinct_deliverables() -> None:
    uncapped = programme()
    capped = programme(hours_cap=150, hours_weight=0.5, deliverable_weight=4)
    c = cand("P1", 180.5, ("plan", "book", "plan"))
    assert score(c, uncapped) == 180.5 + 2 * 10
    assert score(c, capped) == 0.5 * 150 + 2 * 4


def test_ranking_is_by_score_then_hours_then_participant_id() -> None:
    prog = programme()
    # P01 (150 h, 3 deliverables) ties with P03 and P04 (160 h, 2 deliverables) at 180 points: it
    # comes after them on hours. P03 and P04 tie on hours too, so the lower id comes first.
    assert score(POOL[0], prog) == score(POOL[3], prog) == 180
    assert ids(rank(POOL, prog)) == ["P03", "P04", "P01", "P02", "P05", "P08", "P09", "P10"]


def test_ties_under_an_hours_cap_go_to_more_hours() -> None:
    prog = programme(hours_cap=150)
    pool = [cand("P1", 180), cand("P2", 200), cand("P3", 150)]
    assert {score(c, prog) for c in pool} == {160}
    assert ids(rank(pool, prog)) == ["P2", "P1", "P3"]


def test_ineligible_candidates_are_never_ranked_or_selected() -> None:
    prog = programme(target=10, waiting_list=10)
    assert not is_eligible(POOL[5], prog)  # 99.9 h
    assert not is_eligible(POOL[6], prog)  # no plan, despite 300 h
    assert is_eligible(cand("P", 100), prog)  # exactly the minimum is enough

    outcome = select(POOL, prog)
    assert outcome.eligible == 8
    assert "P06" not in outcome.selected + outcome.waiting_list
    assert "P07" not in outcome.selected + outcome.waiting_list
    assert len(outcome.selected) == 8  # fewer eligible than the target: all of them, no one else


def test_selected_are_the_best_in_rank_order_and_waiting_list_the_next_best() -> None:
    outcome = select(POOL, programme(target=4, waiting_list=2))
    assert outcome.selected == ("P03", "P04", "P01", "P02")
    assert outcome.waiting_list == ("P05", "P08")
    assert outcome.eligible == 8


def test_waiting_list_has_the_configured_size() -> None:
    assert select(POOL, programme(waiting_list=0)).waiting_list == ()
    assert len(select(POOL, programme(waiting_list=3)).waiting_list) == 3
    # Only four eligible candidates are left after the four selected.
    assert select(POOL, programme(waiting_list=6)).waiting_list == ("P05", "P08", "P09", "P10")


def test_prefecture_minimums_are_filled_even_from_low_ranks() -> None:
    # Xiangtan's eligible candidates rank 1st (P03) and 6th (P08); with a minimum of 2 both get in.
    prog = with_prefectures(**{XIANGTAN: (2, None)})
    outcome = select(POOL, prog)
    assert outcome.selected == ("P03", "P04", "P01", "P08")
    assert "P02" in outcome.waiting_list


def test_a_minimum_is_met_from_the_bottom_of_the_list() -> None:
    pool = [*(cand(f"P{i}", 200 - i) for i in range(1, 6)), cand("P9", 100, prefecture=ZHUZHOU)]
    outcome = select(pool, with_prefectures(**{ZHUZHOU: (1, None)}))
    assert outcome.selected == ("P1", "P2", "P3", "P9")
    assert outcome.waiting_list == ("P4", "P5")


def test_prefecture_caps_are_respected() -> None:
    # The four best are all from Changsha; a cap of 2 lets the next prefectures in.
    pool = [*(cand(f"P{i}", 200 - i) for i in range(1, 5)), cand("P5", 150, prefecture=ZHUZHOU)]
    pool.append(cand("P6", 140, prefecture=XIANGTAN))
    outcome = select(pool, with_prefectures(**{CHANGSHA: (0, 2)}))
    assert outcome.selected == ("P1", "P2", "P5", "P6")
    # The waiting list is simply the next best not selected, whatever their prefecture.
    assert outcome.waiting_list == ("P3", "P4")


def test_a_capped_selection_can_fall_short_of_the_target() -> None:
    pool = [cand(f"P{i}", 200 - i) for i in range(1, 6)]
    outcome = select(pool, with_prefectures(**{CHANGSHA: (0, 2)}))
    assert outcome.selected == ("P1", "P2")


def test_the_sample_cohort_selection_meets_every_rule() -> None:
    prog, candidates = sample_candidates()
    outcome = select(candidates, prog)
    by_id = {c.participant_id: c for c in candidates}

    assert len(outcome.selected) == 800
    assert len(outcome.waiting_list) == 80
    assert not set(outcome.selected) & set(outcome.waiting_list)
    assert all(is_eligible(by_id[pid], prog) for pid in outcome.selected + outcome.waiting_list)
    per_prefecture = {p.code: 0 for p in prog.prefectures}
    for pid in outcome.selected:
        per_prefecture[by_id[pid].prefecture_code] += 1
    assert min(per_prefecture.values()) >= 10
    worst_selected = min(score(by_id[pid], prog) for pid in outcome.selected)
    best_waiting = score(by_id[outcome.waiting_list[0]], prog)
    assert best_waiting <= worst_selected


def test_shuffled_input_gives_the_identical_outcome() -> None:
    prog, candidates = sample_candidates()
    expected = select(candidates, prog)
    for seed in (1, 2, 3):
        shuffled = candidates[:]
        random.Random(seed).shuffle(shuffled)
        assert select(shuffled, prog) == expected


@settings(max_examples=50)
@given(st.permutations(POOL), st.integers(1, 8), st.integers(0, 4))
def test_selection_does_not_depend_on_input_order(pool: list[Candidate], target: int, waiting: int) -> None:
    prog = programme(target=min(target, 5), waiting_list=waiting)
    outcome = select(pool, prog)
    assert outcome == select(POOL, prog)
    assert outcome.selected == tuple(ids(rank(POOL, prog))[: len(outcome.selected)])


def test_deliverable_order_and_repetition_do_not_change_the_digest() -> None:
    prog = programme()
    a = select([cand("P1", 120, ("plan", "book"))], prog)
    b = select([cand("P1", 120, ("book", "plan", "book"))], prog)
    assert a.input_digest == b.input_digest


def test_input_digest_changes_with_any_fact_or_the_rule_version() -> None:
    prog = programme()
    base = select(POOL, prog).input_digest
    assert len(base) == 64

    variants = {
        "hours": [cand("P01", 150.5, ALL), *POOL[1:]],
        "deliverables": [cand("P01", 150, ("plan",)), *POOL[1:]],
        "prefecture": [cand("P01", 150, ALL, ZHUZHOU), *POOL[1:]],
        "ineligible candidate": [*POOL[:5], cand("P06", 99.8, ALL, XIANGTAN), *POOL[6:]],
        "one more": [*POOL, cand("P11", 10)],
    }
    digests = {name: select(pool, prog).input_digest for name, pool in variants.items()}
    assert base not in digests.values()
    assert len(set(digests.values())) == len(variants)

    assert select(POOL, programme(version=2)).input_digest != base
    assert select(POOL, with_prefectures(**{ZHUZHOU: (1, None)})).input_digest != base
