"""The console's language: Chinese unless the reader chose English (``?lang=en``, kept in a cookie).

The standard library's gettext with one catalogue (``locale/zh/LC_MESSAGES/console.po``, compiled to ``.mo`` by
``pybabel compile``); English is the source text, as in the CLI's catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from gettext import NullTranslations, translation
from pathlib import Path
from typing import Literal

from starlette.requests import Request

Language = Literal["zh", "en"]
COOKIE = "cf_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
KEYED = re.compile(r"[a-z]+:([A-Za-z0-9_.-]+)")
"""A value translated by name (``level:city``, ``field:min_hours``): its own words are the English."""


def chosen(request: Request) -> Language:
    asked = request.query_params.get("lang") or request.cookies.get(COOKIE)
    return "en" if asked == "en" else "zh"


@cache
def _catalogue(language: Language) -> NullTranslations:
    return NullTranslations() if language == "en" else translation("console", LOCALE_DIR, languages=[language])


def _english(message: str) -> str:
    keyed = KEYED.fullmatch(message)
    return keyed[1].replace("_", " ") if keyed else message


def gettext_for(language: Language) -> Callable[[str], str]:
    return _english if language == "en" else _catalogue(language).gettext
