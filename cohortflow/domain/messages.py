"""Message templates in Chinese and English, with ``{placeholder}`` fields.

Placeholders use :meth:`str.format` syntax reduced to a plain ``{name}``: no
attribute or index access, conversion or format spec, so a template can name a
value but never reach into an object or fail on a value's type when it fires. Which names a
template may use depends on who receives it (:data:`PLACEHOLDERS`); an unknown
name is a problem in the programme template, found before anything is sent.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cohortflow.domain.phrases import phrase

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")
Recipients = Literal["participants", "coordinators"]

_COMMON = ("name", "cohort", "programme")
PLACEHOLDERS: dict[Recipients, frozenset[str]] = {
    "participants": frozenset(
        (
            *_COMMON,
            "participant_id",
            "school",
            "prefecture",
            "deadline",
            "days_left",
            "hours",
            "required_hours",
            "missing_hours",
            "deliverable",
            "survey",
            "phase",
        )
    ),
    "coordinators": frozenset(
        (
            *_COMMON,
            "prefecture",
            "nominated",
            "met_online_requirement",
            "selected",
            "attended_field_study",
            "completed",
            "withdrawn",
            "week",
        )
    ),
}


class MessageText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    body: str


class MessageTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    zh: MessageText
    en: MessageText

    def text(self, locale: Locale) -> MessageText:
        return self.zh if locale == "zh" else self.en


class RenderedMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    locale: Locale
    subject: str
    body: str


def placeholder_problems(template: MessageTemplate, recipients: Recipients) -> Iterator[str]:
    """Every unusable field in every part of ``template``, for a message to ``recipients``."""
    allowed = PLACEHOLDERS[recipients]
    for locale in LOCALES:
        text = template.text(locale)
        for part, source in (("subject", text.subject), ("body", text.body)):
            where = phrase(
                "message template {template} ({locale} {part})", template=template.code, locale=locale, part=part
            )
            try:
                fields = list(_fields(source))
            except ValueError as exc:
                yield f"{where}: {exc}"  # the reason is Python's, in English
                continue
            for name, spec in fields:
                if not name.isidentifier() or spec:
                    yield phrase(
                        "{where}: placeholder {placeholder} must be a plain name",
                        where=where,
                        placeholder=f"{{{name}{spec}}}",
                    )
                elif name not in allowed:
                    yield phrase(
                        "{where}: unknown placeholder {placeholder} for {recipients}; known: {known}",
                        where=where,
                        placeholder=f"{{{name}}}",
                        recipients=recipients,
                        known=", ".join(sorted(allowed)),
                    )


def render(template: MessageTemplate, locale: Locale, values: Mapping[str, object]) -> RenderedMessage:
    """Fill ``template``; the caller passes every placeholder the recipients allow."""
    text = template.text(locale)
    return RenderedMessage(locale=locale, subject=text.subject.format_map(values), body=text.body.format_map(values))


def _fields(source: str) -> Iterator[tuple[str, str]]:
    """Each field's name and whatever conversion or format spec follows it (values are text: none is allowed)."""
    for _, name, spec, conversion in string.Formatter().parse(source):
        if name is not None:
            yield name, (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
