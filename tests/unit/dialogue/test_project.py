"""The project loaders: YAML with lines, domain discovery and merging, data files, config.yml."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.dialogue.project import (
    data_files, find_domain, load_domain, load_domain_dict, read_config, conversation_tests,
)
from bot.dialogue.yaml_lines import YamlFileError, loads
from bot.errors import ConfigError


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


# --- yaml_lines -------------------------------------------------------------------------------

def test_lines_of_mappings_items_and_keys() -> None:
    doc = loads(textwrap.dedent("""\
        version: "3.1"
        rules:
        - rule: greet
          steps:
          - intent: greet
          - action: utter_greet
        intents:
          - greet
          - bye
        """), "data/rules.yml")
    rules = doc.data["rules"]
    assert doc.key_line(doc.data, "rules") == 2
    assert doc.line(rules[0]) == 3
    steps = rules[0]["steps"]
    assert [doc.item_line(steps, i) for i in range(2)] == [5, 6]
    assert doc.at(steps[1]) == "data/rules.yml:6"
    assert doc.item_line(doc.data["intents"], 1) == 9  # scalar items have lines too
    assert doc.where() == "data/rules.yml"
    assert type(doc.data) is dict and type(rules) is list  # plain containers


def test_values_are_read_as_yaml_1_2_like_rasa() -> None:
    doc = loads("a: yes\nb: no\nc: on\nd: true\ne: 012\nf: 0x1F\ng: 1.5\nh: ~\ni: 2021-01-01\nj: False\n", "x.yml")
    assert doc.data == {"a": "yes", "b": "no", "c": "on", "d": True, "e": 12, "f": 31, "g": 1.5, "h": None,
                        "i": "2021-01-01", "j": False}


def test_a_repeated_key_is_an_error_with_its_line() -> None:
    with pytest.raises(YamlFileError) as info:
        loads("intents:\n- greet\nslots: {}\nintents:\n- bye\n", "domain.yml")
    assert info.value.source == "domain.yml:4"
    assert "repeated" in str(info.value) and "line 1" in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(YamlFileError) as info:
        loads("a: 1\nb: [1, 2\nc: 3\n", "data/nlu.yml")
    assert info.value.source.startswith("data/nlu.yml:")
    assert "not valid YAML" in info.value.problem


# --- the domain -------------------------------------------------------------------------------

def test_find_domain_file_or_directory(tmp_path: Path) -> None:
    assert find_domain(tmp_path) == []
    write(tmp_path, {"domain/b.yml": "intents: [b]\n", "domain/sub/a.yaml": "intents: [a]\n",
                     "domain/notes.txt": "x\n", "domain/a.yml": "intents: [a]\n"})
    found = [p.relative_to(tmp_path).as_posix() for p in find_domain(tmp_path)]
    assert found == ["domain/a.yml", "domain/b.yml", "domain/sub/a.yaml"]
    write(tmp_path, {"domain.yml": "intents: [x]\n"})
    assert find_domain(tmp_path) == [tmp_path / "domain.yml"]


def test_domain_directory_merges_like_rasa(tmp_path: Path) -> None:
    write(tmp_path, {
        "domain/a.yml": """
            version: "3.1"
            intents:
            - greet
            - check_balance:
                use_entities: [account]
            entities: [account]
            slots:
              account:
                type: text
                mappings: [{type: from_entity, entity: account}]
            responses:
              utter_greet:
              - text: Hi
            session_config:
              session_expiration_time: 5
            """,
        "domain/b.yml": """
            intents:
            - greet
            - bye
            actions: [action_balance]
            slots:
              account:
                type: categorical
            responses:
              utter_bye:
              - text: Bye
            forms:
              balance_form:
                required_slots: [account]
            session_config:
              session_expiration_time: 30
            """,
    })
    merged = load_domain(find_domain(tmp_path), root=tmp_path)
    data = merged.data
    assert data["intents"] == ["greet", {"check_balance": {"use_entities": ["account"]}}, "bye"]
    assert data["actions"] == ["action_balance"]
    assert data["slots"]["account"]["type"] == "text"  # the first file's definition wins
    assert set(data["responses"]) == {"utter_greet", "utter_bye"}
    assert set(data["forms"]) == {"balance_form"}
    assert data["session_config"] == {"session_expiration_time": 5}
    assert merged.sources[("intents", "bye")] == "domain/b.yml:3"
    assert merged.sources[("slots", "account")] == "domain/a.yml:8"
    messages = {f.source: f.message for f in merged.findings}
    assert all(f.level == "warning" for f in merged.findings)
    assert "domain/a.yml:3" in messages["domain/b.yml:2"]  # the repeated intent names both places
    assert "slot 'account'" in messages["domain/b.yml:6"] and "domain/a.yml:8" in messages["domain/b.yml:6"]
    assert "session_config" in messages["domain/b.yml:14"]


def test_responses_in_data_files_join_the_domain_and_win(tmp_path: Path) -> None:
    write(tmp_path, {
        "domain.yml": "responses:\n  utter_greet:\n  - text: Hi\n  utter_faq/hours:\n  - text: Old\n",
        "data/faq.yml": "responses:\n  utter_faq/hours:\n  - text: Nine to five\n",
    })
    files = data_files(tmp_path)
    merged = load_domain(find_domain(tmp_path), root=tmp_path, data_responses=files.responses)
    assert merged.data["responses"]["utter_faq/hours"] == [{"text": "Nine to five"}]
    assert merged.sources[("responses", "utter_faq/hours")] == "data/faq.yml:2"
    [finding] = merged.findings
    assert finding.source == "data/faq.yml:2" and "domain.yml:4" in finding.message


def test_load_domain_dict_raises_at_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "intents:\n- greet\n- greet\n"})
    with pytest.raises(ConfigError, match=r"domain.yml:3: intent 'greet' is listed twice"):
        load_domain_dict(find_domain(tmp_path), root=tmp_path)
    write(tmp_path, {"domain.yml": "intents: [greet]\nslots: {}\n"})
    assert load_domain_dict(find_domain(tmp_path), root=tmp_path)["intents"] == ["greet"]


def test_domain_files_with_unknown_keys_or_none_of_the_keys(tmp_path: Path) -> None:
    write(tmp_path, {"domain/a.yml": "intents: [a]\ntemplates: {}\n", "domain/b.yml": "hello: 1\n"})
    merged = load_domain(find_domain(tmp_path), root=tmp_path)
    lines = [f.line() for f in merged.findings]
    assert "warning domain/a.yml:2: `templates` is not a domain key; it is ignored" in lines
    assert any(line.startswith("warning domain/b.yml: the file has none of the domain keys") for line in lines)


def test_a_newer_format_version_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "version: \"4.0\"\nintents: [greet]\n"})
    merged = load_domain(find_domain(tmp_path), root=tmp_path)
    assert merged.data["intents"] == []
    assert merged.findings[0].source == "domain.yml:1" and "skipped" in merged.findings[0].message


# --- data files -------------------------------------------------------------------------------

def test_data_files_are_classified_by_their_keys(tmp_path: Path) -> None:
    write(tmp_path, {
        "data/nlu.yml": "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n",
        "data/core/flows.yml": "stories: []\nrules: []\nresponses:\n  utter_x:\n  - text: x\n",
        "data/odd.yaml": "nlu: []\nintents: [greet]\n",
        "data/logs/support.jsonl": "{}\n",
        "data/sentiment.csv": "text,label\n",
        "data/readme.md": "# notes\n",
        "data/notes.txt": "x\n",
    })
    files = data_files(tmp_path)
    assert [(f.label, sorted(f.sections)) for f in files.files] == [
        ("data/core/flows.yml", ["responses", "rules", "stories"]),
        ("data/nlu.yml", ["nlu"]),
        ("data/odd.yaml", ["nlu"]),
    ]
    assert [p.name for p in files.other] == ["support.jsonl", "notes.txt", "readme.md", "sentiment.csv"]
    assert files.nlu == (tmp_path / "data/nlu.yml", tmp_path / "data/odd.yaml")
    assert files.rules == files.stories == files.responses == (tmp_path / "data/core/flows.yml",)
    [finding] = files.findings  # only the unknown key; never the CSV or JSONL files
    assert finding.line() == "warning data/odd.yaml:2: top-level key `intents` is none of nlu, rules, stories, responses; it is ignored"


def test_a_broken_data_file_is_an_error_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, {"data/nlu.yml": "nlu:\n- intent: greet\n  examples: [hi\n"})
    files = data_files(tmp_path)
    assert files.files[0].sections == frozenset()
    assert files.findings[0].level == "error" and files.findings[0].source.startswith("data/nlu.yml:")


def test_conversation_tests_are_rasas_test_stories(tmp_path: Path) -> None:
    write(tmp_path, {
        "tests/test_stories.yml": "stories:\n- story: a\n  steps:\n  - intent: greet\n",
        "tests/test_helpers.yml": "endpoints: {}\n",
        "tests/conversations.yml": "stories: []\n",
        "tests/test_actions.py": "def test(): pass\n",
    })
    tests = conversation_tests(tmp_path)
    assert [f.label for f in tests.files] == ["tests/test_stories.yml"]
    assert {p.name for p in tests.other} == {"test_helpers.yml", "conversations.yml", "test_actions.py"}
    assert tests.findings == ()


# --- config.yml -------------------------------------------------------------------------------

RASA_36_COMPONENTS = [
    "DIETClassifier", "FallbackClassifier", "KeywordIntentClassifier", "MitieIntentClassifier",
    "SklearnIntentClassifier", "LogisticRegressionClassifier", "ResponseSelector", "CRFEntityExtractor",
    "DucklingEntityExtractor", "EntitySynonymMapper", "MitieEntityExtractor", "SpacyEntityExtractor",
    "RegexEntityExtractor", "LexicalSyntacticFeaturizer", "ConveRTFeaturizer", "MitieFeaturizer",
    "SpacyFeaturizer", "CountVectorsFeaturizer", "LanguageModelFeaturizer", "RegexFeaturizer", "JiebaTokenizer",
    "MitieTokenizer", "SpacyTokenizer", "WhitespaceTokenizer", "MitieNLP", "SpacyNLP",
]
RASA_36_POLICIES = ["TEDPolicy", "UnexpecTEDIntentPolicy", "RulePolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy"]


def test_a_missing_config_is_rasas_default(tmp_path: Path) -> None:
    config = read_config(tmp_path)
    assert config.autoconfigured == ("pipeline", "policies")
    assert config.findings == ()
    assert [c.name for c in config.policies] == ["MemoizationPolicy", "RulePolicy", "UnexpecTEDIntentPolicy", "TEDPolicy"]
    assert config.fallback_threshold == 0.3 and config.ambiguity_threshold == 0.1
    assert config.rule_policy is not None and config.rule_policy.core_fallback_threshold == 0.3
    assert config.memoization is not None and config.memoization.max_history is None
    assert config.ted is not None and (config.ted.max_history, config.ted.epochs) == (5, 100)


def test_config_records_components_settings_and_support(tmp_path: Path) -> None:
    write(tmp_path, {"config.yml": """
        language: de
        pipeline:
        - name: WhitespaceTokenizer
        - name: DucklingEntityExtractor
          url: http://localhost:8000
          dimensions: [time]
        - name: my_module.MyComponent
        - name: FallbackClassifier
          threshold: 0.7
        - name: rasa.nlu.extractors.regex_entity_extractor.RegexEntityExtractor
        policies:
        - name: AugmentedMemoizationPolicy
          max_history: 4
        - name: TEDPolicy
        - name: RulePolicy
          core_fallback_threshold: 0.4
          restrict_rules: false
        """})
    config = read_config(tmp_path)
    assert config.language == "de" and config.autoconfigured == ()
    duckling = config.component("DucklingEntityExtractor")
    assert duckling is not None and duckling.source == "config.yml:4"
    assert duckling.settings == {"url": "http://localhost:8000", "dimensions": ["time"]}
    assert duckling.support.status == "used" and "in process" in duckling.support.note
    tokenizer = config.component("WhitespaceTokenizer")
    assert tokenizer is not None and tokenizer.support.status == "replaced"
    assert "fine-tuned transformer" in tokenizer.support.note
    fallback = config.component("FallbackClassifier")
    assert fallback is not None and fallback.support.status == "used" and "nlu.threshold" in fallback.support.note
    assert config.pipeline[-1].support.status == "used"  # a rasa.* class path is the built-in
    assert config.fallback_threshold == 0.7 and config.ambiguity_threshold == 0.1
    assert config.memoization is not None and config.memoization.augmented and config.memoization.max_history == 4
    assert config.ted is not None and (config.ted.max_history, config.ted.epochs) == (None, 1)
    ted = config.component("TEDPolicy")
    assert ted is not None and ted.support.status == "replaced" and "learned policy" in ted.support.note
    rule = config.rule_policy
    assert rule is not None and rule.core_fallback_threshold == 0.4 and rule.restrict_rules is False
    assert rule.core_fallback_action_name == "action_default_fallback" and rule.enable_fallback_prediction
    assert rule.check_for_contradictions
    [finding] = [f for f in config.findings if "unknown to Switchboard" in f.message]
    assert finding.level == "warning" and finding.source == "config.yml:7" and "my_module.MyComponent" in finding.message
    assert all(f.level == "warning" and "not supported" in f.message for f in config.findings if f is not finding)


def test_config_without_fallback_or_rule_policy(tmp_path: Path) -> None:
    write(tmp_path, {"config.yml": "language: en\npipeline: []\npolicies:\n- name: MemoizationPolicy\n"})
    config = read_config(tmp_path)
    assert config.pipeline == () and config.autoconfigured == ()
    assert config.fallback_threshold is None and config.ambiguity_threshold is None
    assert config.rule_policy is None and config.ted is None


def test_config_mistakes_are_findings(tmp_path: Path) -> None:
    write(tmp_path, {"config.yml": """
        pipeline:
        - WhitespaceTokenizer
        - name: FallbackClassifier
          threshold: high
        policies:
        - name: MappingPolicy
        """})
    lines = [f.line() for f in read_config(tmp_path).findings]
    assert "warning config.yml: config.yml sets no `language:`, which Rasa requires" in lines
    assert any(line.startswith("error config.yml:2: each `pipeline` entry needs `name:`") for line in lines)
    assert any(line.startswith("error config.yml:3: FallbackClassifier's `threshold` must be a number") for line in lines)
    assert any(line.startswith("warning config.yml:6: policy 'MappingPolicy' is unknown") and "Rasa 3.0 removed" in line
               for line in lines)


def test_every_rasa_36_component_and_policy_is_known(tmp_path: Path) -> None:
    pipeline = "".join(f"- name: {name}\n" for name in RASA_36_COMPONENTS)
    policies = "".join(f"- name: {name}\n" for name in RASA_36_POLICIES)
    write(tmp_path, {"config.yml": f"language: en\npipeline:\n{pipeline}policies:\n{policies}"})
    config = read_config(tmp_path)
    missing = {c.name for c in (*config.pipeline, *config.policies) if c.support.status == "missing"}
    assert missing == {"UnexpecTEDIntentPolicy"}
    assert sorted(f.message.split("'")[1] for f in config.findings) == sorted(missing)  # each named, as not supported
    assert all(c.support.status in ("used", "replaced", "missing") for c in (*config.pipeline, *config.policies))
    used = {c.name for c in (*config.pipeline, *config.policies) if c.support.status == "used"}
    assert used == {"RegexEntityExtractor", "EntitySynonymMapper", "RegexFeaturizer", "FallbackClassifier",
                    "DucklingEntityExtractor", "MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy"}


# --- the example assistants --------------------------------------------------------------------

def test_example_configs(shared_data: Path) -> None:
    examples = shared_data / "rasa-examples"
    init = read_config(examples / "rasa-init-3.6.21")
    assert init.autoconfigured == ("pipeline", "policies") and init.findings == ()
    demo = read_config(examples / "financial-demo")
    assert demo.findings == ()  # every component it names is used or replaced
    assert demo.fallback_threshold == 0.7
    assert demo.rule_policy is not None and demo.rule_policy.core_fallback_threshold == 0.4
    assert demo.ted is not None and demo.ted.epochs == 40
    files = data_files(examples / "financial-demo")
    assert len(files.stories) == 4 and len(files.rules) == 2 and len(files.nlu) == 1 and files.findings == ()
