"""financial-demo (../shared/data/rasa-examples/financial-demo) as its user runs it: trained by
Switchboard, its own actions unchanged on a real rasa-sdk 3.1.0 action server (Python 3.8, its
Dockerfile.actions' image: rasa-sdk plus actions/requirements-actions.txt), and its 48 test
stories through `switchboard test`, which runs their actions on that server.

Its entities come from the learned entity head (account_type, credit_card, PERSON, vendor_name)
and its config.yml's DucklingEntityExtractor (the built-in Duckling: no server at its url here):
at least 90 % of the stories pass (44 of 48), every failure is an NLU one, and every action is
predicted as the stories say and runs on the server without an error."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from bot.cli import main
from tests.conftest import light_training, missing, train_copy
from tests.integration.action_server import (ActionServer, build_venv, find_python, requirement_lines,
                                             running_server)

RASA_SDK = "rasa-sdk==3.1.0"  # Dockerfile.actions: FROM rasa/rasa-sdk:3.1.0 (Python 3.8)
# Pins of ours, not the project's, that its 2022 requirements need on today's PyPI: rasa-sdk 3.1.0's
# sanic 21.9 imports websockets.connection.CLOSED (gone in websockets 11); actions/custom_forms.py
# calls ruamel.yaml.safe_load (gone in ruamel.yaml 0.18).
TODAYS_PYPI = ["websockets<11", "ruamel.yaml<0.18"]
ANNOTATION = re.compile(r"\[[^\]]+\](\([^)]*\)|\{[^}]*\})")  # [text](entity) / [text]{"entity": ...}
NLU_KINDS = {"intent", "entities"}


def needs_entities(story: dict[str, Any]) -> bool:
    """Does a user turn of the story carry an entity ([text](entity) or `entities:`)?"""
    return any("entities" in step or ANNOTATION.search(str(step.get("user") or ""))
               for step in story.get("steps") or [] if "intent" in step or "user" in step)


def _writable(project: Path) -> None:
    """The shared data is read-only and copytree keeps its modes: the action server writes its
    profile database and bytecode into the copy, and the test its endpoints.yml."""
    for path in [project, *project.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    light_training(project)  # the checks below are about the dialogue and the actions


@pytest.fixture(scope="session")
def action_venv(shared_data: Path) -> Path:
    python = find_python("3.8")
    if python is None:
        missing("no Python 3.8 (python3.8 on PATH, pyenv's 3.8.x or $SWITCHBOARD_PYTHON38) for rasa-sdk 3.1.0")
    own = requirement_lines(shared_data / "rasa-examples" / "financial-demo" / "actions" / "requirements-actions.txt")
    try:
        return build_venv(python, [RASA_SDK, *own, *TODAYS_PYPI], "rasa-sdk-3.1.0-py3.8")
    except RuntimeError as exc:
        missing(f"the rasa-sdk 3.1.0 environment could not be built: {exc}")
        raise  # missing() skipped or failed the test already


@pytest.fixture(scope="session")
def financial_demo(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_copy(shared_data / "rasa-examples" / "financial-demo", tmp_path_factory.mktemp("financial-demo"),
                      "financial-demo", prepare=_writable)


@pytest.fixture(scope="session")
def action_server(financial_demo: Path, action_venv: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ActionServer]:
    """Its actions package, from the project copy (its profile.db lands there), on a free port
    that the copy's endpoints.yml names (written after training, so the cache key stays)."""
    log = tmp_path_factory.mktemp("action-server") / "rasa_sdk.log"
    with running_server(action_venv, financial_demo, log=log) as server:
        (financial_demo / "endpoints.yml").write_text(yaml.safe_dump({"action_endpoint": {"url": server.url}}))
        yield server


@pytest.fixture(scope="module")
def results(financial_demo: Path, action_server: ActionServer) -> dict[str, Any]:
    code = main(["test", "--project", str(financial_demo)])
    report = json.loads((financial_demo / "results" / "story_report.json").read_text())
    stories = yaml.safe_load((financial_demo / "tests" / "test_stories.yml").read_text())["stories"]
    return {"code": code, "report": report, "summary": report["conversation_summary"], "stories": stories}


def _failures(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {f["story"]: f["failures"] for f in results["summary"]["failed_stories"]}


def _figure(results: dict[str, Any]) -> str:
    failed = _failures(results)
    plain = [s["story"] for s in results["stories"] if not needs_entities(s)]
    lines = [f"{results['summary']['passed']} of {results['summary']['stories']} passed; "
             f"{sum(name not in failed for name in plain)} of the {len(plain)} stories without entities"]
    for name, failures in failed.items():
        first = failures[0]
        lines.append(f"  {name}{'' if name in plain else ' [entities]'}: {first['kind']} {first['expected']!r} "
                     f"-> {first['predicted']!r} at {first['source']}")
    return "\n".join(lines)


def test_every_failure_is_an_nlu_one_and_the_dialogue_is_right(results: dict[str, Any]) -> None:
    summary = results["summary"]
    print(_figure(results))
    assert summary["stories"] == len(results["stories"]) == 48
    assert results["code"] == (0 if summary["failed"] == 0 else 1)
    assert summary["passed"] >= 44, _figure(results)  # the NLU issue's bar: 90 % of the 48
    kinds = {f["kind"] for failures in _failures(results).values() for f in failures}
    assert kinds <= NLU_KINDS, _figure(results)  # no action mispredicted, none failed on the server
    assert results["report"]["accuracy"] == 1.0  # every action of every story predicted right
    plain = [s for s in results["stories"] if not needs_entities(s)]
    assert len(plain) >= 20, "needs_entities() found entities where the stories have none"
    for name, failures in _failures(results).items():
        if name in {s["story"] for s in plain}:  # no entity to miss: only an intent can be wrong
            assert {f["kind"] for f in failures} == {"intent"}, (name, failures)


def test_its_actions_ran_on_the_action_server(results: dict[str, Any], action_server: ActionServer,
                                             financial_demo: Path) -> None:
    ran = results["summary"]["actions_run"]
    assert all(entry["errors"] == 0 for entry in ran.values()), ran
    # each story is a session of its own, begun by the project's own action_session_start
    assert ran["action_session_start"]["runs"] == action_server.requests("action_session_start") == 48
    for custom in ("action_show_balance", "action_switch_forms_ask", "action_transfer_money", "action_pay_cc"):
        assert ran[custom]["runs"] == action_server.requests(custom) > 0, custom
    # the forms' validators ran there too, and the server's own database knows the test customer
    assert action_server.requests("validate_transfer_money_form") > 0
    with sqlite3.connect(financial_demo / "profile.db") as db:
        (customers,) = db.execute("SELECT count(*) FROM account WHERE session_id LIKE 'switchboard-test-%'").fetchone()
    assert customers == 1
