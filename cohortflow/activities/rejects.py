"""The rows a partial import left out, kept for the importer who made it, for a while.

Each import that rejects rows writes its own file, ``uploads/rejects/{digest}/{id}.csv``
(the id is derived from the cohort's workflow and the import's request, so a retry
of the activity writes the same file and two imports of one upload never share
one), and beside it ``{id}.json``: who imported (actor, the coordinator's
prefecture or none for an administrator), when, and the answer the import gave.
Both are created with mode 0600 in a directory of mode 0700.

The file holds the rows as read, ID numbers unmasked, so an administrator can fix
and upload them again; whoever may not see ID numbers gets them masked when the
file is served (``cohortflow.api.imports``). Every cell that a spreadsheet would
run as a formula is stored with a leading apostrophe.

After ``keep_days`` :func:`sweep` deletes the rows; the small ``.json`` stays as
long again so that a download can say the rows expired rather than never were.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from cohortflow.domain.phrases import joined

DIRECTORY = "rejects"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """A cell as a spreadsheet shows it rather than runs it (the OWASP rule against CSV injection).

    Written here rather than taken from defusedcsv: that library also rewrites ``|`` and ``%`` inside cells,
    which changes data an administrator fixes and uploads again; the exports apply this same rule.
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


class RejectsOwner(BaseModel):
    """Whose rejected rows these are and what the import answered."""

    import_id: str
    digest: str
    kind: str
    cohort_id: str
    actor: str
    prefecture: str | None
    """The importing coordinator's prefecture; None: an administrator, who saw every prefecture's rows."""
    created: float
    """Seconds since the epoch."""
    outcome: dict[str, object] | None = None
    """The import's answer (an ImportOutcome), so that a retried request answers as the first attempt did."""

    def visible_to(self, prefecture_scope: str | None) -> bool:
        """Whether a principal limited to ``prefecture_scope`` (None: every prefecture) may have the rows."""
        return prefecture_scope is None or prefecture_scope == self.prefecture


def import_id(workflow_id: str, step: str) -> str:
    """The id of an import's rejects: the same for every attempt of one request, distinct between requests."""
    return hashlib.sha256(f"{workflow_id}\n{step}".encode()).hexdigest()[:32]


def _folder(uploads: Path, digest: str) -> Path:
    return uploads / DIRECTORY / digest


def rows_path(uploads: Path, digest: str, ident: str) -> Path:
    return _folder(uploads, digest) / f"{ident}.csv"


def owner_path(uploads: Path, digest: str, ident: str) -> Path:
    return _folder(uploads, digest) / f"{ident}.json"


def _private(path: Path, encoding: str = "utf-8-sig") -> IO[str]:
    """``path`` created anew for writing, readable by its owner only (whatever the umask)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return open(fd, "w", encoding=encoding, newline="")


def _make_folder(uploads: Path, digest: str) -> Path:
    folder = _folder(uploads, digest)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (uploads / DIRECTORY).chmod(0o700)
    folder.chmod(0o700)
    return folder


class RejectsWriter:
    """Writes one import's rejected rows; nothing is on disk until the first row."""

    def __init__(self, uploads: Path, owner: RejectsOwner) -> None:
        self.uploads = uploads
        self.owner = owner
        self._out: IO[str] | None = None
        self._csv: Any = None  # csv.writer's type is private to _csv

    @property
    def written(self) -> bool:
        return self._out is not None

    def row(self, number: int, problems: Sequence[str], header: Sequence[str], values: Sequence[str]) -> None:
        if self._out is None:
            _make_folder(self.uploads, self.owner.digest)
            self._out = _private(self._partial())
            self._csv = csv.writer(self._out)
            self._csv.writerow(["row", "problems", *header])
        assert self._csv is not None
        self._csv.writerow([number, escape_cell(joined(problems)), *(escape_cell(v) for v in values)])

    def _partial(self) -> Path:
        return rows_path(self.uploads, self.owner.digest, f".{self.owner.import_id}.partial")

    def publish(self, outcome: BaseModel) -> None:
        """Put the rows in place with their owner and the import's answer; nothing if no row was rejected."""
        if self._out is None:
            return
        self._out.close()
        owner = self.owner.model_copy(update={"outcome": outcome.model_dump(mode="json")})
        self._partial().replace(rows_path(self.uploads, owner.digest, owner.import_id))
        note = owner_path(self.uploads, owner.digest, f".{owner.import_id}.partial")
        with _private(note, "utf-8") as out:
            out.write(owner.model_dump_json())
        note.replace(owner_path(self.uploads, owner.digest, owner.import_id))  # last: now it may be served

    def close(self) -> None:
        """Leave nothing half written behind (a refused file whose rows were never published)."""
        if self._out is not None and not self._out.closed:
            self._out.close()
            self._partial().unlink(missing_ok=True)


def owner_of(uploads: Path, digest: str, ident: str) -> RejectsOwner | None:
    path = owner_path(uploads, digest, ident)
    try:
        return RejectsOwner.model_validate_json(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def owners(uploads: Path, digest: str) -> list[RejectsOwner]:
    """Every import of ``digest`` that kept rejected rows (expired ones included), newest first."""
    folder = _folder(uploads, digest)
    if not folder.is_dir():
        return []
    found = [owner_of(uploads, digest, p.stem) for p in folder.glob("*.json") if not p.name.startswith(".")]
    return sorted((o for o in found if o is not None), key=lambda o: o.created, reverse=True)


def expired(owner: RejectsOwner, keep_days: float, now: float | None = None) -> bool:
    return (now if now is not None else time.time()) - owner.created > keep_days * 86_400


def sweep(uploads: Path, keep_days: float, now: float | None = None) -> int:
    """Delete the rejected rows kept longer than ``keep_days`` (their owner note after twice as long), and the
    unscoped ``{digest}.rejects.csv`` files earlier versions left; returns how many row files went."""
    now = time.time() if now is None else now
    keep = keep_days * 86_400
    gone = 0
    for legacy in uploads.glob("*.rejects.csv") if uploads.is_dir() else ():
        legacy.unlink(missing_ok=True)  # nobody can be told whose they were: never served, so not kept
        gone += 1
    root = uploads / DIRECTORY
    for folder in root.iterdir() if root.is_dir() else ():
        for path in folder.iterdir():
            note = path.with_suffix(".json")
            age = now - (_created(note) if note.exists() else path.stat().st_mtime)
            if path.suffix == ".csv" and age > keep:
                path.unlink(missing_ok=True)
                gone += 1
            elif age > 2 * keep:
                path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty
    return gone


def _created(note: Path) -> float:
    try:
        return RejectsOwner.model_validate_json(note.read_bytes()).created
    except (OSError, ValueError):
        return note.stat().st_mtime


def read_rows(path: Path) -> Iterator[list[str]]:
    """The kept rows, header first."""
    with path.open(encoding="utf-8-sig", newline="") as kept:
        yield from csv.reader(kept)
