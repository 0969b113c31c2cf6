"""Say a phrase the service made in English in the reader's language.

The catalogue is one gettext ``.po`` file per package under ``zh/``, read with
Babel, whose ids are :func:`cohortflow.domain.phrases.phrase` templates. A text
is recognised by its template's literal words: every template becomes one
alternative of a single regular expression (its blanks captured, the templates
with more literal words tried first), so finding the template of a text is one
match in C, however many templates there are. The values in the blanks are
said in turn, since a phrase often holds another (``row 3, hours: …``). A text
no template makes (a person's name, a reason typed by an administrator) is said
as it is. gettext itself cannot do this: it looks up whole texts, and a phrase
with values is a text no catalogue holds.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cohortflow.domain.messages import Locale

CATALOGUES = Path(__file__).parent


@dataclass(frozen=True)
class _Template:
    blanks: tuple[str, ...]
    said: str


def parts(template: str) -> list[tuple[str, str | None]]:
    """The template's literal words, each followed by the blank after it (None after the last)."""
    return [(literal, field) for literal, field, _, _ in string.Formatter().parse(template)]


def _pattern(template: str, group: str) -> str:
    seen: dict[str, str] = {}
    out: list[str] = []
    for literal, field in parts(template):
        out.append(re.escape(literal))
        if field is None:
            continue
        if field in seen:
            out.append(f"(?P={seen[field]})")
        else:
            seen[field] = f"{group}_{len(seen)}"
            out.append(f"(?P<{seen[field]}>.+?)")
    return f"(?P<{group}>{''.join(out)})"


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, _ in parts(template))


class Phrasebook:
    """One language's templates: the whole texts by lookup, the texts with blanks by one pattern."""

    def __init__(self, catalogue: dict[str, str]) -> None:
        self._whole = {english: said for english, said in catalogue.items() if not _has_blanks(english)}
        with_blanks = sorted((t for t in catalogue if _has_blanks(t)), key=_literal_length, reverse=True)
        self._templates: dict[str, _Template] = {}
        alternatives = []
        for number, english in enumerate(with_blanks):
            group = f"t{number}"
            blanks = tuple(dict.fromkeys(field for _, field in parts(english) if field is not None))
            self._templates[group] = _Template(blanks, catalogue[english])
            alternatives.append(_pattern(english, group))
        self._pattern = re.compile("|".join(alternatives), re.DOTALL) if alternatives else None

    def say(self, text: str) -> str:
        whole = self._whole.get(text)
        if whole is not None:
            return whole
        found = self._pattern.fullmatch(text) if self._pattern is not None else None
        if found is None or found.lastgroup is None:
            return text
        template = self._templates[found.lastgroup]
        values = {blank: self.say(found[f"{found.lastgroup}_{i}"]) for i, blank in enumerate(template.blanks)}
        return template.said.format_map(values)


def _has_blanks(template: str) -> bool:
    return any(field is not None for _, field in parts(template))


def catalogue_files(language: Locale) -> list[Path]:
    return sorted((CATALOGUES / language).glob("*.po"))


def read_catalogue(language: Locale) -> dict[str, str]:
    """Every template of ``language``'s files and its translation (untranslated entries left out)."""
    from babel.messages.pofile import read_po  # read only when a reader first asks for the language

    catalogue: dict[str, str] = {}
    for path in catalogue_files(language):
        with path.open("rb") as po:
            for message in read_po(po):
                if message.id and message.string:
                    catalogue[str(message.id)] = str(message.string)
    return catalogue


@cache
def phrasebook(language: Locale) -> Phrasebook:
    return Phrasebook(read_catalogue(language))


def translate(text: str, language: Locale) -> str:
    """``text`` (a phrase in English) said in ``language``; English, or a text no template made, as it is."""
    return text if language == "en" else phrasebook(language).say(text)
