"""Reports for appraisal: who in a school, county or prefecture meets or misses which rule on a day, and the
levels their hours came from against the targets.

A report reads the people of the unit and all their entries in three queries
and judges each person with the domain, so a county of 5,000 people is one
pass over its rows. The rows export as CSV or XLSX with Chinese headers
through :mod:`cohortflow.readmodels.exports`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.requirements import RequirementBook
from cohortflow.domain.credit_bank.standing import effective, standing
from cohortflow.readmodels.bank import PersonFilter, entries_of, people
from cohortflow.readmodels.exports import Column
from cohortflow.readmodels.queries import Source

PAGE = 10_000
"""People read at a time: a prefecture's report is judged page by page."""


class ReportRow(BaseModel):
    """One person against one rule."""

    person_key: str
    prefecture_code: str
    county_code: str
    school: str
    name: str
    national_id: str
    post: str
    rule_id: str
    rule: str
    window: str
    unit: Literal["hours", "days"]
    required: float
    achieved: float
    missing: float
    met: bool
    why: str


class UnitSummary(BaseModel):
    """One school's people and hours: how many meet each rule, and each level's share of the hours that stand."""

    county_code: str
    school: str
    people: int
    behind: int
    met_by_rule: dict[str, int]
    behind_by_rule: dict[str, int]
    level_shares: dict[str, float]


class StandingReport(BaseModel):
    as_of: date
    requirements_version: int
    level_targets: dict[str, float]
    schools: list[UnitSummary]
    rows: list[ReportRow]


COLUMNS = (
    Column("prefecture_code", "市州代码"),
    Column("county_code", "区县代码"),
    Column("school", "学校"),
    Column("name", "姓名"),
    Column("national_id", "身份证号", "national_id"),
    Column("post", "职务"),
    Column("rule", "培训要求"),
    Column("window", "计算周期"),
    Column("required", "应完成", "number"),
    Column("achieved", "已完成", "number"),
    Column("missing", "尚缺", "number"),
    Column("unit", "单位"),
    Column("met", "是否达标", "bool"),
    Column("why", "说明"),
)
TITLE = "培训达标情况"


@dataclass
class _Tally:
    people: int = 0
    behind: int = 0
    met: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    hours: dict[str, float] = field(default_factory=dict)

    def summary(self, county: str, school: str) -> UnitSummary:
        total = sum(self.hours.values())
        return UnitSummary(
            county_code=county,
            school=school,
            people=self.people,
            behind=self.behind,
            met_by_rule=dict(self.met),
            behind_by_rule=dict(self.missed),
            level_shares={
                level: round(self.hours.get(level, 0.0) / total, 4) if total > 0 else 0.0
                for level in get_args(CreditLevel)
            },
        )


async def standing_report(
    source: Source, where: PersonFilter, book: RequirementBook, as_of: date, *, behind_only: bool = False
) -> StandingReport:
    """Every person of the unit judged on ``as_of``; rows for the rules they miss only, if ``behind_only``."""
    requirements = book.in_force(as_of)
    rows: list[ReportRow] = []
    schools: dict[tuple[str, str], _Tally] = {}
    after: str | None = None
    while True:
        found = await people(source, where, after=after, limit=PAGE)
        if not found:
            break
        after = found[-1].person_key
        credits = await entries_of(source, [p.person_key for p in found])
        for facts in found:
            mine, _ = credits[facts.person_key]
            judged = standing(facts.person(), mine, requirements, as_of)
            tally = schools.setdefault((facts.county_code, facts.school), _Tally())
            tally.people += 1
            tally.behind += any(not r.met for r in judged)
            for credit in effective(mine, as_of, "known_now"):
                tally.hours[credit.level] = tally.hours.get(credit.level, 0.0) + credit.hours
            for r in judged:
                (tally.met if r.met else tally.missed)[r.rule_id] += 1
                if behind_only and r.met:
                    continue
                rows.append(
                    ReportRow(
                        person_key=facts.person_key,
                        prefecture_code=facts.prefecture_code,
                        county_code=facts.county_code,
                        school=facts.school,
                        name=facts.name,
                        national_id=facts.national_id,
                        post=facts.post,
                        rule_id=r.rule_id,
                        rule=r.title,
                        window="" if r.window is None else f"{r.window[0]} – {r.window[1]}",
                        unit=r.unit,
                        required=r.required,
                        achieved=round(r.achieved, 6),
                        missing=round(r.missing, 6),
                        met=r.met,
                        why=r.why,
                    )
                )
        if len(found) < PAGE:
            break
    return StandingReport(
        as_of=as_of,
        requirements_version=requirements.version,
        level_targets=requirements.level_targets.model_dump(),
        schools=[tally.summary(county, school) for (county, school), tally in sorted(schools.items())],
        rows=rows,
    )
