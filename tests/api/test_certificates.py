"""Completion certificates from a finished cohort: issued once, printed, verified online, by the CLI and offline.

The cohort is written to the real store as its activities record one (with a
name corrected and a credit reversed on the way); issuing runs the real
workflow and activity on the time-skipping Temporal server behind the real app.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import psycopg
import pypdf
from typer.testing import CliRunner, Result

import cohortflow.audit.standalone_verifier as standalone
from cohortflow.audit.bundle import write_bundle
from cohortflow.cli.main import app as cli
from cohortflow.domain.certificate_codes import RANDOM_BYTES, new_code
from cohortflow.domain.events import CertificateIssued, ParticipantCompleted
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import COORDINATED, Api
from tests.readmodels import write_cohort

COHORT = "cert-2025"
VERIFIER = Path(standalone.__file__)
FORGED = new_code(b"\x5a" * RANDOM_BYTES)


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, no site-packages and no project on the path: the standard library only.
    return subprocess.run([sys.executable, "-I", str(VERIFIER), *args], capture_output=True, text=True, timeout=60)


async def audit_cli(database_url: str, *args: str) -> Result:
    """``cohortflow audit ...`` on the test's store; in a thread, since the command runs its own event loop."""
    env = {"DATABASE_URL": database_url, "COHORTFLOW_ACTOR": "auditor-wang"}
    return await asyncio.to_thread(CliRunner().invoke, cli, ["audit", *args], env=env)


async def certificates(store: EventStore) -> list[CertificateIssued]:
    return [
        CertificateIssued.model_validate(e.data) async for e in store.read_all() if e.type == CertificateIssued.TYPE
    ]


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(content)).pages)


async def test_a_finished_cohort_s_certificates_are_issued_once_printed_and_verified_everywhere(
    api: Api, store: EventStore, database_url: str, tmp_path: Path
) -> None:
    w = await write_cohort(store, COHORT, candidates=100, selected=20)
    await api.caught_up()
    completed = await _completed(store)
    people = w.facts.participants
    own = {pid for pid in completed if people[pid].prefecture_code == COORDINATED}
    assert own and completed - own, "the cohort has completers inside and outside the coordinator's prefecture"
    # One of them has an award reversed after the cohort ended: the certificate counts the hours net of it.
    wrong = next(e for e in w.ledger.entries if e.participant_id in completed - own and e.reverses is None)
    await w.record("late-reversal", [w.ledger.reverse(wrong.entry_id, "重复认定", f"{wrong.entry_id}/late")])

    # A coordinator issues their own prefecture's; an administrator then issues only the others.
    url = f"/api/v1/cohorts/{COHORT}/certificates"
    first = await api.http.post(url, headers=api.as_("coordinator"))
    assert first.status_code == 200, first.text
    assert first.json() == {"cohort_id": COHORT, "completed": len(own), "issued": len(own), "already_issued": 0}
    assert {c.participant_id for c in await certificates(store)} == own
    second = await api.http.post(url, headers=api.as_("admin"))
    assert second.json() == {
        "cohort_id": COHORT,
        "completed": len(completed),
        "issued": len(completed) - len(own),
        "already_issued": len(own),
    }
    again = await api.http.post(url, headers=api.as_("admin"))
    assert again.json()["issued"] == 0 and again.json()["already_issued"] == len(completed)
    late = next(pid for pid in people if pid not in completed and people[pid].prefecture_code != COORDINATED)
    await w.record("late-completion", [ParticipantCompleted(participant_id=late)])  # as a block template does
    completed.add(late)
    later = await api.http.post(url, headers=api.as_("admin"))
    assert later.json()["issued"] == 1 and later.json()["already_issued"] == len(completed) - 1
    issued = await certificates(store)
    assert Counter(c.participant_id for c in issued) == Counter(completed), "one certificate each, never two"
    for role in ("auditor", "reminder"):
        assert (await api.http.post(url, headers=api.as_(role))).status_code == 403

    # Each prints the cohort's facts: the name as corrected, the ID masked, the hours net of the reversal.
    hours: dict[str, float] = {}
    for entry in w.ledger.entries:
        hours[entry.participant_id] = hours.get(entry.participant_id, 0.0) + entry.hours
    for c in issued:
        person = people[c.participant_id or ""]
        assert (c.kind, c.cohort_id, c.programme_id) == ("completion", COHORT, w.programme.id)
        assert c.programme_name == w.programme.name and c.name == person.name
        assert c.national_id_masked.count("*") == 11 and c.credit_hours == round(
            hours.get(person.participant_id, 0.0), 6
        )
    net = next(c for c in issued if c.participant_id == wrong.participant_id)
    awarded = sum(e.hours for e in w.ledger.entries if e.participant_id == wrong.participant_id and e.hours > 0)
    assert net.credit_hours == round(awarded - wrong.hours, 6) < awarded

    # The PDF: Chinese title, name, programme, hours and code; a coordinator prints only their own prefecture's.
    mine = next(c for c in issued if c.participant_id in own)
    theirs = next(c for c in issued if c.participant_id not in own)
    for role, certificate in (("admin", theirs), ("coordinator", mine)):
        pdf = await api.http.get(
            f"/api/v1/cohorts/{COHORT}/participants/{certificate.participant_id}/certificate", headers=api.as_(role)
        )
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        text = pdf_text(pdf.content)
        for printed in ("结业证书", certificate.name, certificate.code, certificate.national_id_masked, "学时"):
            assert printed in text, (printed, text)
        assert f"{certificate.credit_hours:g}" in text and (certificate.programme_name or "") in text
    away = await api.http.get(
        f"/api/v1/cohorts/{COHORT}/participants/{theirs.participant_id}/certificate", headers=api.as_("coordinator")
    )
    assert away.status_code == 404 and away.headers["content-type"] == "application/problem+json"
    not_completed = next(pid for pid in people if pid not in completed)
    none = await api.http.get(
        f"/api/v1/cohorts/{COHORT}/participants/{not_completed}/certificate", headers=api.as_("admin")
    )
    assert none.status_code == 404 and "has no certificate" in none.json()["detail"]

    # Online: anyone holding the code, typed as people type it, is told what the paper says, the ID masked.
    typed = theirs.code.lower().replace("-", " ")
    verified = await api.http.get(f"/api/v1/certificates/{typed}")
    assert verified.status_code == 200, verified.text
    answer = verified.json()
    assert answer["recorded"] is True and answer["code"] == theirs.code and answer["name"] == theirs.name
    assert answer["national_id_masked"] == theirs.national_id_masked and "person_key" not in answer
    assert answer["credit_hours"] == theirs.credit_hours and answer["completed_on"] == theirs.completed_on.isoformat()
    forged = await api.http.get(f"/api/v1/certificates/{FORGED}")
    assert forged.status_code == 404 and forged.headers["content-type"] == "application/problem+json"
    assert FORGED in forged.json()["detail"]
    malformed = await api.http.get("/api/v1/certificates/ABCD-EFGH-1234")
    assert malformed.status_code == 400 and "16 characters" in malformed.json()["detail"]

    # The CLI: the chain up to the certificate recomputed, its facts printed; a forged or malformed code refused.
    found = await audit_cli(database_url, "certificate", theirs.code, "--json")
    assert found.exit_code == 0, found.output
    shown = json.loads(found.output)
    assert shown["verified"] is True and shown["certificate"]["name"] == theirs.name
    assert shown["position"] == answer["position"] and "person_key" not in shown["certificate"]
    plain = await audit_cli(database_url, "certificate", mine.code)
    assert plain.exit_code == 0 and mine.name in plain.output and "verified" in plain.output
    refused = await audit_cli(database_url, "certificate", FORGED)
    assert refused.exit_code == 1 and "NOT verified" in refused.output
    garbled = await audit_cli(database_url, "certificate", "not-a-code")
    assert garbled.exit_code == 2 and "16 characters" in garbled.output

    # Offline: the cohort's bundle (and the whole store's) holds the certificates; a forged code and an altered
    # certificate are refused.
    one, everything = tmp_path / "cohort.jsonl", tmp_path / "all.jsonl"
    await write_bundle(store, one, datetime.now(UTC), cohort_id=COHORT)
    await write_bundle(store, everything, datetime.now(UTC))
    for bundle in (one, everything):
        checked = run_verifier(str(bundle), "--certificate", typed)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"certificate {theirs.code}: verified" in checked.stdout and theirs.name in checked.stdout
        assert theirs.person_key not in checked.stdout
        refused_offline = run_verifier(str(bundle), "--certificate", FORGED)
        assert refused_offline.returncode == 1 and "no certificate in the bundle" in refused_offline.stdout
    assert run_verifier(str(one), "--certificate", "nonsense").returncode == 2
    same = await audit_cli(database_url, "check-bundle", str(one), "--certificate", theirs.code)
    assert same.exit_code == 0 and f"certificate {theirs.code}: verified" in same.output
    lines = one.read_text(encoding="utf-8").splitlines()
    altered = [line.replace(theirs.name, "王伪造") if theirs.code in line else line for line in lines]
    assert altered != lines
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(altered) + "\n", encoding="utf-8")
    broken = run_verifier(str(tampered), "--certificate", theirs.code)
    assert broken.returncode == 1 and "NOT verified, the bundle is not intact" in broken.stdout


