"""validate_project: Rasa's `rasa data validate` checks, each message with file and line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from bot.dialogue.validate import Report, validate_project

DOMAIN = """
    version: "3.1"
    intents:
    - greet
    - order_status
    - faq
    entities:
    - order_number
    slots:
      order_number:
        type: text
        mappings:
        - type: from_entity
          entity: order_number
    forms:
      order_form:
        required_slots:
        - order_number
    actions:
    - action_check_order
    responses:
      utter_greet:
      - text: Hi!
      utter_ask_order_number:
      - text: Which order?
      utter_default:
      - text: Sorry?
    """
NLU = """
    version: "3.1"
    nlu:
    - intent: greet
      examples: |
        - hi
    - intent: order_status
      examples: |
        - where is [NW-1](order_number)
    - intent: faq/opening_hours
      examples: |
        - when are you open
    - synonym: NW-1
      examples: |
        - nw1
    - regex: order_number
      examples: |
        - NW-\\d+
    - lookup: city
      examples: |
        - Berlin
    """
RULES = """
    version: "3.1"
    rules:
    - rule: greet
      steps:
      - intent: greet
      - action: utter_greet
    - rule: faq
      steps:
      - intent: faq
      - action: utter_faq
    - rule: start the order form
      steps:
      - intent: order_status
      - action: order_form
      - active_loop: order_form
    - rule: submit the order form
      condition:
      - active_loop: order_form
      steps:
      - action: order_form
      - active_loop: null
      - slot_was_set:
        - requested_slot: null
      - action: action_check_order
    """
STORIES = """
    version: "3.1"
    stories:
    - story: check an order
      steps:
      - intent: greet
      - action: utter_greet
      - intent: order_status
        entities:
        - order_number: NW-1
      - slot_was_set:
        - order_number: NW-1
      - action: action_check_order
    """
RESPONSES = """
    responses:
      utter_faq/opening_hours:
      - text: Nine to five.
    """
TESTS = """
    stories:
    - story: greet
      steps:
      - user: hello
        intent: greet
      - action: utter_greet
    """


def project(root: Path, **overrides: str) -> Path:
    files = {"domain.yml": DOMAIN, "data/nlu.yml": NLU, "data/rules.yml": RULES, "data/stories.yml": STORIES,
             "data/responses.yml": RESPONSES, "tests/test_stories.yml": TESTS,
             "config.yml": "language: en\npipeline: []\npolicies:\n- name: RulePolicy\n- name: MemoizationPolicy\n",
             "data/support_logs.jsonl": "{}\n", "data/sentiment.csv": "text,label\n"}
    files.update({k.replace("__", "/").replace("_yml", ".yml"): v for k, v in overrides.items()})
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def append(root: Path, name: str, text: str) -> None:
    path = root / name
    path.write_text(path.read_text() + textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def test_a_clean_project(tmp_path: Path) -> None:
    report = validate_project(project(tmp_path))
    assert report.lines() == []
    assert report.ok
    assert (report.stories, report.rules, report.test_stories) == (1, 4, 1)
    assert (report.story_blocks, report.rule_blocks, report.test_blocks) == (1, 4, 1)
    assert (report.domain_files, report.data_files, report.other_files) == (1, 4, 2)
    assert report.config is not None and report.config.rule_policy is not None


def test_an_undefined_action_names_the_rule_and_line(tmp_path: Path) -> None:
    root = project(tmp_path)
    append(root, "data/rules.yml", """
        - rule: x
          steps:
          - intent: goodbye
          - action: action_y
        """)
    report = validate_project(root)
    assert not report.ok
    assert report.lines() == [
        "error data/rules.yml:27: rule 'x' uses intent 'goodbye', which the domain does not list",
        "error data/rules.yml:28: rule 'x' names action 'action_y', which the domain does not define",
    ]


def test_undefined_names_in_stories_rules_and_tests(tmp_path: Path) -> None:
    root = project(tmp_path)
    append(root, "data/stories.yml", """
        - story: broken
          steps:
          - intent: hello
          - action: utter_missing
          - active_loop: payment_form
          - slot_was_set:
            - colour: red
          - action: payment_form
        """)
    append(root, "tests/test_stories.yml", """
        - story: test broken
          steps:
          - user: hi
            intent: greet
          - action: action_nope
        """)
    errors = [f.line() for f in validate_project(root).errors]
    assert errors == [
        "error data/stories.yml:15: story 'broken' uses intent 'hello', which the domain does not list",
        "error data/stories.yml:16: story 'broken' names response 'utter_missing', which has no response in the domain",
        "error data/stories.yml:17: story 'broken' uses form 'payment_form', which the domain does not define",
        "error data/stories.yml:19: story 'broken' sets slot 'colour', which the domain does not define",
        "error data/stories.yml:20: story 'broken' names action 'payment_form', which the domain does not define",
        "error tests/test_stories.yml:11: test story 'test broken' names action 'action_nope', which the domain "
        "does not define",
    ]


def test_unused_and_unlisted_names_are_warnings(tmp_path: Path) -> None:
    domain = textwrap.dedent(DOMAIN).replace("- faq\n", "- faq\n- goodbye\n").replace(
        "- action_check_order\n", "- action_check_order\n- utter_listed_only\n") + "  utter_never:\n  - text: unused\n"
    nlu = textwrap.dedent(NLU) + "- intent: thanks\n  examples: |\n    - thanks\n"
    report = validate_project(project(tmp_path, domain_yml=domain, data__nlu_yml=nlu))
    assert report.ok
    assert report.lines() == [
        "warning domain.yml:6: intent 'goodbye' is not used in any story or rule",
        "warning domain.yml:6: intent 'goodbye' is listed in the domain, but no NLU data has examples of it",
        "warning data/nlu.yml:21: the NLU data has examples of intent 'thanks', which the domain does not list",
        "warning domain.yml:21: 'utter_listed_only' is listed under actions, but the domain has no response of "
        "that name",
        "warning domain.yml:29: response 'utter_never' is not used in any story or rule",
    ]


def test_duplicate_names_and_rules_without_rule_policy(tmp_path: Path) -> None:
    root = project(tmp_path, config_yml="language: en\npolicies:\n- name: MemoizationPolicy\n")
    append(root, "data/stories.yml", """
        - story: check an order
          steps:
          - intent: greet
          - action: utter_greet
        """)
    lines = validate_project(root).lines()
    assert "warning data/stories.yml:13: story 'check an order' has the same name as the story at data/stories.yml:3" in lines
    assert "warning config.yml: the project has rules, but config.yml has no RulePolicy, which is what follows them" in lines


def test_contradicting_rules_name_both(tmp_path: Path) -> None:
    root = project(tmp_path)
    append(root, "data/rules.yml", """
        - rule: greet differently
          steps:
          - intent: greet
          - action: utter_default
        - rule: greet and go on
          steps:
          - intent: greet
          - action: utter_greet
          - action: action_check_order
        - rule: greet inside the form
          condition:
          - active_loop: order_form
          steps:
          - intent: greet
          - action: utter_default
        """)
    errors = [f.line() for f in validate_project(root).errors]
    assert errors == [
        "error data/rules.yml:28: rule 'greet differently' contradicts rule 'greet' (data/rules.yml:3): after the "
        "same steps one predicts 'utter_greet', the other 'utter_default'",
        "error data/rules.yml:33: rule 'greet and go on' contradicts rule 'greet' (data/rules.yml:3): after the "
        "same steps one predicts 'action_listen', the other 'action_check_order'",
    ]  # the rule with a condition is not a contradiction: its condition tells it apart


def test_rule_restriction_follows_the_config(tmp_path: Path) -> None:
    two_turns = """
        - rule: two turns
          steps:
          - intent: greet
          - action: utter_greet
          - intent: order_status
          - action: action_check_order
        """
    root = project(tmp_path / "strict")
    append(root, "data/rules.yml", two_turns)
    assert [f.source for f in validate_project(root).errors] == ["data/rules.yml:25"]
    relaxed = project(tmp_path / "relaxed", config_yml="language: en\npolicies:\n- name: RulePolicy\n  restrict_rules: false\n")
    append(relaxed, "data/rules.yml", two_turns)
    assert validate_project(relaxed).ok


def test_a_domain_directory_and_broken_files(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "domain.yml").rename(root / "intents.yml")
    (root / "domain").mkdir()
    text = (root / "intents.yml").read_text()
    head, _, rest = text.partition("entities:")
    (root / "domain" / "intents.yml").write_text(head)
    (root / "domain" / "rest.yml").write_text("entities:" + rest)
    (root / "intents.yml").unlink()
    (root / "data" / "broken.yml").write_text("rules:\n- rule: x\n  steps: [\n")
    report = validate_project(root)
    assert report.domain_files == 2
    assert [f.line()[:27] for f in report.findings] == ["error data/broken.yml:4: no"]


def test_the_fallback_action_must_exist(tmp_path: Path) -> None:
    config = "language: en\npolicies:\n- name: RulePolicy\n  core_fallback_action_name: action_my_fallback\n"
    report = validate_project(project(tmp_path, config_yml=config))
    assert report.lines() == ["error config.yml:3: RulePolicy's core_fallback_action_name 'action_my_fallback' is "
                              "not an action of the domain"]


def test_no_domain(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    report = validate_project(tmp_path)
    assert report.lines() == ["error domain.yml: the project has no domain.yml (or domain/ folder)"]
    assert (report.stories, report.rules, report.domain_files, report.data_files) == (0, 0, 0, 0)


# --- the example assistants --------------------------------------------------------------------

def count_items(paths: list[Path], key: str) -> int:
    return sum(len(re.findall(rf"^ *- {key}:", p.read_text(), re.M)) for p in paths)


def check_counts(report: Report, root: Path) -> None:
    data = sorted((root / "data").rglob("*.yml"))
    assert report.stories == count_items(data, "story")
    assert report.rules == count_items(data, "rule")
    assert report.test_stories == count_items(sorted((root / "tests").glob("test_*.yml")), "story")


def test_rasa_init_project(shared_data: Path) -> None:
    root = shared_data / "rasa-examples" / "rasa-init-3.6.21"
    report = validate_project(root)
    assert report.ok, report.lines()
    check_counts(report, root)
    assert (report.stories, report.rules, report.test_stories) == (3, 2, 7)
    assert (report.story_blocks, report.rule_blocks, report.test_blocks) == (3, 2, 7)
    assert report.config is not None and report.config.autoconfigured == ("pipeline", "policies")


def test_financial_demo(shared_data: Path) -> None:
    root = shared_data / "rasa-examples" / "financial-demo"
    report = validate_project(root)
    assert report.ok, report.lines()
    check_counts(report, root)
    assert (report.stories, report.rules, report.test_stories) == (19, 20, 48)
    assert (report.story_blocks, report.rule_blocks, report.test_blocks) == (34, 21, 48)
    assert (report.domain_files, report.data_files) == (1, 7)
    # unused names, each with its line; and config.yml's components Switchboard does not support yet
    assert all(f.source.startswith(("domain.yml:", "config.yml:")) for f in report.warnings)


def test_formbot_rasa_2_project(shared_data: Path) -> None:
    root = shared_data / "rasa-examples" / "formbot"
    report = validate_project(root)
    check_counts(report, root)
    assert (report.stories, report.rules, report.test_stories) == (2, 6, 3)
    lines = report.lines()
    assert any("format version 2.0" in line for line in lines)
    assert any("`auto_fill`" in line for line in lines)
    assert any("form 'restaurant_form' maps its slots under `required_slots` (Rasa 2)" in line for line in lines)
    assert all(re.match(r"^(error|warning) [\w./-]+(:\d+)?: ", line) for line in lines)


def test_rules_opening_with_different_actions_do_not_contradict(tmp_path: Path) -> None:
    """A rule's opening action is what must have happened, not a prediction (as the rule lookup reads it)."""
    root = project(tmp_path)
    append(root, "data/rules.yml", """
        - rule: yes after the greeting
          steps:
          - action: utter_greet
          - intent: greet
          - action: utter_default
        - rule: yes after the order check
          steps:
          - action: action_check_order
          - intent: greet
          - action: utter_greet
        """)
    assert [f.line() for f in validate_project(root).errors] == []
