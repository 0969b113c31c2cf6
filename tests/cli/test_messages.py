"""The CLI's messages and labels in Chinese or English: `--lang`, else LC_ALL, LC_MESSAGES or LANG.

Through the real commands: `token list` and a store behind the code on real
PostgreSQL, an admin command against an API that is not there. The catalogue
itself: every message in the CLI's code has a Chinese translation, and the
compiled catalogue the CLI reads is the one the source says.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from typer.testing import CliRunner, Result

import cohortflow.cli
from cohortflow.cli.main import app
from cohortflow.cli.messages import DOMAIN, LOCALE_DIR
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.migrate import upgrade

CATALOGUE = LOCALE_DIR / "zh" / "LC_MESSAGES" / f"{DOMAIN}.po"
NO_LOCALE = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": None, "COLUMNS": "200"}


def run(env: Mapping[str, str | None], *args: str) -> Result:
    return CliRunner(env={**NO_LOCALE, **env}).invoke(app, list(args))


def test_every_message_of_the_cli_has_a_chinese_translation_and_the_compiled_catalogue_matches() -> None:
    with CATALOGUE.open("rb") as source:
        po = read_po(source)
    translated = {m.id: m.string for m in po if m.id}
    in_code = {
        message for *_, message, _, _ in extract_from_dir(Path(cohortflow.cli.__file__).parent, keywords={"_": None})
    }
    assert in_code  # the extraction found the messages at all
    assert sorted(m for m in in_code if not translated.get(str(m))) == []
    with CATALOGUE.with_suffix(".mo").open("rb") as compiled:
        mo = GNUTranslations(compiled)
    assert {k: mo.gettext(str(k)) for k in translated} == translated  # run `pybabel compile` after editing the .po


def test_token_list_in_chinese_by_option_or_environment_and_english_otherwise(database_url: str) -> None:
    db = {"DATABASE_URL": database_url}
    assert run(db, "token", "issue", "--name", "李娜", "--role", "admin").exit_code == 0
    for env, args in [
        ({}, ["--lang", "zh"]),
        ({"LANG": "zh_CN.UTF-8"}, []),
        ({"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, []),
    ]:
        listed = run({**db, **env}, *args, "token", "list")
        assert listed.exit_code == 0, listed.output
        assert "1 个令牌，1 个有效" in listed.stdout, (env, args, listed.stdout)
        assert "令牌" in listed.stdout and "角色" in listed.stdout and "签发时间" in listed.stdout
    for env, args in [
        ({}, []),
        ({"LANG": "zh_CN.UTF-8"}, ["--lang", "en"]),
        ({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}, []),
    ]:
        listed = run({**db, **env}, *args, "token", "list")
        assert listed.exit_code == 0, listed.output
        assert "1 token(s), 1 active" in listed.stdout, (env, args, listed.stdout)
        assert "令牌" not in listed.stdout


def test_a_store_behind_the_code_is_refused_in_chinese(postgres: EmbeddedPostgres) -> None:
    url = postgres.ensure_database(f"m_{uuid.uuid4().hex[:12]}")
    upgrade(url, "0006")
    refused = run({"DATABASE_URL": url}, "--lang", "zh", "token", "list")
    assert refused.exit_code == 2
    message = "".join(refused.stderr.split())
    assert "存储的数据库结构版本为0006" in message and "请先运行`cohortflowmigrate`" in message, refused.stderr


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("zh", "无法连接 http://127.0.0.1:9 的 API"), ("en", "cannot reach the API at http://127.0.0.1:9")],
)
def test_an_admin_commands_error_is_framed_in_the_chosen_language(lang: str, expected: str) -> None:
    result = run({"COHORTFLOW_TOKEN": "x"}, "--lang", lang, "programme", "list", "--api-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert expected in result.stderr


def test_an_unknown_language_is_refused() -> None:
    result = run({}, "--lang", "fr", "token", "list")
    assert result.exit_code == 2
    words = " ".join(result.output.replace("│", " ").split())  # the message as words, whatever rich's box width
    choices = words.partition("'fr' is not one of ")[2]  # Typer lists the choices in no fixed order
    assert sorted(choices.rstrip(".").split(", ")) == ["'en'", "'zh'"], result.output
