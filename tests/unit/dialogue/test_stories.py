"""Stories, rules and test stories read into StoryBlocks, with file:line for each event."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from bot.dialogue.annotations import parse_annotated
from bot.dialogue.slot_types import SlotType, slot_types
from bot.dialogue.stories import MAX_VARIANTS, read_blocks, read_files
from bot.dialogue.story import StoryBlock


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def names(block: StoryBlock) -> list[str | None]:
    out = []
    for event in block.events:
        if event["event"] == "user":
            out.append(event["parse_data"]["intent"]["name"])
        elif event["event"] == "slot":
            out.append(f"{event['name']}={event['value']}")
        else:
            out.append(event.get("name") or event.get("action_text"))
    return out


def lines(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.line() for f in findings]


def test_each_step_becomes_its_event_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        version: "3.1"
        stories:
        - story: order
          metadata: {author: me}
          steps:
          - intent: order_status
            entities:
            - order_number: NW-1
            - {entity: city, value: Berlin, role: to}
          - action: action_check_order
          - slot_was_set:
            - order_number: NW-1
            - found: true
          - active_loop: order_form
          - active_loop: null
          - bot: Here it is.
          - metadata: {note: ignored}
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert findings == []
    [block] = blocks
    assert (block.name, block.kind, block.source) == ("order", "story", "data/stories.yml:3")
    assert block.events == (
        {"event": "user", "text": None, "parse_data": {"intent": {"name": "order_status", "confidence": 1.0},
                                                      "entities": [{"entity": "order_number", "value": "NW-1"},
                                                                   {"entity": "city", "value": "Berlin", "role": "to"}]}},
        {"event": "action", "name": "action_check_order"},
        {"event": "slot", "name": "order_number", "value": "NW-1"},
        {"event": "slot", "name": "found", "value": True},
        {"event": "active_loop", "name": "order_form"},
        {"event": "active_loop", "name": None},
        {"event": "action", "name": None, "action_text": "Here it is."},
    )
    assert block.step_sources == ("data/stories.yml:6", "data/stories.yml:10", "data/stories.yml:12",
                                  "data/stories.yml:13", "data/stories.yml:14", "data/stories.yml:15",
                                  "data/stories.yml:16")


def test_user_text_and_inline_entities(tmp_path: Path) -> None:
    path = write(tmp_path, "tests/test_stories.yml", """
        stories:
        - story: e2e
          steps:
          - user: |
              fly from [Berlin]{"entity": "city", "role": "from", "group": "1"} to [NYC](city:New York) on [monday](day)
            intent: book
          - action: utter_booked
          - user: just text
        """)
    blocks, findings = read_blocks(path, None, root=tmp_path)
    assert findings == []
    [block] = blocks
    assert block.kind == "test"  # under tests/
    first = block.events[0]
    text = "fly from Berlin to NYC on monday"
    assert first["text"] == text  # annotations removed, the trailing newline stripped
    entities = first["parse_data"]["entities"]
    assert entities == [
        {"entity": "city", "value": "Berlin", "start": 9, "end": 15, "role": "from", "group": "1"},
        {"entity": "city", "value": "New York", "start": 19, "end": 22},
        {"entity": "day", "value": "monday", "start": 26, "end": 32},
    ]
    assert [text[e["start"]:e["end"]] for e in entities] == ["Berlin", "NYC", "monday"]
    assert block.events[2]["parse_data"]["intent"] == {"name": None}  # end-to-end: no intent
    assert block.events[2]["text"] == "just text"


def test_annotation_forms() -> None:
    plain, entities, problems = parse_annotated('[LA][{"entity": "city", "role": "to"}, {"entity": "airport"}] now')
    assert plain == "LA now" and problems == []
    assert entities == [{"entity": "city", "value": "LA", "start": 0, "end": 2, "role": "to"},
                        {"entity": "airport", "value": "LA", "start": 0, "end": 2}]
    plain, entities, problems = parse_annotated("[x]{not json}")
    assert plain == "x" and entities == [] and "not valid JSON" in problems[0]
    assert parse_annotated("no [brackets] here") == ("no [brackets] here", [], [])


def test_plain_slot_names_take_rasas_default_values(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: s
          steps:
          - slot_was_set:
            - name
            - tags
            - confirmed
            - note
            - unknown
        """)
    types = {"name": SlotType("text"), "tags": SlotType("list"), "confirmed": SlotType("bool"),
             "note": SlotType("float", influences=False)}
    blocks, findings = read_blocks(path, root=tmp_path, slots=types)
    assert [e["value"] for e in blocks[0].events] == ["filled", ["filled"], None, None, "filled"]
    assert lines(findings) == ["warning data/stories.yml:7: slot 'confirmed' is named without a value, but it is a bool "
                               "slot: give it a value; it is taken as empty, as Rasa takes it"]
    blocks, _ = read_blocks(path, root=tmp_path)  # without a domain: text slots
    assert [e["value"] for e in blocks[0].events] == ["filled"] * 5


