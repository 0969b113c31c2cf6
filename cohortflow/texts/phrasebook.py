"""Say a phrase the service made in English in the reader's language.

The catalogue is one gettext ``.po`` file per package under ``zh/``, read with
Babel, whose ids are :func:`cohortflow.domain.phrases.phrase` templates. A text
is recognised by its template's literal words: every template is a regular
expression (its blanks captured), compiled once; the templates that may make a
text are found by its first or last letter and the words they need, and tried
with more literal words first. The values in the blanks are said in turn, since
a phrase often holds another (``row 3, hours: …``). A text no template makes (a
person's name, a reason typed by an administrator) is said as it is. gettext
itself cannot do this: it looks up whole texts, and a phrase with values is a
text no catalogue holds.

Two things make the first match not always the text's meaning, and each is read
another way too; the reading that recognises more of the text's words wins, then
the one that puts phrases only in the blanks that hold phrases
(:data:`~cohortflow.domain.phrases.HOLDS_PHRASES`), then the first match:

- A list (``a; b; c``, a phrase of two blanks around a separator) is cut at its
  separators and each item said on its own: one template's blank would otherwise
  take the rest of the list.
- A template inside another, where the outer begins with a blank and the inner
  ends with one (or the other way round), can be read either way out: ``{title}
  is not met: {why}`` around ``{missing} hours missing by …`` matches the inner
  template first, its ``{missing}`` taking the title. The other way out is tried.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cohortflow.domain.messages import Locale
from cohortflow.domain.phrases import HOLDS_PHRASES, LIST

CATALOGUES = Path(__file__).parent

ITEM_SPAN = 3
"""How many separators one list item may hold beyond those of its template's own words (a reason typed with
``;`` in it); a longer item is said in parts."""


@dataclass(frozen=True)
class _Template:
    blanks: tuple[str, ...]
    said: str
    group: str
    order: int
    """Where the template is tried: the templates with more literal words first."""
    pattern: re.Pattern[str]
    literal: int
    first: str | None
    """The blank the template begins with, if it begins with one."""
    last: str | None
    """The blank the template ends with, if it ends with one."""
    needle: str
    """The template's longest literal words, which a text it makes holds."""
    edge: str
    """The literal words before its first blank, or if none, after its last: a text it makes begins (ends) so."""


@dataclass(frozen=True)
class _List:
    separator: str
    said: str
    span: int
    """How many pieces (the text cut at every separator) one item may take."""
    spanning: list[_Template]
    """The templates whose words hold the separator."""


@dataclass(frozen=True)
class _Reading:
    said: str
    known: int
    """How many characters of the text are a template's own words."""
    misplaced: int
    """How many phrases were read inside a blank that holds a plain value."""
    template: _Template | None = None
    values: Mapping[str, _Reading] = dataclasses.field(default_factory=dict)
    items: bool = False
    """Whether this is a list whose every item is recognised."""


def parts(template: str) -> list[tuple[str, str | None]]:
    """The template's literal words, each followed by the blank after it (None after the last)."""
    return [(literal, field) for literal, field, _, _ in string.Formatter().parse(template)]


def _pattern(template: str, group: str) -> re.Pattern[str]:
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
    return re.compile(f"(?P<{group}>{''.join(out)})", re.DOTALL)


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, _ in parts(template))


def _separator(template: str) -> str | None:
    """The separator of a list's template (``{one}; {others}``), or None for any other template."""
    pieces = parts(template)
    if [field for _, field in pieces] == list(LIST) and pieces[0][0] == "" and pieces[1][0]:
        return pieces[1][0]
    return None


