"""Completion and credit awards: who completed, and which events earned each award."""

from __future__ import annotations

from dataclasses import dataclass

from cohortflow.domain.completion import completers, credit_awards
from cohortflow.domain.events import CreditAwarded, ParticipantWithdrawn, WaitingListPromoted
from cohortflow.domain.ledger import Ledger
from cohortflow.domain.programme import ProgrammeInvalid, parse_programme

from .builders import ZHUZHOU, History, key_of, programme, template

PROG = programme()


@dataclass
class Cohort:
    history: History
    at: dict[str, int]
    """Positions of the interesting events, e.g. ``at["P1 study"]``."""


def cohort() -> Cohort:
    """Six participants who got as far as their stories say."""
    h = History()
    at: dict[str, int] = {}
    for pid in ("P1", "P2", "P3", "P4", "P5", "P6"):
        h.nominate(pid, ZHUZHOU if pid == "P3" else "430100")
    at["P1 study"] = h.study("P1", 150, ["plan", "book"])
    at["P2 study"] = h.study("P2", 140, ["plan"])
    at["P3 study"] = h.study("P3", 101, ["plan"])  # eligible, not selected
    at["P4 study"] = h.study("P4", 80, ["plan"])  # too few hours
    at["P5 study"] = h.study("P5", 130, ["plan"])  # selected, later withdrawn
    at["P6 study"] = h.study("P6", 120, ["plan"])
    h.select(["P1", "P2", "P5", "P6"], ["P3"])
    at["P1 attended"] = h.attend("P1", 14, 14)
    at["P2 attended"] = h.attend("P2", 10, 14)  # 71 % < 80 %
    at["P5 attended"] = h.attend("P5", 14, 14)
    at["P6 attended"] = h.attend("P6", 12, 14)
    h.add(ParticipantWithdrawn(participant_id="P5", reason="调离", phase="return_to_post"))
    at["P1 report"] = h.report("P1")
    at["P2 report"] = h.report("P2")
    at["P6 report"] = h.report("P6")
    at["P1 m1"] = h.survey("P1", "m1")
    at["P6 m1"] = h.survey("P6", "m1")  # never answers m6
    at["P1 m6"] = h.survey("P1", "m6")
    return Cohort(h, at)


def test_completers_attended_field_study_and_reported_back() -> None:
    c = cohort()
    assert completers(c.history.facts(), PROG) == ["P1", "P6"]


def test_attendance_exactly_at_the_minimum_ratio_counts() -> None:
    h = History()
    h.nominate("P1")
    h.select(["P1"])
    h.attend("P1", 8, 10)
    h.report("P1")
    assert completers(h.facts(), PROG) == ["P1"]


def test_attendance_with_no_days_recorded_does_not_count() -> None:
    h = History()
    h.nominate("P1")
    h.select(["P1"])
    h.attend("P1", 0, 0)
    h.report("P1")
    assert completers(h.facts(), PROG) == []


def test_each_award_names_the_events_that_earned_it() -> None:
    c = cohort()
    awards = {a.entry_id: a for a in credit_awards(c.history.facts(), PROG)}
    at = c.at

    earned = {entry_id: a.earned_by for entry_id, a in awards.items()}
    assert earned == {
        "P1/online_study": [at["P1 study"]],
        "P1/field_study": [at["P1 attended"]],
        "P1/return_to_post": [at["P1 report"]],
        "P1/follow_up": [at["P1 m1"], at["P1 m6"]],
        "P1/completion": [at["P1 attended"], at["P1 report"]],
        "P2/online_study": [at["P2 study"]],
        "P2/return_to_post": [at["P2 report"]],
        "P3/online_study": [at["P3 study"]],
        "P6/online_study": [at["P6 study"]],
        "P6/field_study": [at["P6 attended"]],
        "P6/return_to_post": [at["P6 report"]],
        "P6/completion": [at["P6 attended"], at["P6 report"]],
    }
    assert awards["P1/follow_up"] == CreditAwarded(
        entry_id="P1/follow_up",
        participant_id="P1",
        person_key=key_of("P1"),
        phase="follow_up",
        hours=10,
        level="district",
        earned_by=[at["P1 m1"], at["P1 m6"]],
    )


def test_awards_come_in_participant_then_template_order() -> None:
    awards = list(credit_awards(cohort().history.facts(), PROG))
    pids = [a.participant_id for a in awards]
    assert pids == sorted(pids)
    template_order = [rule.phase for rule in PROG.credits]
    for pid in set(pids):
        phases = [a.phase for a in awards if a.participant_id == pid]
        assert phases == [phase for phase in template_order if phase in phases]


def test_withdrawn_and_ineligible_participants_get_nothing() -> None:
    awarded = {a.participant_id for a in credit_awards(cohort().history.facts(), PROG)}
    assert "P5" not in awarded, "withdrawn after attending: no credit at all"
    assert "P4" not in awarded, "never met the online requirement"


def test_hours_and_levels_come_from_the_template() -> None:
    ledger = Ledger.from_events(credit_awards(cohort().history.facts(), PROG))
    assert ledger.total(key_of("P1")) == 50 + 60 + 20 + 10 + 10
    assert ledger.total_by_level(key_of("P1")) == {"province": 110, "city": 20, "district": 10, "school": 10}
    assert ledger.total(key_of("P3")) == 50


def test_already_credited_phases_are_not_awarded_twice() -> None:
    c = cohort()
    first = list(credit_awards(c.history.facts(), PROG))
    c.history.add(first[0])  # P1/online_study was recorded before, say, a crash
    second = [a.entry_id for a in credit_awards(c.history.facts(), PROG)]
    assert "P1/online_study" not in second
    assert second == [a.entry_id for a in first[1:]]

    for award in first[1:]:
        c.history.add(award)
    assert list(credit_awards(c.history.facts(), PROG)) == []


def test_a_promoted_participant_earns_like_any_other() -> None:
    h = History()
    h.nominate("P1")
    h.nominate("P2")
    h.study("P2", 110, ["plan"])
    h.select(["P1"], ["P2"])
    h.add(ParticipantWithdrawn(participant_id="P1", reason="ill", phase="selection"))
    h.add(WaitingListPromoted(participant_id="P2", replaces="P1"))
    attended = h.attend("P2", 14)
    reported = h.report("P2")

    facts = h.facts()

    assert completers(facts, PROG) == ["P2"]
    completion = next(a for a in credit_awards(facts, PROG) if a.phase == "completion")
    assert completion.earned_by == [attended, reported]


def test_every_award_of_an_accepted_template_can_be_recorded() -> None:
    # Credits for one phase at two levels (e.g. province and city share field-study hours).
    data = template()
    data["credits"] = [
        {"phase": "field_study", "hours": 40, "level": "province"},
        {"phase": "field_study", "hours": 20, "level": "city"},
    ]
    try:
        prog = parse_programme(data)
    except ProgrammeInvalid as refused:
        # Refusing such a template is one acceptable answer; it must say why.
        assert any("field_study" in problem for problem in refused.problems)
        return
    h = History()
    h.nominate("P1")
    h.select(["P1"])
    h.attend("P1", 14)

    ledger = Ledger.from_events(credit_awards(h.facts(), prog))

    assert ledger.total_by_level(key_of("P1")) == {"province": 40, "city": 20}
