"""Every text the console shows has its Chinese, and the catalogue holds nothing the console does not show."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from babel.messages.pofile import read_po

from cohortflow.access.roles import ROLES
from cohortflow.api.credit_bank import BANK_FILE_PERMISSIONS
from cohortflow.console import (
    cohorts,
    dashboard,
    form_problems,
    imports,
    participants,
    programme_changes,
    programme_view,
)
from cohortflow.console.language import LOCALE_DIR, gettext_for
from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.credits import Source
from cohortflow.domain.credit_bank.people import Post
from cohortflow.domain.phases import PhaseKind
from cohortflow.domain.programme import ProgrammeKind

CONSOLE = Path(dashboard.__file__).parent
LITERAL = re.compile(r"""(?:_\(|say\(\s*request,)\s*(?:"([^"]+)"|'([^']+)')\s*\)""")


def shown() -> set[str]:
    """The texts the console's templates and code translate, and the values it translates by name."""
    found: set[str] = set(dashboard.STAGES) | set(cohorts.OUTCOMES) | set(form_problems.MESSAGES.values())
    found |= {f"bank:{kind}" for kind in BANK_FILE_PERMISSIONS}
    found |= {f"fact:{f}" for f in cohorts.CORRECTABLE} | {f"event:{e}" for e in participants.TIMELINE_EVENTS}
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("*.py")]:
        for double, single in LITERAL.findall(path.read_text(encoding="utf-8")):
            found.add(double or single)
    found |= set(ROLES) | set(get_args(PhaseKind)) | set(get_args(Post)) | {f"import:{k}" for k in imports.KINDS}
    found |= {f"source:{s}" for s in get_args(Source)} | {f"level:{level}" for level in get_args(CreditLevel)}
    found |= set(programme_view.block_kinds()) | {f"field:{name}" for name in programme_view.labels()}
    found |= {f"kind:{k}" for k in get_args(ProgrammeKind)} | {f"op:{op}" for op in programme_changes.OPERATIONS}
    return found


def test_every_text_is_translated_and_every_translation_is_used() -> None:
    zh = gettext_for("zh")
    untranslated = sorted(text for text in shown() if zh(text) == text)
    assert untranslated == []  # run `pybabel compile -D console -d cohortflow/console/locale` after editing the .po
    with (LOCALE_DIR / "zh" / "LC_MESSAGES" / "console.po").open("rb") as po:
        catalogue = {str(m.id) for m in read_po(po) if m.id}
    assert sorted(catalogue - shown()) == []
