"""Rasa 2 -> Rasa 3 migration (bot/dialogue/migrate.py), checked rule by rule against what Rasa 3.6.21's
`rasa data migrate` writes, and on the real formbot example."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogue.migrate import MIGRATE_HINT, MigrationReport, is_2x_domain, migrate_data_file, migrate_domain
from bot.dialogue.migrate import migrate_project
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def form_domain(**slot_mappings: list[dict[str, Any]]) -> dict[str, Any]:
    """A 2.x domain whose form `f` maps the given slots, each declared as a text slot."""
    return {
        "version": "2.0",
        "entities": ["city"],
        "slots": {name: {"type": "text", "auto_fill": False} for name in slot_mappings},
        "forms": {"f": {"required_slots": slot_mappings}},
    }


def test_hint_names_the_command() -> None:
    assert "switchboard data migrate" in MIGRATE_HINT and "rasa data migrate" in MIGRATE_HINT


@pytest.mark.parametrize(
    "domain",
    [
        {"version": "2.0", "intents": ["greet"]},
        {"version": 2.0},
        {"version": "2.8"},
        {"forms": {"f": {"required_slots": {"city": [{"type": "from_text"}]}}}},
        {"forms": {"f": {"city": [{"type": "from_text"}]}}},  # Rasa 2.0: no required_slots key
        {"slots": {"city": {"type": "text", "auto_fill": False, "mappings": [{"type": "custom"}]}}},
        {"slots": {"city": {"type": "rasa.shared.core.slots.TextSlot", "mappings": [{"type": "custom"}]}}},
    ],
)
def test_2x_constructs_are_recognised(domain: dict[str, Any]) -> None:
    assert is_2x_domain(domain)


@pytest.mark.parametrize(
    "domain",
    [
        {"version": "3.1", "slots": {"city": {"type": "text", "mappings": [{"type": "from_text"}]}}},
        {"forms": {"f": {"required_slots": ["city"], "ignored_intents": ["chitchat"]}}},
        {"slots": {"x": {"type": "my_bot.slots.MoneySlot", "mappings": [{"type": "custom"}]}}},
        {"intents": ["greet"]},
    ],
)
def test_3x_domains_are_not_2x(domain: dict[str, Any]) -> None:
    assert not is_2x_domain(domain)


@pytest.mark.parametrize(
    ("mapping", "condition"),
    [
        ({"type": "from_entity", "entity": "city"}, {"active_loop": "f"}),
        ({"type": "from_trigger_intent", "intent": "book", "value": "x"}, {"active_loop": "f"}),
        ({"type": "from_text"}, {"active_loop": "f", "requested_slot": "city"}),
        ({"type": "from_text", "not_intent": "deny"}, {"active_loop": "f", "requested_slot": "city"}),
        ({"type": "from_intent", "intent": "yes", "value": True}, {"active_loop": "f", "requested_slot": "city"}),
    ],
)
def test_form_mappings_move_to_the_slot(mapping: dict[str, Any], condition: dict[str, str]) -> None:
    """from_entity and from_trigger_intent fill the slot while the form is active, the others when asked."""
    new, notes = migrate_domain(form_domain(city=[mapping]))
    assert new["slots"]["city"] == {"type": "text", "mappings": [{**mapping, "conditions": [condition]}]}
    assert any("'city'" in note and "moved from form 'f'" in note for note in notes)


def test_forms_keep_their_slot_names_and_ignored_intents() -> None:
    domain = form_domain(city=[{"type": "from_text"}], size=[{"type": "from_text"}])
    domain["forms"]["f"]["ignored_intents"] = ["chitchat"]
    domain["forms"]["g"] = {"ignored_intents": [], "required_slots": {"size": [{"type": "from_text"}]}}
    new, notes = migrate_domain(domain)
    assert new["forms"] == {
        "f": {"required_slots": ["city", "size"], "ignored_intents": ["chitchat"]},
        "g": {"required_slots": ["size"]},  # an empty ignored_intents is dropped, as Rasa does
    }
    assert any("'f'" in note and "list of slot names" in note for note in notes)


def test_a_mapping_two_forms_share_is_kept_once_with_both_conditions() -> None:
    domain = form_domain(city=[{"type": "from_entity", "entity": "city"}, {"type": "from_text"}])
    domain["forms"]["g"] = {"required_slots": {"city": [{"type": "from_text"}]}}
    new, _ = migrate_domain(domain)
    assert new["slots"]["city"]["mappings"] == [
        {"type": "from_entity", "entity": "city", "conditions": [{"active_loop": "f"}]},
        {"type": "from_text", "conditions": [{"active_loop": form, "requested_slot": "city"} for form in "fg"]},
    ]


def test_rasa_20_forms_without_required_slots_are_migrated() -> None:
    new, _ = migrate_domain(
        {"version": "2.0", "slots": {"city": {"type": "text"}}, "forms": {"f": {"city": [{"type": "from_text"}]}}}
    )
    assert new["forms"] == {"f": {"required_slots": ["city"]}}
    assert new["slots"]["city"]["mappings"][0]["conditions"] == [{"active_loop": "f", "requested_slot": "city"}]


def test_auto_fill_becomes_a_from_entity_mapping_when_the_entity_exists() -> None:
    domain = {
        "version": "2.0",
        "entities": ["city", {"airport": {"roles": ["from", "to"]}}, "colour"],
        "slots": {
            "city": {"type": "text"},  # auto_fill defaults to true in Rasa 2
            "airport": {"type": "text", "auto_fill": True},
            "colour": {"type": "text", "auto_fill": False},
            "mood": {"type": "text", "auto_fill": True},  # no entity of that name
        },
    }
    new, notes = migrate_domain(domain)
    slots = new["slots"]
    assert slots["city"] == {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]}
    assert slots["airport"] == {"type": "text", "mappings": [{"type": "from_entity", "entity": "airport"}]}
    assert slots["colour"] == {"type": "text", "mappings": [{"type": "custom"}]}
    assert slots["mood"] == {"type": "text", "mappings": [{"type": "custom"}]}
    assert not any("auto_fill" in spec for spec in slots.values())
    assert any("'colour'" in note and "custom" in note for note in notes)


def test_auto_fill_adds_an_unconditioned_mapping_next_to_the_form_one() -> None:
    """What Rasa writes: Rasa 2 auto-filled the slot from its entity outside the form too."""
    domain = form_domain(city=[{"type": "from_entity", "entity": "city"}])
    del domain["slots"]["city"]["auto_fill"]
    new, _ = migrate_domain(domain)
    assert new["slots"]["city"]["mappings"] == [
        {"type": "from_entity", "entity": "city", "conditions": [{"active_loop": "f"}]},
        {"type": "from_entity", "entity": "city"},
    ]


@pytest.mark.parametrize(
    ("rasa2", "rasa3"),
    [("TextSlot", "text"), ("FloatSlot", "float"), ("BooleanSlot", "bool"), ("CategoricalSlot", "categorical"),
     ("ListSlot", "list"), ("AnySlot", "any")],  # fmt: skip
)
def test_slot_class_names_are_shortened(rasa2: str, rasa3: str) -> None:
    new, notes = migrate_domain({"slots": {"s": {"type": f"rasa.shared.core.slots.{rasa2}", "values": ["a"]}}})
    assert new["slots"]["s"] == {"type": rasa3, "values": ["a"], "mappings": [{"type": "custom"}]}
    assert any(f"rasa.shared.core.slots.{rasa2} -> {rasa3}" in note for note in notes)


def test_unfeaturized_slots_become_any_slots_that_do_not_influence_the_conversation() -> None:
    new, _ = migrate_domain({"version": "2.0", "slots": {"s": {"type": "unfeaturized"}}})
    assert new["slots"]["s"] == {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}


def test_version_and_other_keys() -> None:
    domain = {"intents": ["greet"], "version": "2.0", "slots": {"s": {"type": "text", "auto_fill": False}}}
    domain |= {"responses": {"utter_greet": [{"text": "Grüß dich"}]}, "e2e_actions": [], "session_config": {}}
    new, notes = migrate_domain(domain)
    assert list(new) == list(domain)  # the same keys in the same order
    assert new["version"] == "3.1" and "version '2.0' -> '3.1'" in notes[0]
    assert new["e2e_actions"] == [] and new["responses"] == domain["responses"]
    assert domain["slots"]["s"] == {"type": "text", "auto_fill": False}, "the input is not changed"
    added, _ = migrate_domain({"slots": {"s": {"type": "text", "auto_fill": False}}})
    assert list(added)[0] == "version" and added["version"] == "3.1"


def test_a_slot_only_a_form_names_is_added_and_noted() -> None:
    new, notes = migrate_domain({"version": "2.0", "forms": {"f": {"required_slots": {"x": [{"type": "from_text"}]}}}})
    condition = {"active_loop": "f", "requested_slot": "x"}
    assert new["slots"] == {"x": {"mappings": [{"type": "from_text", "conditions": [condition]}]}}
    assert any("'x'" in note and "no type" in note for note in notes)


def test_mixing_form_mappings_with_slot_mappings_is_an_error() -> None:
    domain = form_domain(city=[{"type": "from_text"}])
    domain["slots"]["city"]["mappings"] = [{"type": "from_entity", "entity": "city"}]
    with pytest.raises(ConfigError) as caught:
        migrate_domain(domain, file="bots/domain.yml")
    assert "'city'" in str(caught.value) and "bots/domain.yml" in str(caught.value)


def test_a_3x_domain_comes_back_unchanged() -> None:
    domain = {"version": "3.1", "slots": {"s": {"type": "text", "mappings": [{"type": "from_text"}]}}}
    domain["entities"] = ["s"]  # no auto-fill mapping is added to a Rasa 3 slot
    new, notes = migrate_domain(domain)
    assert new == domain and "already Rasa 3" in notes[0]


def test_bad_mappings_name_the_file() -> None:
    with pytest.raises(ConfigError, match="my_domain.yml.*'city'"):
        migrate_domain(form_domain(city="from_text"), file="my_domain.yml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="my_domain.yml"):
        migrate_domain(["not", "a", "domain"], file="my_domain.yml")  # type: ignore[arg-type]


def test_data_files_only_change_their_version() -> None:
    stories = {"version": "2.0", "stories": [{"story": "s", "steps": [{"intent": "hi"}, {"action": "utter_hi"}]}]}
    new, notes = migrate_data_file(stories, file="data/stories.yml")
    assert new == {**stories, "version": "3.1"} and notes == ["data/stories.yml: version '2.0' -> '3.1'"]
    assert migrate_data_file({"version": "3.1", "nlu": []}) == ({"version": "3.1", "nlu": []}, [])
    assert migrate_data_file({"nlu": []}) == ({"nlu": []}, [])
    with pytest.raises(ConfigError, match="data/x.yml"):
        migrate_data_file([], file="data/x.yml")  # type: ignore[arg-type]


# --- projects ------------------------------------------------------------------------------


DOMAIN_2X = """\
version: "2.0"
intents: [affirm, inform]
entities: [city]
slots:
  city: {type: rasa.shared.core.slots.TextSlot}
  confirmed: {type: any, auto_fill: false}
