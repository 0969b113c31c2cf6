"""A recorded programme template as the console shows it: a timeline of its stages (blocks, or the seven phases),
each with its own settings and the reminder rules about it.

A block's own settings are read from its model, field by field (a nested model as its fields, a list of models as
a table), so a new block kind or setting shows without a page edit; its labels are the catalogue's ``field:`` texts,
which ``labels()`` lists for the catalogue test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any, ClassVar, get_args

from pydantic import BaseModel

from cohortflow.domain.blocks.common import BlockBase, FundingLine
from cohortflow.domain.blocks.registry import Block
from cohortflow.domain.blocks.reminders import BlockReminderRule
from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_rules import ReminderRule
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate


@dataclass(frozen=True)
class Table:
    """A list of models: a column per field any of them sets."""

    shape: ClassVar[str] = "table"

    columns: tuple[str, ...]
    rows: tuple[tuple[Shown, ...], ...]


@dataclass(frozen=True)
class Fields:
    """A model's fields that hold something, by name."""

    shape: ClassVar[str] = "fields"

    items: tuple[tuple[str, Shown], ...]


Shown = str | bool | Fields | Table | None
"""A value as the page shows it; booleans are left for the page to say yes or no in the reader's language."""

TEMPLATE_FIELDS = frozenset({"id", "version", "name", "kind", "stages", "reminders"})
"""A block template's fields the page shows in its heading or timeline, not among the template's settings."""
PHASE_TEMPLATE_FIELDS = frozenset({"id", "version", "name", "kind", "phases", "credits", "reminders"})
"""The same of a seven-phase template, whose credits are shown with the phase that grants them."""
BLOCK_FIELDS = frozenset(BlockBase.model_fields) - {"funding"}
"""What every block has, shown in the timeline's own places; the rest (and who pays) are the kind's own settings."""
RULE_OWNER = frozenset({"block"})
"""A reminder rule is shown under the block it is about, so its ``block`` is not repeated."""


def shown(value: object) -> Shown:
    if isinstance(value, BaseModel):
        return fields(value)
    if isinstance(value, tuple | list):
        if not value:
            return None
        if all(isinstance(v, BaseModel) for v in value):
            return table(value)
        return ", ".join(str(shown(v)) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def fields(model: BaseModel, skip: frozenset[str] = frozenset()) -> Fields:
    found = ((name, shown(getattr(model, name))) for name in type(model).model_fields if name not in skip)
    return Fields(tuple((name, value) for name, value in found if value is not None))


def table(models: Sequence[BaseModel], skip: frozenset[str] = frozenset()) -> Table:
    rows = [dict(fields(m, skip).items) for m in models]
    columns = [name for name in type(models[0]).model_fields if any(name in row for row in rows)]
    return Table(tuple(columns), tuple(tuple(row.get(c) for c in columns) for row in rows))


@dataclass(frozen=True)
class Stage:
    """One step of the timeline: a block, or a phase of a seven-phase template."""

    kind: str
    code: str
    name: str
    start_day: int
    end_day: int
    opens: date | None
    year: str | None
    tracks: tuple[str, ...]
    credits: BaseModel | None
    own: Fields
    rules: Table | None

    @property
    def days(self) -> int:
        return self.end_day - self.start_day


@dataclass(frozen=True)
class Timeline:
    blocks: bool
    """A block template's (with tracks and years), or a seven-phase one's."""
    settings: Fields
    """The template's settings besides its stages (tracks, years, prefectures, or a seven-phase template's rules)."""
    stages: tuple[Stage, ...]
    unplaced: Table | None
    """Reminder rules tied to no stage (a seven-phase template's weekly digests)."""

    @property
    def length_days(self) -> int:
        return max((s.end_day for s in self.stages), default=0)

    def span(self, stage: Stage) -> tuple[float, float]:
        """Where the stage's bar starts and how wide it is, in percent of the programme's length (at least a
        sliver, so a one-day stage still shows)."""
        length = self.length_days or 1
        return 100 * stage.start_day / length, max(0.5, 100 * stage.days / length)


def timeline(template: AnyTemplate) -> Timeline:
    if isinstance(template, ProgrammeTemplate):
        return _block_timeline(template)
    return _phase_timeline(template)


def _rules(rules: Sequence[BaseModel], skip: frozenset[str] = frozenset()) -> Table | None:
    return table(rules, skip) if rules else None


def _block_timeline(t: ProgrammeTemplate) -> Timeline:
    rules = t.reminders.rules if t.reminders else ()
    themes = {y.number: y.theme for y in t.years}
    stages = tuple(
        Stage(
            kind=b.kind,
            code=b.code,
            name=b.name,
            start_day=b.start_day,
            end_day=b.end_day,
            opens=_day(t.starts_on, b.start_day),
            year=None if b.year is None else f"{b.year} · {themes.get(b.year, '')}",
            tracks=b.tracks,
            credits=b.credits,
            own=fields(b, BLOCK_FIELDS),
            rules=_rules([r for r in rules if r.block == b.code], RULE_OWNER),
        )
        for b in t.stages
    )
    return Timeline(True, fields(t, TEMPLATE_FIELDS), stages, None)


def _phase_timeline(p: Programme) -> Timeline:
    rules = p.reminders.rules if p.reminders else ()
    stages = tuple(
        Stage(
            kind=ph.kind,
            code=ph.kind,
            name="",
            start_day=ph.start_day,
            end_day=ph.end_day,
            opens=None,
            year=None,
            tracks=(),
            credits=next((c for c in p.credits if c.phase == ph.kind), None),
            own=Fields(()),
            rules=_rules([r for r in rules if r.phase == ph.kind]),
        )
        for ph in p.phases
    )
    return Timeline(False, fields(p, PHASE_TEMPLATE_FIELDS), stages, _rules([r for r in rules if r.phase is None]))


def _day(starts_on: date | None, day: int) -> date | None:
    return None if starts_on is None else starts_on + timedelta(days=day)


def block_kinds() -> tuple[str, ...]:
    """Every registered block kind, as its ``kind`` tag."""
    return tuple(str(cls.model_fields["kind"].default) for cls in _models(Block))


def labels() -> set[str]:
    """Every field name a programme's page may show as a label: the template's settings, every block kind's own,
    funding lines and reminder rules of both forms."""
    names: set[str] = set()
    shown_models: list[tuple[type[BaseModel], frozenset[str]]] = [
        (ProgrammeTemplate, TEMPLATE_FIELDS),
        (Programme, PHASE_TEMPLATE_FIELDS),
        (FundingLine, frozenset[str]()),
        (ReminderRule, frozenset[str]()),
        (BlockReminderRule, RULE_OWNER),
        *((kind, BLOCK_FIELDS) for kind in _models(Block)),
    ]
    for model, skip in shown_models:
        names |= _names(model, skip)
    return names


def _names(model: type[BaseModel], skip: frozenset[str]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        names.add(name)
        for nested in _models(info.annotation):
            names |= _names(nested, frozenset())
    return names


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models an annotation holds: itself, or inside a tuple, a union or an ``Annotated``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _models(arg)
