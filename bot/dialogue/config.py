"""A Rasa 3 `config.yml` as Switchboard reads it: the language, the pipeline components and the
policies with their settings, what Switchboard does with each one, and the settings Switchboard
honours (FallbackClassifier's thresholds, RulePolicy's, the memoization and TED histories).

As Rasa's DefaultV1Recipe.auto_configure does, a `pipeline:` or `policies:` key that is missing
or empty (null) is filled with Rasa 3.6's default (rasa/engine/recipes/config_files/
default_config.yml), and `autoconfigured` names it; an empty list `[]` is kept as written.
Defaults of the settings are Rasa 3.6's own get_default_config() values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.dialogue.yaml_lines import Finding, LinedYaml, read_yaml

Status = Literal["used", "replaced", "missing", "unknown"]
_MODEL = ("Switchboard's fine-tuned transformer (intent, out of scope, sentiment and the annotated entities in "
          "one pass) takes this component's place")
_HONOURED = "Switchboard honours it"

@dataclass(frozen=True)
class Support:
    """What Switchboard does with a component or policy."""

    status: Status
    note: str

    def __str__(self) -> str:
        return f"{self.status}: {self.note}"


# Every component and policy Rasa Open Source 3.6 ships (rasa/engine/recipes/default_components.py).
KNOWN: dict[str, Support] = {
    **{name: Support("replaced", _MODEL) for name in (
        # tokenizers, featurizers, language models
        "WhitespaceTokenizer", "JiebaTokenizer", "MitieTokenizer", "SpacyTokenizer",
        "LexicalSyntacticFeaturizer", "ConveRTFeaturizer", "MitieFeaturizer", "SpacyFeaturizer",
        "CountVectorsFeaturizer", "LanguageModelFeaturizer", "MitieNLP", "SpacyNLP",
        # classifiers, response selection, learned entity extractors
        "DIETClassifier", "KeywordIntentClassifier", "MitieIntentClassifier", "SklearnIntentClassifier",
        "LogisticRegressionClassifier", "ResponseSelector",
        "CRFEntityExtractor", "MitieEntityExtractor", "SpacyEntityExtractor",
    )},
    "FallbackClassifier": Support(
        "used", "its threshold and ambiguity_threshold apply (nlu.threshold in switchboard.yml wins over its "
                "threshold; a threshold looser than the calibrated one is warned about); without one the "
                "calibrated threshold applies"),
    "DucklingEntityExtractor": Support(
        "used", "its url, dimensions, locale, timezone and timeout apply; when the url does not answer (or "
                "there is none) Duckling runs in process"),
    "RegexEntityExtractor": Support("used", _HONOURED),
    "EntitySynonymMapper": Support("used", _HONOURED),
    "RegexFeaturizer": Support("used", _HONOURED),
    "TEDPolicy": Support("replaced", "Switchboard's learned policy (an MLP over the last max_history states, "
                                     "trained by `switchboard train`) takes its place; of its settings only "
                                     "max_history is read"),
    "UnexpecTEDIntentPolicy": Support("missing", "not available yet: action_unlikely_intent is never predicted"),
    "MemoizationPolicy": Support("used", _HONOURED),
    "AugmentedMemoizationPolicy": Support("used", _HONOURED),
    "RulePolicy": Support("used", _HONOURED),
}
POLICIES = frozenset({"TEDPolicy", "UnexpecTEDIntentPolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy",
                      "RulePolicy"})
# Rasa 2 names Rasa 3.0 removed: Rasa 3 refuses them, Switchboard ignores them with a warning.
REMOVED = {
    "MappingPolicy": "use rules (RulePolicy)", "FormPolicy": "forms run under RulePolicy",
    "FallbackPolicy": "use RulePolicy's core_fallback_threshold and FallbackClassifier",
    "TwoStageFallbackPolicy": "use rules with action_two_stage_fallback", "SklearnPolicy": "", "KerasPolicy": "",
    "EmbeddingPolicy": "", "EmbeddingIntentClassifier": "", "ConveRTTokenizer": "", "LanguageModelTokenizer": "",
    "HFTransformersNLP": "",
}

DEFAULT_PIPELINE: tuple[dict[str, Any], ...] = (
    {"name": "WhitespaceTokenizer"}, {"name": "RegexFeaturizer"}, {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True}, {"name": "EntitySynonymMapper"},
    {"name": "ResponseSelector", "epochs": 100, "constrain_similarities": True},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
)
DEFAULT_POLICIES: tuple[dict[str, Any], ...] = (
    {"name": "MemoizationPolicy"}, {"name": "RulePolicy"},
    {"name": "UnexpecTEDIntentPolicy", "max_history": 5, "epochs": 100},
    {"name": "TEDPolicy", "max_history": 5, "epochs": 100, "constrain_similarities": True},
)


@dataclass(frozen=True)
class Component:
    """One pipeline component or policy as written (or as Rasa's default config gives it)."""

    name: str
    settings: dict[str, Any]  # everything but `name`
    support: Support
    source: str  # "config.yml:14"


@dataclass(frozen=True)
class RulePolicySettings:
    core_fallback_threshold: float = 0.3
    core_fallback_action_name: str = "action_default_fallback"
    enable_fallback_prediction: bool = True
    restrict_rules: bool = True
    check_for_contradictions: bool = True


@dataclass(frozen=True)
class MemoizationSettings:
    augmented: bool  # AugmentedMemoizationPolicy
    max_history: int | None = None  # Rasa's default: the whole history


@dataclass(frozen=True)
class TEDSettings:
    max_history: int | None = None  # Rasa's default: the whole history
    epochs: int = 1


@dataclass(frozen=True)
class ProjectConfig:
    source: str  # "config.yml"
    language: str | None = None
    recipe: str | None = None
    assistant_id: str | None = None
    pipeline: tuple[Component, ...] = ()
    policies: tuple[Component, ...] = ()
    autoconfigured: tuple[str, ...] = ()  # "pipeline" / "policies" filled with Rasa's defaults
    # FallbackClassifier's, None without one (Rasa's 0.3 / 0.1 when it is there without them)
    fallback_threshold: float | None = None
    ambiguity_threshold: float | None = None
    rule_policy: RulePolicySettings | None = None  # None: no RulePolicy, rules are not used
    memoization: MemoizationSettings | None = None
    ted: TEDSettings | None = None
    findings: tuple[Finding, ...] = field(default=(), compare=False)

    def component(self, name: str) -> Component | None:
        """The first pipeline component or policy called `name`."""
        return next((c for c in (*self.pipeline, *self.policies) if c.name == name), None)


def support_for(name: str) -> Support:
    """What Switchboard does with a component or policy of this name (or class path)."""
    short = name.rsplit(".", 1)[-1] if name.startswith("rasa.") else name
    if short in KNOWN:
        return KNOWN[short]
    if short in REMOVED:
        hint = f": {REMOVED[short]}" if REMOVED[short] else ""
        return Support("unknown", f"a Rasa 2 name that Rasa 3.0 removed{hint}; Switchboard ignores it")
    return Support("unknown", "not a Rasa 3 built-in; Switchboard does not run custom components, it ignores it")


def _components(doc: LinedYaml | None, raw: Any, key: str, findings: list[Finding], label: str) -> list[Component]:
    if not isinstance(raw, list):
        where = doc.where(doc.key_line(doc.data, key)) if doc else label
        findings.append(Finding("error", where, f"`{key}` must be a list of `- name: ...` entries"))
        return []
    out = []
    for index, item in enumerate(raw):
        where = doc.where(doc.item_line(raw, index)) if doc else label
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            findings.append(Finding("error", where, f"each `{key}` entry needs `name:` (got {item!r})"))
            continue
        name = item["name"].strip()
        support = support_for(name)
        if support.status == "unknown" or (support.status == "missing" and doc is not None):  # not Rasa's defaults
            what = "unknown to Switchboard" if support.status == "unknown" else "not supported"
            findings.append(Finding("warning", where, f"{'policy' if key == 'policies' else 'component'} '{name}' is "
                                    f"{what}: {support.note}"))
        elif key == "pipeline" and name.rsplit(".", 1)[-1] in POLICIES:
            findings.append(Finding("warning", where, f"'{name}' is a policy; it belongs under `policies:`"))
        out.append(Component(name, {k: v for k, v in item.items() if k != "name"}, support, where))
    return out


def _number(c: Component, key: str, default: Any, findings: list[Finding], whole: bool = False) -> Any:
    value = c.settings.get(key, default)
    if value is None and default is None:
        return None
    bad = isinstance(value, bool) or not isinstance(value, int if whole else (int, float))
    if bad:
        findings.append(Finding("error", c.source, f"{c.name}'s `{key}` must be a {'whole ' if whole else ''}number, "
                                f"not {value!r}; Rasa's default {default!r} is used"))
        return default
    return value


def _flag(c: Component, key: str, default: bool, findings: list[Finding]) -> bool:
    value = c.settings.get(key, default)
    if not isinstance(value, bool):
        findings.append(Finding("error", c.source, f"{c.name}'s `{key}` must be true or false, not {value!r}"))
        return default
    return value


def read_config(project: Path) -> ProjectConfig:
    """`config.yml` of the project; a missing file is an empty config (Rasa's defaults)."""
    path = project / "config.yml"
    label = "config.yml"
    findings: list[Finding] = []
    doc = read_yaml(path, project, findings) if path.is_file() else None
    data = doc.data if doc is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        findings.append(Finding("error", label, "config.yml must be a YAML mapping (language:, pipeline:, policies:)"))
        data = {}
    if doc is not None and isinstance(doc.data, dict) and not data.get("language"):
        findings.append(Finding("warning", label, "config.yml sets no `language:`, which Rasa requires"))
    auto: list[str] = []
    parts: dict[str, list[Component]] = {}
    for key, default in (("pipeline", DEFAULT_PIPELINE), ("policies", DEFAULT_POLICIES)):
        if data.get(key) is None:
            auto.append(key)
            parts[key] = _components(None, [dict(d) for d in default], key, findings, label)
        else:
            parts[key] = _components(doc, data[key], key, findings, label)
    everything = [*parts["pipeline"], *parts["policies"]]

    def first(*names: str) -> Component | None:
        return next((c for c in everything if c.name.rsplit(".", 1)[-1] in names), None)

    fallback, rule, memo, ted = first("FallbackClassifier"), first("RulePolicy"), \
        first("MemoizationPolicy", "AugmentedMemoizationPolicy"), first("TEDPolicy")
    rule_settings = None
    if rule is not None:
        action = rule.settings.get("core_fallback_action_name", "action_default_fallback")
        if not isinstance(action, str) or not action:
            findings.append(Finding("error", rule.source, f"RulePolicy's `core_fallback_action_name` must be an "
                                    f"action name, not {action!r}"))
            action = "action_default_fallback"
        rule_settings = RulePolicySettings(
            _number(rule, "core_fallback_threshold", 0.3, findings), action,
            _flag(rule, "enable_fallback_prediction", True, findings), _flag(rule, "restrict_rules", True, findings),
            _flag(rule, "check_for_contradictions", True, findings))
    language = data.get("language")
    return ProjectConfig(
        source=label,
        language=str(language) if language is not None else None,
        recipe=data.get("recipe"),
        assistant_id=data.get("assistant_id"),
        pipeline=tuple(parts["pipeline"]),
        policies=tuple(parts["policies"]),
        autoconfigured=tuple(auto),
        fallback_threshold=_number(fallback, "threshold", 0.3, findings) if fallback else None,
        ambiguity_threshold=_number(fallback, "ambiguity_threshold", 0.1, findings) if fallback else None,
        rule_policy=rule_settings,
        memoization=MemoizationSettings(memo.name.endswith("AugmentedMemoizationPolicy"),
                                        _number(memo, "max_history", None, findings, whole=True)) if memo else None,
        ted=TEDSettings(_number(ted, "max_history", None, findings, whole=True),
                        _number(ted, "epochs", 1, findings, whole=True)) if ted else None,
        findings=tuple(findings),
    )
