"""Every phrase the service makes has its Chinese, said back from the English it makes; nothing else is catalogued."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

import cohortflow
from cohortflow.domain.phrases import HOLDS_PHRASES, LIST
from cohortflow.texts.library import LIBRARY_PHRASES
from cohortflow.texts.phrasebook import catalogue_files, parts, phrasebook, read_catalogue, translate

SOURCE = Path(cohortflow.__file__).parent


def templates_in(source: str) -> list[str]:
    """The literal templates of every ``phrase(...)`` call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name == "phrase":
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), ast.unparse(node)
            found.append(first.value)
    return found


def made() -> set[str]:
    """Every phrase the service makes, and the libraries' texts it passes on."""
    found = {t for path in SOURCE.rglob("*.py") for t in templates_in(path.read_text(encoding="utf-8"))}
    return found | set(LIBRARY_PHRASES)


def blanks(template: str) -> set[str]:
    return {field for _, field in parts(template) if field is not None}


def filled(template: str) -> str:
    return template.format_map({name: f"⟨{name}⟩" for name in blanks(template)})


def test_a_phrase_is_only_ever_a_literal_template() -> None:
    assert templates_in('phrase("row {row}", row=3)\nx.phrase("a")') == ["row {row}", "a"]


def test_every_phrase_has_its_chinese_with_the_same_blanks() -> None:
    zh = read_catalogue("zh")
    missing = sorted(t for t in made() if t not in zh)
    assert missing == []
    assert sorted(t for t in made() if blanks(zh[t]) != blanks(t)) == []


def test_every_phrase_is_recognised_in_the_english_it_makes() -> None:
    """No template is hidden by another: its English, blanks filled, is said with its own Chinese."""
    zh = read_catalogue("zh")
    lists = {t for t in made() if [f for _, f in parts(t)] == list(LIST)}
    wrong = {t: translate(filled(t), "zh") for t in made() - lists if translate(filled(t), "zh") != filled(zh[t])}
    assert wrong == {}
    # a list is said as one only when its items are phrases: items no template makes keep their own separator
    item = "no reason given"
    for t in lists:
        assert translate(t.format(one=item, others=item), "zh") == zh[t].format(one=zh[item], others=zh[item])
        assert translate(filled(t), "zh") == filled(t)


def test_the_catalogue_holds_only_phrases_the_service_makes_each_once() -> None:
    ids: Counter[str] = Counter()
    for path in catalogue_files("zh"):
        with path.open("rb") as po:
            ids.update(str(m.id) for m in read_po(po) if m.id)
    assert sorted(i for i, n in ids.items() if n > 1) == []
    assert sorted(set(ids) - made()) == []
    assert phrasebook("zh") is phrasebook("zh")  # read once


def test_a_blank_the_code_fills_with_a_phrase_is_one_that_holds_phrases() -> None:
    """The phrasebook trusts HOLDS_PHRASES to tell two readings of a text apart; a value written as a phrase
    in the call itself shows its blank holds phrases."""
    filled_with_a_phrase: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "phrase":
                for keyword in node.keywords:
                    inner = [n for n in ast.walk(keyword.value) if isinstance(n, ast.Call)]
                    if keyword.arg and any(getattr(n.func, "id", None) == "phrase" for n in inner):
                        filled_with_a_phrase.add(keyword.arg)
    assert filled_with_a_phrase  # the code does fill blanks with phrases
    assert sorted(filled_with_a_phrase - HOLDS_PHRASES - set(LIST)) == []