async def test_a_certificate_resting_on_a_changed_history_is_not_verified(
    api: Api, store: EventStore, database_url: str, superuser: psycopg.Connection
) -> None:
    await write_cohort(store, COHORT)
    assert (await api.http.post(f"/api/v1/cohorts/{COHORT}/certificates", headers=api.as_("admin"))).status_code == 200
    certificate = (await certificates(store))[0]
    # Someone with the database's keys rewrites the nomination the certificate was made from.
    superuser.execute(
        'UPDATE events SET data = regexp_replace(data::text, \'"name":"[^"]*"\', \'"name":"王伪造"\')::json '
        "WHERE type = 'CandidateNominated' AND data->>'participant_id' = %s",
        (certificate.participant_id,),
    )
    broken = await audit_cli(database_url, "certificate", certificate.code)
    assert broken.exit_code == 1, broken.output
    assert "changed" in broken.output and "NOT verified: the chain is broken" in broken.output


async def _completed(store: EventStore) -> set[str]:
    return {
        e.data["participant_id"] async for e in store.read_stream(f"cohort-{COHORT}", types=["ParticipantCompleted"])
    }


async def test_issuing_for_no_such_cohort_and_verifying_odd_codes_are_refused_as_problems(api: Api) -> None:
    missing = await api.http.post("/api/v1/cohorts/nowhere/certificates", headers=api.as_("admin"))
    assert missing.status_code == 404 and missing.json()["detail"] == "cohort nowhere does not exist"
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = await api.http.get(f"/api/v1/certificates/{FORGED}")
    assert unknown.status_code == 404 and unknown.json()["status"] == 404
    for text in ("x", "ABCD-EFGH-JKMN-PQRU", "0" * 17):
        odd = await api.http.get(f"/api/v1/certificates/{text}")
        assert odd.status_code == 400 and odd.json()["title"] == "Bad Request", text