class Phrasebook:
    """One language's templates: the whole texts by lookup, the texts with blanks by their words and pattern."""

    def __init__(self, catalogue: dict[str, str]) -> None:
        self._whole = {english: said for english, said in catalogue.items() if not _has_blanks(english)}
        lists = {english: separator for english in catalogue if (separator := _separator(english)) is not None}
        with_blanks = sorted(
            (t for t in catalogue if _has_blanks(t) and t not in lists), key=_literal_length, reverse=True
        )
        self._templates: dict[str, _Template] = {}
        for order, english in enumerate(with_blanks):
            group = f"t{order}"
            pieces = parts(english)
            self._templates[group] = _Template(
                tuple(dict.fromkeys(field for _, field in pieces if field is not None)),
                catalogue[english],
                group,
                order,
                _pattern(english, group),
                _literal_length(english),
                pieces[0][1] if pieces[0][0] == "" else None,
                pieces[-1][1],
                max((literal for literal, _ in pieces), key=len),
                pieces[0][0] or (pieces[-1][0] if pieces[-1][1] is None else ""),
            )
        # the templates that may make a text, found by its first letter (or last, for a template that begins with
        # a blank); a template with a blank at both ends must find its longest words in the text
        self._starts = _by_words((t for t in self._templates.values() if t.first is None), 0)
        self._ends = _by_words((t for t in self._templates.values() if t.first is not None and t.last is None), -1)
        self._open = [t for t in self._templates.values() if t.first is not None and t.last is not None]
        self._lists = [
            _List(
                separator,
                catalogue[english],
                1 + ITEM_SPAN + _most(with_blanks, separator),
                [t for english, t in zip(with_blanks, self._templates.values(), strict=True) if separator in english],
            )
            for english, separator in lists.items()
        ]

    def say(self, text: str) -> str:
        return self._read(text, {}).said

    def _read(self, text: str, seen: dict[str, _Reading]) -> _Reading:
        """The best reading of ``text``; ``seen`` keeps the readings of the texts read before in one saying."""
        reading = seen.get(text)
        if reading is None:
            whole = self._whole.get(text)
            reading = _Reading(whole, len(text), 0) if whole is not None else self._best(text, seen)
            seen[text] = reading
        return reading

    def _best(self, text: str, seen: dict[str, _Reading]) -> _Reading:
        readings = self._matched(text, seen)
        readings.extend(r for kind in self._lists if kind.separator in text if (r := self._listed(text, kind, seen)))
        return _chosen(readings, text)

    def _matched(self, text: str, seen: dict[str, _Reading], among: list[_Template] | None = None) -> list[_Reading]:
        """The readings of ``text`` as one template: the first match, and the other way out of it."""
        first = self._first(text, among)
        if first is None:
            return []
        reading = self._filled(*first, seen)
        return [reading, *self._turned(text, reading, seen)]

    def _first(self, text: str, among: list[_Template] | None = None) -> tuple[_Template, re.Match[str]] | None:
        """The template with the most literal words that makes ``text``, and its match; ``among`` these only."""
        if among is None:
            candidates = [t for t in self._starts.get(text[:1], ()) if text.startswith(t.edge)]
            candidates.extend(t for t in self._ends.get(text[-1:], ()) if text.endswith(t.edge))
            candidates.extend(t for t in self._open if t.needle in text)
            candidates.sort(key=lambda t: t.order)
        else:
            candidates = among
        for template in candidates:
            if template.needle in text and (text.startswith(template.edge) or text.endswith(template.edge)):
                match = template.pattern.fullmatch(text)
                if match is not None:
                    return template, match
        return None

    def _filled(self, template: _Template, found: re.Match[str], seen: dict[str, _Reading]) -> _Reading:
        values = {blank: self._read(found[f"{template.group}_{i}"], seen) for i, blank in enumerate(template.blanks)}
        return _Reading(
            template.said.format_map({blank: value.said for blank, value in values.items()}),
            template.literal + sum(v.known for v in values.values()),
            sum(v.misplaced + (v.known > 0 and blank not in HOLDS_PHRASES) for blank, v in values.items()),
            template,
            values,
        )

    def _turned(self, text: str, reading: _Reading, seen: dict[str, _Reading]) -> list[_Reading]:
        """``text`` read with the template inside the first match's first or last blank on top."""
        outer = reading.template
        assert outer is not None
        turned = []
        for edge, inner_edge in ((outer.first, "last"), (outer.last, "first")):
            inner = reading.values[edge].template if edge is not None else None
            if inner is not None and getattr(inner, inner_edge) is not None:
                found = inner.pattern.fullmatch(text)
                if found is not None:
                    turned.append(self._filled(inner, found, seen))
        return turned

    def _item(self, pieces: list[str], kind: _List, seen: dict[str, _Reading]) -> _Reading:
        """Several pieces as one item: a template whose words hold the separator, or, if the first piece alone is
        not recognised, any template (a value such as a reason may hold the separator too)."""
        text = kind.separator.join(pieces)
        among = None if self._read(pieces[0], seen).known == 0 else kind.spanning
        return _chosen(self._matched(text, seen, among), text)

    def _listed(self, text: str, kind: _List, seen: dict[str, _Reading]) -> _Reading | None:
        """``text`` read as a list of ``kind``: the items that recognise the most of it, each said on its own;
        None if no item is recognised (the text is then not said as a list)."""
        pieces = text.split(kind.separator)
        # best[i]: the items of pieces[i:] that recognise the most, then misplace the least, then are fewest
        best: list[tuple[int, int, int, list[_Reading]]] = [(0, 0, 0, [])] * (len(pieces) + 1)
        for start in reversed(range(len(pieces))):
            options = []
            for end in range(start + 1, min(len(pieces), start + kind.span) + 1):
                if end - start == len(pieces):
                    continue  # the whole text as one item is the reading without the list
                # an item of several pieces is one template or nothing: its cuts are the list's own
                alone = end == start + 1
                item = self._read(pieces[start], seen) if alone else self._item(pieces[start:end], kind, seen)
                known, misplaced, count, items = best[end]
                options.append((known + item.known, misplaced + item.misplaced, count + 1, [item, *items]))
            best[start] = min(options, key=lambda option: (-option[0], option[1], option[2]))
        known, misplaced, _, items = best[0]
        if known == 0:
            return None
        said = items[-1].said
        for item in reversed(items[:-1]):
            said = kind.said.format_map(dict(zip(LIST, (item.said, said), strict=True)))
        # a separator is the list's own word only between two recognised items
        known += len(kind.separator) * sum(a.known > 0 and b.known > 0 for a, b in itertools.pairwise(items))
        return _Reading(said, known, misplaced, items=all(item.known > 0 for item in items))


def _by_words(templates: Iterable[_Template], at: int) -> dict[str, list[_Template]]:
    """``templates`` by the letter at ``at`` of the words they begin (or end) with."""
    by: dict[str, list[_Template]] = {}
    for t in templates:
        by.setdefault(t.edge[at], []).append(t)
    return by


def _chosen(readings: list[_Reading], text: str) -> _Reading:
    """The reading that recognises the most, then misplaces the fewest phrases, then is a list of recognised items
    (rather than one template whose last blank takes the list's other items); the first of equals (the first
    match); ``text`` as it is when there is none."""
    return min(readings, key=lambda r: (-r.known, r.misplaced, not r.items)) if readings else _Reading(text, 0, 0)


def _most(templates: list[str], separator: str) -> int:
    return max((sum(literal.count(separator) for literal, _ in parts(t)) for t in templates), default=0)


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
