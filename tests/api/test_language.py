"""Accept-Language picks the answers' language: the highest-weighted of Chinese and English, else English."""

from __future__ import annotations

import pytest

from cohortflow.api.language import preferred


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "en"),
        ("zh", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr, zh-Hans;q=0.5", "zh"),
        ("en;q=0.2, zh;q=0.7", "zh"),
        ("zh;q=0, en", "en"),
        ("zh;q=abc, en;q=0.1", "en"),
        ("ZH-tw", "zh"),
        ("*", "en"),
    ],
)
def test_the_preferred_language(header: str, language: str) -> None:
    assert preferred(header) == language
