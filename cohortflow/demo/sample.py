"""Deterministic sample data: a province-wide programme and its people.

Used by the demo, the benchmarks and the tests. The same seed always gives the
same names, schools, ID numbers and study records, independently of the order
in which they are asked for, so a re-run or a retried activity sees the same
facts.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from cohortflow.domain import national_id
from cohortflow.domain.nomination import NomineeRow
from cohortflow.domain.programme import Programme

# 湖南省: 14 prefectures (市州) with their administrative division codes.
PREFECTURES: tuple[tuple[str, str], ...] = (
    ("430100", "长沙市"),
    ("430200", "株洲市"),
    ("430300", "湘潭市"),
    ("430400", "衡阳市"),
    ("430500", "邵阳市"),
    ("430600", "岳阳市"),
    ("430700", "常德市"),
    ("430800", "张家界市"),
    ("430900", "益阳市"),
    ("431000", "郴州市"),
    ("431100", "永州市"),
    ("431200", "怀化市"),
    ("431300", "娄底市"),
    ("433100", "湘西土家族苗族自治州"),
)
# Relative sizes, roughly by number of schools.
_WEIGHTS = (14, 8, 6, 13, 11, 10, 10, 3, 8, 9, 10, 9, 7, 5)

DELIVERABLES: tuple[tuple[str, str], ...] = (
    ("book", "读一本书"),
    ("micro_lesson", "设计一节微课"),
    ("improvement_plan", "写一份改进方案"),
    ("reflection", "写一篇反思论文"),
    ("multimedia", "制作一个多媒体作品"),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宇浩然晨曦思远海燕春梅立新德明湘江岳麓"
_SCHOOL_KINDS = ("第一中学", "第二中学", "实验中学", "实验小学", "第一小学", "中心小学", "职业中学", "九年一贯制学校")
_ROLES = ("校长", "党组织书记", "副校长", "校长兼党组织书记")


def quotas(total: int) -> list[int]:
    """Split ``total`` nominations across the prefectures by weight (largest remainder)."""
    weight_sum = sum(_WEIGHTS)
    raw = [total * w / weight_sum for w in _WEIGHTS]
    base = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (base[i] - raw[i], i))
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def sample_programme(
    candidates: int = 5000, selected: int = 800, version: int = 1, *, reminders: bool = False, digests: bool = False
) -> Programme:
    """The 国培 party-secretary programme of one province, as a template.

    ``reminders`` adds reminder rules before deadlines and after phases; ``digests``
    adds coordinators' weekly digests too (they need a Temporal server with Schedules).
    """
    per_batch = math.ceil(selected * 1.1 / 6)
    minimum = min(10, selected // (2 * len(PREFECTURES)))
    return Programme.model_validate(
        {
            "id": "guopei-party-secretary",
            "version": version,
            "name": "国培计划·中小学党组织书记示范培训",
            "kind": "improvement",
            "candidates": candidates,
            "phases": [
                {"kind": "nomination", "start_day": 0, "end_day": 30},
                {"kind": "online_study", "start_day": 30, "end_day": 120},
                {"kind": "selection", "start_day": 120, "end_day": 134},
                {"kind": "field_study", "start_day": 134, "end_day": 194},
                {"kind": "return_to_post", "start_day": 194, "end_day": 284},
                {"kind": "follow_up", "start_day": 284, "end_day": 1014},
                {"kind": "completion", "start_day": 1014, "end_day": 1015},
            ],
            "prefectures": [
                {"code": code, "name": name, "quota": q, "min_selected": minimum}
                for (code, name), q in zip(PREFECTURES, quotas(candidates), strict=True)
            ],
            "deliverables": [{"code": c, "name": n} for c, n in DELIVERABLES],
            "online": {"min_hours": 100, "required_deliverables": ["improvement_plan", "reflection"]},
            "selection": {
                "version": 1,
                "target": selected,
                "waiting_list": max(1, selected // 10),
                "hours_weight": 1.0,
                "hours_cap": 200,
                "deliverable_weight": 10.0,
                "replace_until": "field_study",
            },
            "field_study": {
                "sites": [
                    {
                        "code": code,
                        "name": name,
                        "batches": [
                            {"code": "B1", "capacity": per_batch, "start_day": 0, "days": 14},
                            {"code": "B2", "capacity": per_batch, "start_day": 21, "days": 14},
                        ],
                    }
                    for code, name in (("CS", "长沙"), ("NC", "南昌"), ("CQ", "重庆"))
                ],
                "min_attendance_ratio": 0.8,
            },
            "follow_up": [
                {"code": "m1", "after_days": 30},
                {"code": "m6", "after_days": 180},
                {"code": "y1", "after_days": 365},
                {"code": "y2", "after_days": 730},
            ],
            "credits": [
                {"phase": "online_study", "hours": 50, "level": "province"},
                {"phase": "field_study", "hours": 60, "level": "province"},
                {"phase": "return_to_post", "hours": 20, "level": "city"},
                {"phase": "follow_up", "hours": 10, "level": "district"},
                {"phase": "completion", "hours": 10, "level": "school"},
            ],
            "reminders": sample_reminders(digests=digests) if reminders or digests else None,
        }
    )


def sample_reminders(*, digests: bool) -> dict[str, object]:
    rules: list[dict[str, object]] = [
        {
            "code": "study-hours",
            "template": "study-hours",
            "audience": "under_required_hours",
            "before": {"phase": "online_study", "days": [7, 1]},
        },
        {
            "code": "reflection",
            "template": "deliverable",
            "audience": "missing_deliverable",
            "deliverable": "reflection",
            "before": {"phase": "online_study", "days": [3]},
        },
        {
            "code": "return-report",
            "template": "return-report",
            "audience": "return_report_pending",
            "channel": "webhook",
            "before": {"phase": "return_to_post", "days": [7]},
        },
    ]
    rules += [
        {
            "code": f"survey-{survey}",
            "template": "survey",
            "audience": "survey_pending",
            "survey": survey,
            "after": {"phase": "return_to_post", "days": [days], "nudges": 2, "nudge_every_days": 7},
        }
        for survey, days in (("m1", 31), ("m6", 181))
    ]
    if digests:
        rules.append(
            {
                "code": "weekly",
                "template": "digest",
                "audience": "coordinators",
                "weekly": {"weekday": 1, "at": "09:00"},
            }
        )
    return {
        "time_zone": "Asia/Shanghai",
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "rules": rules,
        "templates": [
            {
                "code": "study-hours",
                "zh": {
                    "subject": "【{programme}】网络研修学时提醒",
                    "body": "{name}老师：您目前的网络研修学时为{hours}，要求{required_hours}，还差{missing_hours}。"
                    "研修将于{deadline}截止（还有{days_left}天）。",
                },
                "en": {
                    "subject": "{programme}: online study hours",
                    "body": "Dear {name}, you have {hours} of the {required_hours} hours required "
                    "({missing_hours} to go). Online study closes on {deadline}, in {days_left} days.",
                },
            },
            {
                "code": "deliverable",
                "zh": {
                    "subject": "【{programme}】作业提交提醒",
                    "body": "{name}老师：您尚未提交“{deliverable}”，请于{deadline}前提交。",
                },
                "en": {
                    "subject": "{programme}: {deliverable} not yet handed in",
                    "body": "Dear {name}, please hand in {deliverable} before {deadline}.",
                },
            },
            {
                "code": "return-report",
                "zh": {"subject": "返岗实践报告提醒", "body": "{name}老师：请于{deadline}前提交返岗实践报告。"},
                "en": {"subject": "Return-to-post report", "body": "Dear {name}, your report is due {deadline}."},
            },
            {
                "code": "survey",
                "zh": {"subject": "【{programme}】跟踪问卷", "body": "{name}老师：请填写训后跟踪问卷（{survey}）。"},
                "en": {
                    "subject": "{programme}: follow-up survey",
                    "body": "Dear {name}, please answer survey {survey}.",
                },
            },
            {
                "code": "digest",
                "zh": {
                    "subject": "【{programme}】{prefecture}周报（{week}）",
                    "body": "{name}：{prefecture}推荐{nominated}人，达到网络研修要求{met_online_requirement}人，"
                    "入选{selected}人，完成集中研修{attended_field_study}人，结业{completed}人，退出{withdrawn}人。",
                },
                "en": {
                    "subject": "{programme}: {prefecture} weekly digest ({week})",
                    "body": "{name}: {nominated} nominated, {met_online_requirement} met the online requirement, "
                    "{selected} selected, {attended_field_study} attended field study, {completed} completed, "
                    "{withdrawn} withdrew.",
                },
            },
        ],
        "coordinators": [
            {"prefecture": code, "name": f"{name}项目办", "email": f"coordinator-{code}@example.org"}
            for code, name in PREFECTURES
        ],
    }


def participant_id(index: int) -> str:
    return f"P{index:06d}"


def _rng(seed: int, pid: str, what: str) -> random.Random:
    return random.Random(f"{seed}:{pid}:{what}")


def nominees(programme: Programme, seed: int) -> list[NomineeRow]:
    """Everyone the prefectures nominate, exactly filling each quota."""
    people: list[NomineeRow] = []
    for pref in programme.prefectures:
        for _ in range(pref.quota):
            people.append(nominee(len(people) + 1, pref.code, pref.name, seed))
    return people


def nominee(index: int, prefecture_code: str, prefecture_name: str, seed: int) -> NomineeRow:
    """The ``index``-th nominee (1-based), as row ``index + 1`` of a nomination sheet with a header."""
    pid = participant_id(index)
    rng = _rng(seed, pid, "person")
    male = rng.random() < 0.55
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    born = date(1965, 1, 1) + timedelta(days=rng.randrange(365 * 25))
    area = prefecture_code[:4] + f"{rng.randint(1, 30):02d}"
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    short = prefecture_name.removesuffix("市")[:2]
    return NomineeRow(
        row=index + 1,
        participant_id=pid,
        name=rng.choice(_SURNAMES) + given,
        national_id=first17 + national_id.check_char(first17),
        gender="M" if male else "F",
        prefecture_code=prefecture_code,
        school=f"{short}{rng.choice('东南西北中')}区{rng.choice(_SCHOOL_KINDS)}",
        role=rng.choice(_ROLES),
        # A few people have no address on record, as in every real nomination sheet.
        email=None if rng.random() < 0.01 else f"{pid.lower()}@example.org",
        phone=f"+86138{index:08d}",
        locale="en" if rng.random() < 0.02 else "zh",
    )


def online_study(pid: str, seed: int) -> tuple[float, list[str]]:
    """Study hours (mean near 146, a tail of drop-outs) and deliverables handed in."""
    rng = _rng(seed, pid, "online")
    hours = rng.uniform(0, 60) if rng.random() < 0.08 else min(320.0, max(40.0, rng.gauss(146, 35)))
    keen = hours >= 100
    delivered = [code for code, _ in DELIVERABLES if rng.random() < (0.92 if keen else 0.5)]
    return round(hours, 1), delivered


def attendance(pid: str, seed: int, days: int) -> int:
    rng = _rng(seed, pid, "attendance")
    return days if rng.random() < 0.9 else days - rng.randint(1, max(1, days // 2))


def returns_report(pid: str, seed: int) -> bool:
    return _rng(seed, pid, "return").random() < 0.96


def survey_answer(pid: str, seed: int, survey: str) -> int | None:
    """Satisfaction 1-5, or None when the participant does not answer."""
    rng = _rng(seed, pid, f"survey:{survey}")
    return rng.choice((3, 4, 4, 5, 5, 5)) if rng.random() < 0.97 else None
