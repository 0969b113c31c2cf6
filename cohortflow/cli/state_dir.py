"""The state directory (``COHORTFLOW_STATE_DIR``) checked before anything starts in it.

Without this check an unwritable directory surfaces deep inside the embedded
PostgreSQL or Temporal start-up as a long traceback that never names the
setting to change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape


def usable_state_dir(path: Path, setting: str = "COHORTFLOW_STATE_DIR") -> Path:
    """``path``, created if need be and proved writable; otherwise one line on stderr and exit code 2.

    ``setting`` names what chose the directory, so the message says what to change."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Creating a file is the only test that holds for root, ACLs, read-only mounts and full disks alike.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        Console(stderr=True).print(
            f"[red]cannot use the state directory {escape(str(path.absolute()))}: {escape(_reason(exc))}. "
            f"Set {escape(setting)} to a directory this user can write, or fix that one's permissions.[/]",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    return path


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError):
        return "it is a file, not a directory"
    if isinstance(exc, NotADirectoryError):
        return "part of the path is a file, not a directory"
    return exc.strerror or str(exc)
