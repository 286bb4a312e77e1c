"""Duckling's entities (bot/nlu/duckling.py): the built-in engine, a Duckling server speaking its
HTTP API, and Rasa's entity shape, so actions written against Duckling run unchanged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator
from urllib.parse import parse_qs

import pytest

from bot.errors import ConfigError
from bot.nlu.duckling import Duckling, DucklingSettings, to_rasa

REFERENCE = 1796342400000  # 2026-12-04T00:00:00Z (a Friday), in ms as Duckling's server takes it


def test_money_numbers_and_intervals_come_in_rasas_shape() -> None:
    duckling = Duckling(DucklingSettings(dimensions=("amount-of-money", "time", "number", "email")))
    found = duckling.parse("pay $500 to ann@example.com from monday to friday", REFERENCE)
    by_dim = {e["entity"]: e for e in found}
    money = by_dim["amount-of-money"]
    assert (money["start"], money["end"], money["text"], money["value"]) == (4, 8, "$500", 500)
    assert money["additional_info"]["unit"] == "$" and money["extractor"] == "DucklingEntityExtractor"
    assert money["confidence"] == 1.0
    assert by_dim["email"]["value"] == "ann@example.com"
    interval = by_dim["time"]["value"]
    assert interval["from"].startswith("2026-11-30") and interval["to"].startswith("2026-12-05")
    assert by_dim["time"]["additional_info"]["type"] == "interval"
    tomorrow = Duckling(DucklingSettings(dimensions=("time",))).parse("tomorrow at 3pm", REFERENCE)
    assert tomorrow[0]["value"] == "2026-12-05T15:00:00.000+00:00" and tomorrow[0]["additional_info"]["grain"] == "hour"


def test_only_the_configured_dimensions_and_clear_errors() -> None:
    matches = [{"dim": "number", "start": 0, "end": 1, "body": "3", "value": {"type": "value", "value": 3}},
               {"dim": "time", "start": 2, "end": 5, "body": "now", "value": {"type": "value", "value": "x"}}]
    assert [e["entity"] for e in to_rasa(matches, ("number",))] == ["number"]
    assert len(to_rasa(matches, None)) == 2
    with pytest.raises(ConfigError, match="unknown dimensions"):
        DucklingSettings.from_component({"dimensions": ["money"]})
    with pytest.raises(ConfigError, match="timeout"):
        DucklingSettings.from_component({"timeout": "soon"})
    s = DucklingSettings.from_component({"url": "http://localhost:8000/", "dimensions": ["time"]}, "en")
    assert (s.url, s.dimensions, s.locale, s.timezone) == ("http://localhost:8000", ("time",), "en_US", "UTC")


class FakeDucklingServer(BaseHTTPRequestHandler):
    """Duckling's HTTP API (POST /parse, form-encoded text/locale/tz/reftime), answering with
    the built-in engine's matches, and recording what it was sent."""

    seen: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        FakeDucklingServer.seen.append(form)
        engine = Duckling(DucklingSettings())
        matches = engine._in_process(form["text"][0], int(form["reftime"][0]))
        body = json.dumps(matches).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), FakeDucklingServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_a_server_that_answers_is_used_and_one_that_does_not_falls_back(server: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    FakeDucklingServer.seen.clear()
    remote = Duckling(DucklingSettings(url=server, dimensions=("number",), timezone="Europe/Berlin"))
    assert [e["value"] for e in remote.parse("three apples", REFERENCE)] == [3]
    assert FakeDucklingServer.seen[0]["tz"] == ["Europe/Berlin"] and FakeDucklingServer.seen[0]["locale"] == ["en_US"]
    assert FakeDucklingServer.seen[0]["reftime"] == [str(REFERENCE)] and remote.backend == "server"
    away = Duckling(DucklingSettings(url="http://127.0.0.1:9", dimensions=("number",), timeout=0.5))
    with caplog.at_level("WARNING"):
        assert [e["value"] for e in away.parse("three apples", REFERENCE)] == [3]
        assert [e["value"] for e in away.parse("four pears", REFERENCE)] == [4]
    assert away.backend == "built-in"
    assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1  # logged once
