"""`cohortflow demo` with a channel configured sends its reminders as programme time passes."""

from __future__ import annotations

import json
import os
import subprocess

from cohortflow.runtime.temporal import installed_binary
from tests.reminders.conftest import SmtpServer


def test_the_demo_sends_its_reminders_on_the_programmes_clock(smtp_server: SmtpServer) -> None:
    env = {**os.environ, "COHORTFLOW_SMTP_HOST": smtp_server.host, "COHORTFLOW_SMTP_PORT": str(smtp_server.port)}
    out = subprocess.run(
        [installed_binary("cohortflow"), "demo", "--json", "--candidates", "140", "--selected", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    report = json.loads(out.stdout)
    delivered = smtp_server.mailbox.snapshot()
    assert report["dispatched"]["sent"] == report["reminders"]["sent"] == len(delivered) > 0
    # The return-report rule goes by webhook, which is not configured: given up with the reason, not lost.
    assert report["reminders"]["gave_up"] > 0
    assert all(m.rcpt_tos and m.rcpt_tos[0].endswith("@example.org") for m in delivered)