def test_slot_types_from_a_domain() -> None:
    types = slot_types({"slots": {"a": {"type": "text"}, "b": {"type": "rasa.shared.core.slots.ListSlot"},
                                  "c": {"type": "bool", "influence_conversation": False}, "d": {"type": "any"},
                                  "e": {"type": "rasa.shared.core.slots.UnfeaturizedSlot"}}})
    assert types == {"a": SlotType("text"), "b": SlotType("list"), "c": SlotType("bool", False),
                     "d": SlotType("any", False), "e": SlotType("any", False)}


def test_rules_conditions_and_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "data/rules.yml", """
        rules:
        - rule: submit
          condition:
          - active_loop: order_form
          - slot_was_set:
            - confirmed: true
          steps:
          - action: order_form
          - active_loop: null
          - action: utter_done
          wait_for_user_input: false
        - rule: welcome
          conversation_start: true
          steps:
          - intent: greet
          - action: utter_welcome
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert findings == []
    submit, welcome = blocks
    assert submit.kind == "rule" and submit.condition == (
        {"event": "active_loop", "name": "order_form"}, {"event": "slot", "name": "confirmed", "value": True})
    assert names(submit) == ["order_form", None, "utter_done"]
    assert not submit.wait_for_user_input and not submit.conversation_start
    assert welcome.conversation_start and welcome.wait_for_user_input and welcome.condition == ()


def test_or_steps_multiply(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: pay
          steps:
          - or:
            - intent: pay
            - intent: pay_bill
          - action: pay_form
          - or:
            - slot_was_set:
              - method: card
            - slot_was_set:
              - method: cash
              - method: check
          - action: utter_paid
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert findings == []
    assert [b.name for b in blocks] == [f"pay (or {i})" for i in range(1, 7)]
    assert [names(b) for b in blocks][:3] == [
        ["pay", "pay_form", "method=card", "utter_paid"], ["pay", "pay_form", "method=cash", "utter_paid"],
        ["pay", "pay_form", "method=check", "utter_paid"]]
    assert names(blocks[3])[0] == "pay_bill"
    assert blocks[0].step_sources[0] == "data/stories.yml:5" and blocks[3].step_sources[0] == "data/stories.yml:6"
    assert blocks[1].step_sources[2] == "data/stories.yml:12"  # the slot item's own line


def test_or_expansion_is_capped(tmp_path: Path) -> None:
    steps = "".join("  - or:\n    - intent: a\n    - intent: b\n  - action: utter_x\n" for _ in range(9))
    path = write(tmp_path, "data/stories.yml", f"stories:\n- story: big\n  steps:\n{steps}")
    blocks, findings = read_blocks(path, root=tmp_path)
    assert len(blocks) == MAX_VARIANTS
    assert len(findings) == 1 and "only the first 256" in findings[0].message


def test_an_or_of_user_texts_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: s
          steps:
          - or:
            - user: hello
            - intent: greet
          - action: utter_greet
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert names(blocks[0]) == ["utter_greet"]
    assert findings[0].level == "warning" and findings[0].source == "data/stories.yml:5"


def test_checkpoints_are_stitched(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: ask
          steps:
          - intent: greet
          - action: utter_ask_mood
          - checkpoint: asked
        - story: happy
          steps:
          - checkpoint: asked
          - intent: mood_great
          - action: utter_happy
        - story: sad
          steps:
          - checkpoint: asked
          - intent: mood_sad
          - action: utter_cheer_up
          - checkpoint: nobody_starts_here
        - story: lonely
          steps:
          - checkpoint: nobody_ends_here
          - intent: x
          - action: utter_x
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert [(b.name, names(b)) for b in blocks] == [
        ("ask > happy", ["greet", "utter_ask_mood", "mood_great", "utter_happy"]),
        ("ask > sad", ["greet", "utter_ask_mood", "mood_sad", "utter_cheer_up"]),
    ]
    assert blocks[0].source == "data/stories.yml:2"
    assert blocks[0].step_sources == ("data/stories.yml:4", "data/stories.yml:5", "data/stories.yml:10",
                                      "data/stories.yml:11")
    assert lines(findings) == [
        "warning data/stories.yml:17: checkpoint 'nobody_starts_here' ends story 'sad', but no story starts at it",
        "warning data/stories.yml:20: story 'lonely' starts at checkpoint 'nobody_ends_here', which no story ends "
        "at, so it is never used",
    ]


def test_checkpoints_across_files_with_conditions_and_a_loop(tmp_path: Path) -> None:
    first = write(tmp_path, "data/a.yml", """
        stories:
        - story: start
          steps:
          - intent: greet
          - slot_was_set:
            - vip: true
          - action: utter_greet
          - checkpoint: menu
          - intent: again
          - action: utter_again
          - checkpoint: menu
        """)
    second = write(tmp_path, "data/b.yml", """
        stories:
        - story: vip menu
          steps:
          - checkpoint: menu
            slot_was_set:
            - vip: true
          - action: utter_vip
        - story: plain menu
          steps:
          - checkpoint: menu
            slot_was_set:
            - vip: false
          - action: utter_plain
        """)
    blocks, findings = read_files([first, second], root=tmp_path)
    # checkpoints are global, as in Rasa: the first part of "start" ends at `menu`, where both its
    # own second part and "vip menu" start ("plain menu" needs vip: false, so it is left out)
    assert [(b.name, names(b)) for b in blocks] == [
        ("start > vip menu", ["greet", "vip=True", "utter_greet", "again", "utter_again", "utter_vip"]),
        ("start > vip menu", ["greet", "vip=True", "utter_greet", "utter_vip"]),
    ]
    assert blocks[0].source == "data/a.yml:2" and blocks[0].step_sources[-1] == "data/b.yml:7"
    assert lines(findings) == ["warning data/a.yml:11: checkpoint 'menu' leads back into story 'start'; each "
                               "stitched story follows the loop once"]
    alone, found = read_blocks(first, root=tmp_path)  # one file: the story continues into itself once
    assert [names(b) for b in alone] == [["greet", "vip=True", "utter_greet", "again", "utter_again"]]
    assert [f.message for f in found] == [findings[0].message]


def test_a_checkpoint_loop_is_followed_once(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: start
          steps:
          - intent: a
          - action: utter_a
          - checkpoint: loop
        - story: round
          steps:
          - checkpoint: loop
          - intent: b
          - action: utter_b
          - checkpoint: loop
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    assert [names(b) for b in blocks] == [["a", "utter_a", "b", "utter_b"]]
    assert len(findings) == 1 and "leads back" in findings[0].message


def test_mistakes_are_findings_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data/stories.yml", """
        stories:
        - story: typo
          steps:
          - intent: greet
            action: utter_greet
          - acton: utter_greet
          - intent: /greet
          - action:
          - slot_was_set: {a: 1}
        - story: no steps
        - story: wrong key
          step:
          - intent: greet
        - rule: misplaced
          steps: []
        rules:
        - rule: two turns
          steps:
          - intent: a
          - action: utter_a
          - intent: b
          - action: utter_b
        - rule: e2e bot
          steps:
          - intent: a
          - bot: hello
          - checkpoint: c
        """)
    blocks, findings = read_blocks(path, root=tmp_path)
    got = lines(findings)
    assert got[:4] == [
        "error data/stories.yml:4: a step is one thing, but this one has 'action' and 'intent' in story 'typo'; "
        "the step is skipped",
        "error data/stories.yml:6: unknown step key 'acton' in story 'typo'; the step is skipped",
        "warning data/stories.yml:7: intent '/greet' starts with '/', which is not needed; read as 'greet'",
        "warning data/stories.yml:8: an action step without a name in story 'typo' is skipped",
    ]
    assert got[4].startswith("error data/stories.yml:9: `slot_was_set` must be a list")
    assert "warning data/stories.yml:10: story 'no steps' has no steps; it is skipped" in got
    assert any(g.startswith("error data/stories.yml:12: `step` is not a key of a story") for g in got)
    assert any(g.startswith("error data/stories.yml:14: `rule` is not a key of a story") for g in got)
    assert ("error data/stories.yml:17: rule 'two turns' has 2 user turns; Rasa's RulePolicy allows one per rule "
            "(restrict_rules): write a story for this") in got
    assert "error data/stories.yml:26: rules cannot have `bot` steps (rule 'e2e bot'); the step is skipped" in got
    assert "error data/stories.yml:27: rules cannot have `checkpoint` steps (rule 'e2e bot'); the step is skipped" in got
    assert [b.name for b in blocks] == ["typo", "two turns", "e2e bot"]
    assert names(blocks[0]) == ["greet"]
    _, relaxed = read_blocks(path, root=tmp_path, restrict_rules=False)
    assert not any("user turns" in f.message for f in relaxed)


def test_invalid_yaml_and_non_mapping_files(tmp_path: Path) -> None:
    broken = write(tmp_path, "data/broken.yml", "stories:\n- story: x\n  steps: [\n")
    blocks, findings = read_blocks(broken, root=tmp_path)
    assert blocks == [] and findings[0].level == "error" and findings[0].source.startswith("data/broken.yml:")
    listed = write(tmp_path, "data/list.yml", "- story: x\n")
    assert lines(read_blocks(listed, root=tmp_path)[1]) == ["error data/list.yml: a story or rule file must be a YAML mapping"]


def test_retrieval_intents_keep_the_base_intent(tmp_path: Path) -> None:
    path = write(tmp_path, "tests/test_faq.yml", """
        stories:
        - story: faq
          steps:
          - intent: faq/opening_hours
            user: when are you open
          - action: utter_faq
        """)
    blocks, findings = read_blocks(path, "test", root=tmp_path)
    assert findings == []
    intent = blocks[0].events[0]["parse_data"]["intent"]
    assert intent["name"] == "faq" and intent["full_retrieval_intent_name"] == "faq/opening_hours"
    _, warned = read_blocks(path, "story", root=tmp_path)
    assert "full retrieval intent" in warned[0].message


# --- the example assistants --------------------------------------------------------------------

def count_items(paths: list[Path], key: str) -> int:
    return sum(len(re.findall(rf"^- {key}:", p.read_text(), re.M)) for p in paths)


def test_financial_demo_test_stories(shared_data: Path) -> None:
    project = shared_data / "rasa-examples" / "financial-demo"
    blocks, findings = read_blocks(project / "tests" / "test_stories.yml", "test", root=project)
    assert findings == []
    assert len(blocks) == 48 == count_items([project / "tests" / "test_stories.yml"], "story")
    assert all(b.kind == "test" for b in blocks)
    balance = next(b for b in blocks if b.name == "Show specific credit card account balance")
    event = balance.events[0]
    assert event["text"] == "What's my emblem card balance"
    assert [(e["entity"], e["value"], event["text"][e["start"]:e["end"]]) for e in event["parse_data"]["entities"]] == [
        ("credit_card", "emblem", "emblem"), ("account_type", "credit", "card"),
        ("amount-of-money", "current balance", "balance")]
    assert balance.source == "tests/test_stories.yml:50"


def test_financial_demo_stories_and_rules(shared_data: Path) -> None:
    project = shared_data / "rasa-examples" / "financial-demo"
    stories = sorted((project / "data" / "stories").glob("*.yml"))
    rules = sorted((project / "data" / "rules").glob("*.yml"))
    blocks, findings = read_files([*stories, *rules], root=project)
    assert findings == []
    assert len({b.source for b in blocks if b.kind == "story"}) == count_items(stories, "story") == 19
    assert len({b.source for b in blocks if b.kind == "rule"}) == count_items(rules, "rule") == 20
    # `or:` steps: 4 + (3+2+2+1+1) * 2 + (2*2 + 2*4) stories; one rule has an `or:` of two intents
    assert sum(b.kind == "story" for b in blocks) == 34
    assert sum(b.kind == "rule" for b in blocks) == 21


def test_formbot_rasa_2_stories_and_rules(shared_data: Path) -> None:
    project = shared_data / "rasa-examples" / "formbot"
    blocks, findings = read_files(sorted((project / "data").glob("*.yml")), root=project)
    assert [b.kind for b in blocks].count("story") == 2 and [b.kind for b in blocks].count("rule") == 6
    assert all(f.level == "warning" and "format version 2.0" in f.message for f in findings)
    submit = next(b for b in blocks if b.name == "submit form")
    assert submit.condition == ({"event": "active_loop", "name": "restaurant_form"},)
    tests, found = read_blocks(project / "tests" / "test_stories.yml", "test", root=project)
    assert len(tests) == 3 and all(f.level == "warning" for f in found)


def test_a_payload_user_text_carries_its_entities(tmp_path: Path) -> None:
    path = write(tmp_path, "tests/test_stories.yml", """
        stories:
        - story: a tapped button
          steps:
          - user: '/inform{"size": "M", "count": 2}'
            intent: inform
          - action: utter_ok
          - user: /inform{not json}
            intent: inform
        """)
    blocks, findings = read_blocks(path, None, root=tmp_path)
    assert findings == []
    entities = [e["parse_data"]["entities"] for e in blocks[0].events if e["event"] == "user"]
    assert entities == [[{"entity": "size", "value": "M", "extractor": "payload"},
                         {"entity": "count", "value": 2, "extractor": "payload"}], []]