forms:
  trip_form:
    required_slots:
      city: [{type: from_entity, entity: city}]
      confirmed: [{type: from_intent, intent: affirm, value: yes}]
responses:
  utter_ask_city: [{text: "Wohin? Où ça?"}]
  utter_summary: [{text: "Going to {city}.\\nConfirmed: {confirmed}"}]
"""
NLU_2X = 'version: "2.0"\nnlu:\n- intent: affirm\n  examples: |\n    - yes\n    - sure\n'
RULES_2X = '# the rules\nversion: "2.0"  # old\nrules:\n- rule: r\n  steps:\n  - intent: affirm\n  - action: utter_ok\n'


def make_project(root: Path, domain: str = DOMAIN_2X) -> Path:
    (root / "data" / "more").mkdir(parents=True)
    (root / "domain.yml").write_text(domain, encoding="utf-8")
    (root / "data" / "nlu.yml").write_text(NLU_2X, encoding="utf-8")
    (root / "data" / "more" / "rules.yml").write_text(RULES_2X, encoding="utf-8")
    (root / "config.yml").write_text("language: en\n", encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_project_in_place_keeps_a_backup(tmp_path: Path) -> None:
    project = make_project(tmp_path / "bot")
    before = snapshot(project)
    report = migrate_project(project)
    assert isinstance(report, MigrationReport) and not report.already_3x
    migrated = ("domain.yml", "data/nlu.yml", "data/more/rules.yml")
    assert set(report.files_written) == {project / name for name in migrated}
    assert report.backup is not None and report.backup.parent == project / ".switchboard" / "migrate-backup"
    assert snapshot(report.backup) == {name: before[name] for name in migrated}  # the originals, byte for byte

    text = (project / "domain.yml").read_text(encoding="utf-8")
    domain = yaml.safe_load(text)
    assert not is_2x_domain(domain) and domain["version"] == "3.1"
    city = {"type": "from_entity", "entity": "city"}
    in_trip = {**city, "conditions": [{"active_loop": "trip_form"}]}
    assert domain["slots"]["city"] == {"type": "text", "mappings": [in_trip, city]}  # and auto-fill's
    # `yes` is a string in Rasa (YAML 1.2) and stays one, quoted for YAML 1.1 readers
    assert domain["slots"]["confirmed"]["mappings"][0]["value"] == "yes"
    assert domain["forms"] == {"trip_form": {"required_slots": ["city", "confirmed"]}}
    assert "Wohin? Où ça?" in text and "- text: |-\n" in text  # unicode as is, multi-line text as a block
    assert domain["responses"]["utter_summary"] == [{"text": "Going to {city}.\nConfirmed: {confirmed}"}]

    assert (project / "data/nlu.yml").read_text(encoding="utf-8") == NLU_2X.replace('"2.0"', '"3.1"')
    assert (project / "data/more/rules.yml").read_text(encoding="utf-8") == RULES_2X.replace('"2.0"', '"3.1"')
    assert (project / "config.yml").read_bytes() == before["config.yml"]

    again = migrate_project(project)
    assert again.already_3x and again.files_written == () and "already Rasa 3" in again.notes[0]


def test_project_to_another_folder_leaves_the_project_alone(tmp_path: Path) -> None:
    project = make_project(tmp_path / "bot")
    (project / "data" / "extra.yml").write_text('version: "3.1"\nnlu: []\n', encoding="utf-8")
    before = snapshot(project)
    out = tmp_path / "migrated"
    report = migrate_project(project, out)
    assert snapshot(project) == before and report.backup is None
    written = {p.relative_to(out).as_posix() for p in report.files_written}
    assert written == {"domain.yml", "data/nlu.yml", "data/more/rules.yml", "data/extra.yml"}
    assert (out / "data/extra.yml").read_bytes() == before["data/extra.yml"]
    assert not is_2x_domain(yaml.safe_load((out / "domain.yml").read_text(encoding="utf-8")))


def test_a_3x_project_is_left_unchanged(tmp_path: Path) -> None:
    template, project = REPO / "bot" / "templates" / "shop", tmp_path / "shop"
    for path in [template / "domain.yml", *sorted((template / "data").glob("*.yml"))]:
        (project / path.relative_to(template)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, project / path.relative_to(template))
    before = snapshot(project)
    assert len(before) >= 3
    report = migrate_project(project)
    assert report.already_3x and report.files_written == () and "already Rasa 3" in report.notes[0]
    assert snapshot(project) == before and not (project / ".switchboard").exists()


def test_a_3x_domain_with_2x_data_files_migrates_only_those(tmp_path: Path) -> None:
    project = make_project(tmp_path / "bot", domain='version: "3.1"\nintents:\n- affirm\n')
    report = migrate_project(project, tmp_path / "out")
    assert not report.already_3x
    assert (tmp_path / "out" / "domain.yml").read_text() == 'version: "3.1"\nintents:\n- affirm\n'
    assert yaml.safe_load((tmp_path / "out" / "data" / "nlu.yml").read_text())["version"] == "3.1"


def test_a_domain_folder_is_migrated_file_by_file(tmp_path: Path) -> None:
    project = tmp_path / "bot"
    (project / "domain").mkdir(parents=True)
    for name, text in {
        "slots.yml": 'version: "2.0"\nentities: [city]\nslots:\n  city: {type: text}\n',
        "forms.yml": 'version: "2.0"\nforms:\n  f:\n    required_slots:\n      city: [{type: from_text}]\n',
        "responses.yml": "responses:\n  utter_ok:\n  - text: ok\n",  # no slots or forms: only the version changes
    }.items():
        (project / "domain" / name).write_text(text, encoding="utf-8")
    report = migrate_project(project, tmp_path / "out")
    load = lambda name: yaml.safe_load((tmp_path / "out" / "domain" / name).read_text())  # noqa: E731
    assert load("slots.yml")["slots"]["city"]["mappings"] == [
        {"type": "from_text", "conditions": [{"active_loop": "f", "requested_slot": "city"}]},
        {"type": "from_entity", "entity": "city"},
    ]
    assert load("forms.yml") == {"version": "3.1", "forms": {"f": {"required_slots": ["city"]}}}
    assert load("responses.yml") == {"version": "3.1", "responses": {"utter_ok": [{"text": "ok"}]}}
    assert len(report.files_written) == 3


def test_project_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no domain.yml"):
        migrate_project(tmp_path)
    project = make_project(tmp_path / "bot")
    (project / "data" / "broken.yml").write_text("nlu: [unclosed\n", encoding="utf-8")
    before = snapshot(project)
    with pytest.raises(ConfigError, match="data/broken.yml"):
        migrate_project(project)
    assert snapshot(project) == before, "nothing is written when a file cannot be read"
    (project / "data" / "broken.yml").unlink()
    domain = DOMAIN_2X.replace("auto_fill: false}", "auto_fill: false, mappings: [{type: from_text}]}")
    (project / "domain.yml").write_text(domain, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"domain.yml: slot 'confirmed'"):
        migrate_project(project)
    assert not (project / ".switchboard").exists()


# --- the real formbot (Rasa 2.0) -------------------------------------------------------------


def in_form(slot: str | None = None) -> list[dict[str, str]]:
    return [{"active_loop": "restaurant_form", **({"requested_slot": slot} if slot else {})}]


# What Rasa 3.6.21's `rasa data migrate -d domain.yml` writes for formbot's slots, except for the
# type, which Rasa leaves as the class name (rasa.shared.core.slots.TextSlot) and we shorten.
FORMBOT_SLOTS = {
    "cuisine": {"type": "text", "initial_value": None, "influence_conversation": False,
                "mappings": [{"entity": "cuisine", "type": "from_entity", "conditions": in_form()}]},
    "num_people": {"type": "float", "initial_value": None, "influence_conversation": False, "max_value": 1.0,
                   "min_value": 0.0, "mappings": [{"entity": "number", "intent": ["inform", "request_restaurant"],
                                                   "type": "from_entity", "conditions": in_form()}]},
    "outdoor_seating": {"type": "text", "initial_value": None, "influence_conversation": False, "mappings": [
        {"entity": "seating", "type": "from_entity", "conditions": in_form()},
        {"intent": "affirm", "type": "from_intent", "value": True, "conditions": in_form("outdoor_seating")},
        {"intent": "deny", "type": "from_intent", "value": False, "conditions": in_form("outdoor_seating")}]},
    "preferences": {"type": "text", "initial_value": None, "influence_conversation": False, "mappings": [
        {"intent": "deny", "type": "from_intent", "value": "no additional preferences",
         "conditions": in_form("preferences")},
        {"not_intent": "affirm", "type": "from_text", "conditions": in_form("preferences")}]},
    "feedback": {"type": "text", "initial_value": None, "influence_conversation": False, "mappings": [
        {"entity": "feedback", "type": "from_entity", "conditions": in_form()},
        {"type": "from_text", "conditions": in_form("feedback")}]},
    "requested_slot": {"type": "text", "initial_value": None, "influence_conversation": False,
                       "mappings": [{"type": "custom"}]},
}  # fmt: skip


def test_formbot_migrates_as_rasa_does(shared_data: Path, tmp_path: Path) -> None:
    source, project = shared_data / "rasa-examples" / "formbot", tmp_path / "formbot"
    shutil.copytree(source, project)
    original = yaml.safe_load((source / "domain.yml").read_text(encoding="utf-8"))
    assert is_2x_domain(original)

    report = migrate_project(project)
    assert not report.already_3x and project / "domain.yml" in report.files_written
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    assert domain["version"] == "3.1" and not is_2x_domain(domain)
    assert domain["slots"] == FORMBOT_SLOTS
    slots = domain["slots"]
    assert slots["num_people"]["mappings"][0]["intent"] == ["inform", "request_restaurant"]
    assert slots["num_people"]["mappings"][0]["conditions"] == [{"active_loop": "restaurant_form"}]
    assert [m["value"] for m in slots["outdoor_seating"]["mappings"] if m["type"] == "from_intent"] == [True, False]
    assert slots["preferences"]["mappings"][1] == {"not_intent": "affirm", "type": "from_text",
                                                   "conditions": in_form("preferences")}  # fmt: skip
    required = ["cuisine", "feedback", "num_people", "outdoor_seating", "preferences"]
    assert domain["forms"] == {"restaurant_form": {"required_slots": required, "ignored_intents": ["chitchat"]}}
    assert list(domain) == list(original)
    for key in ("config", "session_config", "intents", "entities", "responses", "actions", "e2e_actions"):
        assert domain[key] == original[key], key

    for name in ("nlu.yml", "stories.yml", "rules.yml"):
        before = (source / "data" / name).read_text(encoding="utf-8")
        after = (project / "data" / name).read_text(encoding="utf-8")
        assert after == before.replace('version: "2.0"', 'version: "3.1"', 1), name
    assert report.backup is not None
    assert (report.backup / "domain.yml").read_bytes() == (source / "domain.yml").read_bytes()
    assert migrate_project(project).already_3x
