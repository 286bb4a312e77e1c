"""Rasa NLU features a Rasa user brings, on one small assistant written here: retrieval intents
(`faq/ask_hours`) answered through the ResponseSelector's output and `utter_faq`, multi-intent
labels (`greet+check_balance`, config.yml's intent_tokenization_flag), lookup tables and regexes
as RegexFeaturizer features and as RegexEntityExtractor entities, and `switchboard test` on test
stories that name full retrieval intents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import light_training, train_copy
from tests.integration.conftest import StartServer

CONFIG = """language: en
pipeline:
  - name: WhitespaceTokenizer
    intent_tokenization_flag: true
    intent_split_symbol: "+"
  - name: RegexFeaturizer
  - name: RegexEntityExtractor
    use_regexes: true
    use_lookup_tables: true
  - name: CountVectorsFeaturizer
  - name: DIETClassifier
    epochs: 100
  - name: EntitySynonymMapper
  - name: ResponseSelector
    retrieval_intent: faq
  - name: ResponseSelector
policies:
  - name: RulePolicy
"""

DOMAIN = {
    "version": "3.1",
    "intents": ["greet", "check_balance", "greet+check_balance", "faq", "chitchat", "find_branch"],
    "entities": ["city", "account"],
    "slots": {"city": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]}},
    "responses": {
        "utter_greet": [{"text": "Hello! How can I help?"}],
        "utter_balance": [{"text": "Your balance is on the Accounts page."}],
        "utter_branch": [{"text": "Our branch in {city} is on the main square."}],
        "utter_faq/ask_hours": [{"text": "We are open 9 to 5, Monday to Friday."}],
        "utter_faq/ask_fees": [{"text": "Accounts are free; transfers abroad cost 1 EUR."}],
    },
}

RESPONSES = {  # retrieval responses may also live in data/ files, as Rasa reads them
    "version": "3.1",
    "responses": {
        "utter_chitchat/ask_name": [{"text": "I'm Penny, the helpdesk assistant."}],
        "utter_chitchat/ask_weather": [{"text": "I can't see outside, sorry!"}],
    },
}

NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
    - hey there
    - good morning
    - hello bot
    - hi there
    - morning
    - hey
- intent: check_balance
  examples: |
    - what's my balance
    - how much money do I have
    - show my account balance
    - balance please
    - what is left on my account
    - check my balance
    - how much is in my account
    - my current balance?
- intent: greet+check_balance
  examples: |
    - hi, what's my balance
    - hello, how much money do I have
    - hey there, show me my balance
    - good morning, balance please
    - hi bot, check my balance
    - hello, what is left on my account
- intent: faq/ask_hours
  examples: |
    - when are you open
    - what are your opening hours
    - are you open on saturday
    - what time do you close
    - opening times
    - until when can I come by
- intent: faq/ask_fees
  examples: |
    - how much does an account cost
    - are there any fees
    - what do transfers abroad cost
    - is the account free
    - do you charge fees
    - fees for international transfers
- intent: chitchat/ask_name
  examples: |
    - what's your name
    - who are you
    - do you have a name
    - what should I call you
    - tell me your name
- intent: chitchat/ask_weather
  examples: |
    - how's the weather
    - is it raining outside
    - what's the weather like today
    - will it be sunny
    - is it cold out there
- intent: find_branch
  examples: |
    - is there a branch in [Lisbon](city)
    - where is your office in [Porto](city)
    - branch near [Madrid](city)
    - I'm looking for your branch in [Berlin](city)
    - do you have an office in [Vienna](city)
    - find a branch in [Rome](city)
    - address of the [Paris](city) branch
    - which branches are in [Prague](city)
    - your branch in [Oslo](city)?
    - [Dublin](city) branch opening
    - is there an office in [Warsaw](city)
    - branch in [Athens](city) please
- lookup: city
  examples: |
    - Lisbon
    - Porto
    - Madrid
    - Berlin
    - Vienna
    - Rome
    - Paris
    - Prague
    - Oslo
    - Dublin
    - Warsaw
    - Athens
    - Helsinki
    - Zagreb
- regex: account
  examples: |
    - \\bAC-\\d{6}\\b
"""

RULES = """version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: balance
  steps:
  - intent: check_balance
  - action: utter_balance
- rule: a greeting and a question in one message
  steps:
  - intent: greet+check_balance
  - action: utter_greet
  - action: utter_balance
- rule: faq
  steps:
  - intent: faq
  - action: utter_faq
- rule: chitchat
  steps:
  - intent: chitchat
  - action: utter_chitchat
- rule: branch
  steps:
  - intent: find_branch
  - action: utter_branch
"""

TESTS = """version: "3.1"
stories:
- story: an faq named by its full retrieval intent
  steps:
  - user: when are you open
    intent: faq/ask_hours
  - action: utter_faq
- story: chitchat, then a greeting with a question
  steps:
  - user: what's your name
    intent: chitchat/ask_name
  - action: utter_chitchat
  - user: hi, what's my balance
    intent: greet+check_balance
  - action: utter_greet
  - action: utter_balance
- story: a branch in a city of the lookup table
  steps:
  - user: is there a branch in [Lisbon](city)
    intent: find_branch
  - action: utter_branch
"""


