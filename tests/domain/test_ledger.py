"""Credit ledger (学时账本): totals by person and level, reversals, refusals, replay."""

from __future__ import annotations

import pytest

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.events import CreditAwarded, CreditReversed
from cohortflow.domain.ledger import Ledger, LedgerError
from cohortflow.domain.programme import PhaseKind

WANG, LI = "key-wang", "key-li"


def award(
    entry_id: str,
    hours: float,
    level: CreditLevel = "province",
    phase: PhaseKind = "online_study",
    person_key: str = WANG,
    earned_by: tuple[int, ...] = (1,),
) -> CreditAwarded:
    return CreditAwarded(
        entry_id=entry_id,
        participant_id=f"P-{person_key}",
        person_key=person_key,
        phase=phase,
        hours=hours,
        level=level,
        earned_by=list(earned_by),
    )


def ledger_of(*events: CreditAwarded | CreditReversed) -> Ledger:
    ledger = Ledger()
    for event in events:
        ledger.record(event)
    return ledger


def test_totals_per_person_per_level_and_overall() -> None:
    ledger = ledger_of(
        award("w1", 50, "province"),
        award("w2", 60, "province", "field_study"),
        award("w3", 20, "city", "return_to_post"),
        award("l1", 50, "province", person_key=LI),
    )
    assert ledger.total(WANG) == 130
    assert ledger.total(LI) == 50
    assert ledger.total("nobody") == 0
    assert ledger.total_by_level(WANG) == {"province": 110, "city": 20}
    assert ledger.total_by_level(LI) == {"province": 50}
    assert ledger.grand_total() == 180


def test_totals_do_not_accumulate_float_noise() -> None:
    ledger = ledger_of(award("a", 0.1), award("b", 0.2, "city"), award("c", 0.2, "city"))
    assert ledger.total(WANG) == 0.5
    assert ledger.total_by_level(WANG) == {"province": 0.1, "city": 0.4}


def test_entries_keep_where_every_hour_came_from() -> None:
    ledger = ledger_of(award("w1", 60, "province", "field_study", earned_by=(17, 42)))
    (entry,) = ledger.entries
    assert (entry.entry_id, entry.person_key, entry.participant_id) == ("w1", WANG, f"P-{WANG}")
    assert (entry.hours, entry.level, entry.phase, entry.earned_by) == (60, "province", "field_study", (17, 42))
    assert entry.reverses is None


def test_a_reversal_is_a_negative_entry_that_names_the_original() -> None:
    ledger = ledger_of(award("w1", 50), award("w2", 20, "city", "return_to_post"))

    reversal = ledger.reverse("w1", "hours were imported twice", new_entry_id="w1-rev")

    assert reversal == CreditReversed(
        entry_id="w1-rev",
        reverses="w1",
        participant_id=f"P-{WANG}",
        person_key=WANG,
        hours=-50,
        reason="hours were imported twice",
    )
    assert ledger.total(WANG) == 70, "deciding a reversal must not change the ledger"

    ledger.record(reversal)
    assert ledger.total(WANG) == 20
    assert [e.entry_id for e in ledger.entries] == ["w1", "w2", "w1-rev"]
    assert ledger.entries[-1].reverses == "w1"
    assert ledger.entries[-1].reason == "hours were imported twice"


def test_a_reversal_cancels_the_hours_of_its_own_level() -> None:
    ledger = ledger_of(award("w1", 50, "province"), award("w2", 20, "city", "return_to_post"))
    ledger.record(ledger.reverse("w1", "wrong level", new_entry_id="w1-rev"))
    assert ledger.total_by_level(WANG) == {"province": 0, "city": 20}


def test_reversing_an_unknown_entry_is_refused() -> None:
    ledger = ledger_of(award("w1", 50))
    with pytest.raises(LedgerError, match=r"^cannot reverse w9: no such entry$"):
        ledger.reverse("w9", "typo", new_entry_id="w9-rev")


def test_reversing_twice_is_refused() -> None:
    ledger = ledger_of(award("w1", 50))
    ledger.record(ledger.reverse("w1", "duplicate import", new_entry_id="w1-rev"))
    with pytest.raises(LedgerError, match=r"^cannot reverse w1: it was already reversed$"):
        ledger.reverse("w1", "again", new_entry_id="w1-rev2")


def test_reversing_a_reversal_is_refused() -> None:
    ledger = ledger_of(award("w1", 50))
    ledger.record(ledger.reverse("w1", "duplicate import", new_entry_id="w1-rev"))
    with pytest.raises(LedgerError, match=r"^cannot reverse w1-rev: it is itself a reversal$"):
        ledger.reverse("w1-rev", "undo the undo", new_entry_id="w1-rev-rev")


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_a_reversal_needs_a_reason(reason: str) -> None:
    ledger = ledger_of(award("w1", 50))
    with pytest.raises(LedgerError, match=r"^a reversal needs a reason$"):
        ledger.reverse("w1", reason, new_entry_id="w1-rev")


def test_a_duplicate_entry_id_is_refused() -> None:
    ledger = ledger_of(award("w1", 50))
    with pytest.raises(LedgerError, match=r"^entry w1 is already in the ledger$"):
        ledger.record(award("w1", 10, "city"))
    assert ledger.total(WANG) == 50


def test_a_reversal_may_not_reuse_an_entry_id() -> None:
    # reverse() decides the event the caller will store; if recording it would be refused,
    # the store would hold an event the ledger can never be rebuilt from.
    ledger = ledger_of(award("w1", 50), award("w2", 20, "city"))
    with pytest.raises(LedgerError):
        ledger.reverse("w1", "duplicate import", new_entry_id="w2")


def test_recorded_reversals_are_checked_like_decided_ones() -> None:
    ledger = ledger_of(award("w1", 50))
    orphan = CreditReversed(entry_id="r", reverses="w9", participant_id="P", person_key=WANG, hours=-5, reason="x")
    with pytest.raises(LedgerError, match="no such entry"):
        ledger.record(orphan)
    ledger.record(ledger.reverse("w1", "duplicate import", new_entry_id="w1-rev"))
    again = CreditReversed(entry_id="r2", reverses="w1", participant_id="P", person_key=WANG, hours=-50, reason="x")
    with pytest.raises(LedgerError, match="already reversed"):
        ledger.record(again)


def test_from_events_rebuilds_the_same_ledger() -> None:
    live = ledger_of(award("w1", 50), award("w2", 60, "province", "field_study"), award("l1", 50, person_key=LI))
    reversal = live.reverse("w2", "attendance corrected", new_entry_id="w2-rev")
    live.record(reversal)
    history: list[CreditAwarded | CreditReversed] = [
        award("w1", 50),
        award("w2", 60, "province", "field_study"),
        award("l1", 50, person_key=LI),
        reversal,
    ]

    rebuilt = Ledger.from_events(history)

    assert rebuilt.entries == live.entries
    assert rebuilt.total(WANG) == 50
    assert rebuilt.total(LI) == 50
    assert rebuilt.grand_total() == 100


def test_from_events_refuses_a_history_with_duplicates() -> None:
    with pytest.raises(LedgerError, match="already in the ledger"):
        Ledger.from_events([award("w1", 50), award("w1", 50)])


def test_from_events_of_nothing_is_empty() -> None:
    ledger = Ledger.from_events([])
    assert ledger.entries == ()
    assert ledger.grand_total() == 0
