"""Each kind of import file is accepted only while its own phase is open."""

from __future__ import annotations

from typing import get_args

import pytest

from cohortflow.domain.cycle import IMPORT_PHASES, CommandRefused, check_import_open
from cohortflow.domain.events import ImportKind
from cohortflow.domain.programme import PHASE_ORDER, PhaseKind
from cohortflow.domain.vocabulary import BlockImportKind, PhaseImportKind

EXPECTED: dict[ImportKind, PhaseKind] = {
    "nominees": "nomination",
    "study_records": "online_study",
    "deliverables": "online_study",
    "attendance": "field_study",
    "return_reports": "return_to_post",
    "follow_up": "follow_up",
}


def test_every_import_kind_belongs_to_one_phase() -> None:
    assert set(IMPORT_PHASES) == set(get_args(PhaseImportKind))
    assert IMPORT_PHASES == EXPECTED


@pytest.mark.parametrize("kind", get_args(BlockImportKind))
def test_a_kind_only_blocks_take_is_refused_by_a_seven_phase_cohort(kind: ImportKind) -> None:
    with pytest.raises(CommandRefused, match=f"a {kind} file belongs to a block template; this cohort runs the"):
        check_import_open("nomination", kind)


@pytest.mark.parametrize(("kind", "phase"), EXPECTED.items())
def test_a_file_is_accepted_while_its_phase_is_open(kind: ImportKind, phase: PhaseKind) -> None:
    check_import_open(phase, kind)


@pytest.mark.parametrize(
    ("kind", "phase"),
    [(kind, phase) for kind, expected in EXPECTED.items() for phase in PHASE_ORDER if phase != expected],
)
def test_a_file_is_refused_in_any_other_phase(kind: ImportKind, phase: PhaseKind) -> None:
    expected = EXPECTED[kind]
    with pytest.raises(CommandRefused) as err:
        check_import_open(phase, kind)
    assert str(err.value) == f"a {kind} file belongs to the {expected} phase; the cohort is in {phase}"


@pytest.mark.parametrize("kind", EXPECTED)
def test_a_file_is_refused_once_the_cohort_has_finished(kind: ImportKind) -> None:
    with pytest.raises(CommandRefused) as err:
        check_import_open(None, kind)
    assert str(err.value) == f"a {kind} file belongs to the {EXPECTED[kind]} phase; the cohort is finished"
