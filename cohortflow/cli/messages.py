"""The CLI's own messages and labels, in English or Chinese (the API says its own in the language the CLI asks).

The standard library's gettext with one catalogue per language under
``locale/`` (``zh/LC_MESSAGES/cohortflow.po``, compiled to ``.mo`` by
``pybabel compile``); English is the source text. The language is ``--lang``,
else the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set (the
POSIX order): Chinese when it names a ``zh`` locale, English otherwise.
"""

from __future__ import annotations

import os
from gettext import NullTranslations, translation
from pathlib import Path
from typing import Literal, get_args

Language = Literal["en", "zh"]
LANGUAGES: tuple[str, ...] = get_args(Language)
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "cohortflow"

_current: NullTranslations | None = None
_language: Language = "en"


def from_environment() -> Language:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def use(language: Language | None) -> None:
    """Show messages in ``language`` from now on (None: the environment's)."""
    global _current, _language
    chosen = _language = language or from_environment()
    _current = NullTranslations() if chosen == "en" else translation(DOMAIN, LOCALE_DIR, languages=[chosen])


def chosen() -> Language:
    """The language messages are shown in: the API is asked for its answers in it too (``Accept-Language``)."""
    if _current is None:
        use(None)
    return _language


def _(message: str) -> str:
    """``message`` in the chosen language (itself when the catalogue has no translation of it)."""
    if _current is None:
        use(None)
    assert _current is not None
    return _current.gettext(message)


def said(text: str) -> str:
    """``text``, a phrase the service made (a refusal from the store, a backup, a code), in the chosen language.

    The API says its own phrases in the language the CLI asks for; this is for the commands that
    run the service's code in the CLI's own process."""
    language = chosen()
    if language == "en":
        return text
    from cohortflow.texts.phrasebook import translate  # the catalogue is read only when Chinese is shown

    return translate(text, language)
