"""The fault bench's accounting (bench/faults.py summarize) on a hand-made run: a duplicate is two
turns with bot replies stored for one message id, a loss an acknowledged message missing from the
tracker, and the outage and recovery times come from the attempts."""

from __future__ import annotations

from bench.faults import Attempt, Sent, summarize


def test_duplicates_losses_outages_and_recovery_are_counted() -> None:
    log = [
        Sent("c", "m1", "hello", [Attempt(1.0, 2.0, "503"), Attempt(4.0, 5.0, "ok")], acked_at=5.0),
        Sent("c", "m2", "thanks", [Attempt(6.0, 7.0, "connection"), Attempt(7.5, 8.0, "ok")], acked_at=8.0),
        Sent("c", "m3", "bye", [Attempt(9.0, 9.5, "ok")], acked_at=9.5),  # answered, then not stored: lost
        Sent("c", "m4", "hi", [Attempt(10.0, 12.0, "500")] * 3),  # never answered: abandoned
    ]
    tracker = [
        {"event": "user", "metadata": {"message_id": "m1"}}, {"event": "bot"}, {"event": "action"},
        {"event": "user", "metadata": {"message_id": "m2"}}, {"event": "bot"}, {"event": "bot"},
        {"event": "user", "metadata": {"message_id": "m2"}}, {"event": "bot"},  # the retry answered again
    ]
    report = summarize(log, {"c": tracker}, began=0.5, back=6.5)
    assert (report["acknowledged"], report["abandoned"], report["lost"]) == (3, 1, 1)
    assert report["duplicated_replies"] == 1 and report["duplicated_messages"] == 1
    assert report["client_errors"] == {"500": 3, "503": 1, "connection": 1} and report["server_errors_500"] == 3
    assert report["messages_that_failed_once"] == 2 and report["longest_outage_s"] == 4.0
    assert report["failed_after_back"] == 3 and report["recovery_s"] == 5.5  # m4's attempts, sent after 6.5
