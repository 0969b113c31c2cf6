#!/usr/bin/env python3
"""Check a cohortflow audit bundle offline, with nothing but the Python standard library.

    python3 standalone_verifier.py BUNDLE.jsonl [--digest DIGEST.json] [--certificate CODE]

Exit status 0 when the bundle is intact, 1 when it is not, 2 when it cannot be
read. With ``--certificate``, the bundle is checked first, then the code is looked
for among its certificates (CertificateIssued events): exit 0 and the
certificate's facts when an intact bundle holds it, 1 when the bundle is broken or
holds no certificate with that code, 2 when the text cannot be a code.

This file deliberately imports nothing from cohortflow: an auditor can read all
of it and run it anywhere. It must agree byte for byte with
cohortflow.store.chain and cohortflow.domain.canonical (and read codes as
cohortflow.domain.certificate_codes does), which the test suite checks against
real bundles.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
_PLAIN = (str, int, bool, type(None))
# Verification codes as cohortflow.domain.certificate_codes writes and reads them.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
CERTIFICATE = "CertificateIssued"


def _normalise(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event: dict[str, Any]) -> str:
    fields = (
        str(event["position"]),
        event["stream_id"],
        str(event["stream_version"]),
        event["type"],
        str(event["schema_version"]),
        canonical_json(event["data"]),
        canonical_json(event["metadata"]),
        event["recorded_at"],
        event["idempotency_key"],
    )
    record = "\x1f".join(fields).encode("utf-8")
    return hashlib.sha256(bytes.fromhex(event["prev_hash"]) + record).hexdigest()


@dataclass
class Report:
    events: int = 0
    problems: list[str] = field(default_factory=list)
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The bundle's CertificateIssued events by their code."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(lines: list[str], digest: dict[str, Any] | None = None) -> Report:
    report = Report()
    header = json.loads(lines[0])
    if header.get("kind") != "cohortflow-audit-bundle" or header.get("format") != 1:
        raise ValueError("not a cohortflow audit bundle (format 1)")
    events: list[dict[str, Any]] = []
    programmes: dict[tuple[str, int], str] = {}
    trailer: dict[str, Any] | None = None
    for number, line in enumerate(lines[1:], start=2):
        item = json.loads(line)
        if item["kind"] == "event":
            events.append(item)
        elif item["kind"] == "programme":
            if canonical_digest(item["template"]) != item["digest"]:
                report.problems.append(
                    f"line {number}: programme {item['id']} v{item['version']} does not match its digest"
                )
            programmes[(item["id"], item["version"])] = item["digest"]
        elif item["kind"] == "digest":
            trailer = item
        else:
            raise ValueError(f"line {number}: unknown kind {item['kind']!r}")
    if trailer is None:
        raise ValueError("the bundle has no digest line: it was cut short")
    report.events = len(events)
    if trailer["events"] != len(events):
        report.problems.append(f"the bundle should hold {trailer['events']} events, it holds {len(events)}")
    whole_store = header["scope"] == "all"
    previous: dict[str, Any] | None = None
    versions: dict[str, int] = {}
    for event in events:
        where = f"position {event['position']}"
        if event_hash(event) != event["hash"]:
            report.problems.append(f"{where}: content does not match its hash (changed)")
        if previous is not None and event["position"] <= previous["position"]:
            report.problems.append(f"{where}: comes after position {previous['position']} (reordered)")
        if whole_store:
            expected = 1 if previous is None else previous["position"] + 1
            if event["position"] != expected:
                report.problems.append(f"{where}: expected position {expected} (missing events)")
            link = GENESIS if previous is None else previous["hash"]
            if event["prev_hash"] != link:
                report.problems.append(f"{where}: does not link to the event before it")
        stream = event["stream_id"]
        if event["stream_version"] != versions.get(stream, 0) + 1:
            report.problems.append(
                f"{where}: stream {stream} jumps to version {event['stream_version']} (missing events)"
            )
        versions[stream] = event["stream_version"]
        if event["type"] == CERTIFICATE:
            report.certificates[event["data"]["code"]] = event
        if event["type"] == "CohortStarted":
            key = (event["data"]["programme_id"], event["data"]["programme_version"])
            if programmes.get(key) != event["data"]["programme_digest"]:
                report.problems.append(f"{where}: programme {key[0]} v{key[1]} is missing or differs from the bundle's")
        previous = event
    if (
        whole_store
        and previous is not None
        and (previous["position"], previous["hash"])
        != (
            trailer["position"],
            trailer["hash"],
        )
    ):
        report.problems.append("the last event is not the bundle's digest (truncated or extended)")
    if digest is not None:
        report.problems.extend(_against_digest(header, events, digest))
    return report


def _against_digest(header: dict[str, Any], events: list[dict[str, Any]], digest: dict[str, Any]) -> list[str]:
    if digest.get("store_id") != header["store_id"]:
        return [f"the digest is from store {digest.get('store_id')}, the bundle from store {header['store_id']}"]
    at = next((e for e in events if e["position"] == digest["position"]), None)
    if at is None:
        if header["scope"] == "all":
            return [f"the bundle ends before the digest's position {digest['position']} (truncated)"]
        return []
    if at["hash"] != digest["hash"]:
        return [f"position {digest['position']}: differs from the digest kept outside the store"]
    return []


def parse_code(text: str) -> str:
    """A code as printed (``ABCD-EFGH-JKMN-PQRS``), read as people read it off paper; ValueError if it is none."""
    compact = "".join(text.split()).replace("-", "").upper().translate(str.maketrans("ILO", "110"))
    if len(compact) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in compact):
        raise ValueError(
            f"{text!r} is not a verification code ({CODE_LENGTH} characters: 0-9 and the letters but I, L, O, U)"
        )
    return "-".join(compact[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def check_certificate(report: Report, code: str) -> list[str]:
    """Lines saying whether the bundle proves the certificate ``code`` (as printed), and its facts; empty if not."""
    if not report.ok:
        return []
    event = report.certificates.get(code)
    if event is None:
        return []
    data = event["data"]
    shown = [f"  {name}: {data[name]}" for name in PRINTED if data.get(name) is not None]
    return [f"certificate {code}: recorded at position {event['position']}, {event['recorded_at']}", *shown]


PRINTED = (
    "kind",
    "name",
    "national_id_masked",
    "programme_name",
    "programme_id",
    "cohort_id",
    "participant_id",
    "requirement",
    "cycle",
    "credit_hours",
    "completed_on",
    "issued_by",
)
"""What a certificate's check prints: what the paper shows and who issued it (never the person key)."""


def canonical_digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("bundle")
    parser.add_argument("--digest", help="a digest exported earlier and kept outside the store")
    parser.add_argument("--certificate", metavar="CODE", help="a certificate's verification code to find")
    args = parser.parse_args(argv)
    try:
        code = None if args.certificate is None else parse_code(args.certificate)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        with open(args.bundle, encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        digest = None
        if args.digest:
            with open(args.digest, encoding="utf-8") as f:
                digest = json.load(f)
        report = verify_bundle(lines, digest)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"cannot read the bundle: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem)
    print(f"{report.events} events checked: {'intact' if report.ok else 'NOT intact'}")
    if code is None:
        return 0 if report.ok else 1
    found = check_certificate(report, code)
    for line in found:
        print(line)
    if not report.ok:
        print(f"certificate {code}: NOT verified, the bundle is not intact")
    elif not found:
        print(f"certificate {code}: NOT verified, no certificate in the bundle has this code")
    else:
        print(f"certificate {code}: verified")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
