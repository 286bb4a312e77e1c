"""The fault bench (bench/faults.py) small, in CI: two workers on a private PostgreSQL and Redis,
a worker killed with SIGKILL and PostgreSQL restarted in the middle of the conversations. Nothing
acknowledged is lost, no request ends in a 500 or hangs, every message is answered in the end;
no duplicated reply where the bot deduplicates REST message ids (the bench probes whether it
does: until then a worker killed after storing a turn can be asked for it again)."""

from __future__ import annotations

from bench.private_servers import PrivatePostgres, PrivateRedis
from pathlib import Path

import pytest

from bench.faults import run_scenario


@pytest.mark.parametrize("scenario", ["worker_kill", "postgres_restart"])
async def test_a_fault_in_the_middle_loses_nothing(scenario: str, trained_project: Path,
                                                   private_postgres: PrivatePostgres,
                                                   private_redis: PrivateRedis) -> None:
    report = await run_scenario(scenario, trained_project, private_postgres, private_redis,
                                conversations=8, messages=5)
    assert report["acknowledged"] == report["messages"] == 40 and report["abandoned"] == 0, report
    assert report["lost"] == 0, report
    assert report["server_errors_500"] == 0 and "timeout" not in report["client_errors"], report
    assert report["acknowledged_after_fault_began"] > 0, report  # the fault came in the middle of the run
    assert report["bot_exit_status"] == 0, report  # and SIGTERM stopped the workers cleanly
    assert report["dedupe_by_message_id"], report  # REST reads metadata.message_id
    assert report["duplicated_replies"] == 0, report