def write_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "config.yml").write_text(CONFIG)
    (root / "domain.yml").write_text(yaml.safe_dump(DOMAIN, sort_keys=False))
    (root / "data" / "nlu.yml").write_text(NLU)
    (root / "data" / "responses.yml").write_text(yaml.safe_dump(RESPONSES, sort_keys=False))
    (root / "data" / "rules.yml").write_text(RULES)
    (root / "tests" / "test_stories.yml").write_text(TESTS)
    light_training(root)
    return root


@pytest.fixture(scope="module")
def helpdesk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = write_project(tmp_path_factory.mktemp("helpdesk-source"))
    return train_copy(source, tmp_path_factory.mktemp("helpdesk"), "helpdesk")


def test_the_model_learns_base_intents_full_retrieval_intents_and_multi_intent_parts(helpdesk: Path) -> None:
    meta = json.loads((helpdesk / ".switchboard" / "models" / "nlu" / "meta.json").read_text())
    assert {"faq", "chitchat", "greet+check_balance"} <= set(meta["intents"])
    assert not any("/" in label for label in meta["intents"])
    assert meta["retrieval_intents"] == ["chitchat/ask_name", "chitchat/ask_weather", "faq/ask_fees", "faq/ask_hours"]
    parts = dict(zip(meta["intents"], meta["intent_parts"]))
    assert parts["greet+check_balance"] == ["greet", "check_balance"] and parts["greet"] == ["greet"]
    assert meta["pipeline"]["regex_extractor"]["case_sensitive"] is False
    assert meta["pipeline"]["response_selectors"] == ["faq", "default"]
    assert meta["lookups"]["city"][:2] == ["Lisbon", "Porto"]


async def test_parse_has_the_response_selector_as_rasa_gives_it(helpdesk: Path, start_server: StartServer) -> None:
    server = await start_server(helpdesk)
    async with server.http.post(f"{server.base}/model/parse", json={"text": "what are your opening hours"}) as r:
        parsed = await r.json()
    assert parsed["intent"]["name"] == "faq"
    assert parsed["intent"]["full_retrieval_intent_name"] == "faq/ask_hours"
    selector = parsed["response_selector"]
    assert selector["all_retrieval_intents"] == ["chitchat", "faq"]
    assert set(selector) == {"all_retrieval_intents", "faq", "default", "chitchat"}
    best = selector["faq"]["response"]
    assert best["intent_response_key"] == "faq/ask_hours" and best["utter_action"] == "utter_faq/ask_hours"
    assert best["responses"] == [{"text": "We are open 9 to 5, Monday to Friday."}]
    assert [r["intent_response_key"] for r in selector["faq"]["ranking"]] == ["faq/ask_hours", "faq/ask_fees"]
    assert len(selector["default"]["ranking"]) == 4 and 0 < best["confidence"] <= 1

    replies = await server.say("u1", "do you charge fees")
    assert [m["text"] for m in replies] == ["Accounts are free; transfers abroad cost 1 EUR."]
    replies = await server.say("u2", "how's the weather")  # chitchat's responses come from data/responses.yml
    assert [m["text"] for m in replies] == ["I can't see outside, sorry!"]


async def test_multi_intent_and_lookup_entities(helpdesk: Path, start_server: StartServer) -> None:
    server = await start_server(helpdesk)
    replies = await server.say("u3", "hello, how much money is in my account")
    assert [m["text"] for m in replies] == ["Hello! How can I help?", "Your balance is on the Accounts page."]
    # a city of the lookup table that no example annotates: RegexEntityExtractor finds it
    async with server.http.post(f"{server.base}/model/parse", json={"text": "a branch in Zagreb?"}) as r:
        parsed = await r.json()
    by_extractor = {(e["extractor"], e["value"]) for e in parsed["entities"]}
    assert ("RegexEntityExtractor", "Zagreb") in by_extractor
    async with server.http.post(f"{server.base}/model/parse", json={"text": "my account AC-123456"}) as r:
        parsed = await r.json()
    assert [(e["entity"], e["value"]) for e in parsed["entities"]] == [("account", "AC-123456")]


def test_switchboard_test_checks_full_retrieval_intents(helpdesk: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(helpdesk), "test"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((helpdesk / "results" / "story_report.json").read_text())
    assert report["conversation_summary"]["passed"] == 3, report["conversation_summary"]
    # the selector's choice counts: the same message under another full retrieval intent fails
    wrong = helpdesk / "tests" / "test_wrong.yml"
    wrong.write_text(TESTS.split("- story: chitchat")[0].replace("faq/ask_hours", "faq/ask_fees"))
    try:
        result = subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(helpdesk), "test"],
                                capture_output=True, text=True, timeout=600)
    finally:
        wrong.unlink()
    assert result.returncode == 1
    failed = (helpdesk / "results" / "failed_test_stories.yml").read_text()
    assert "faq/ask_fees" in failed and "predicted: faq/ask_hours" in failed, failed
