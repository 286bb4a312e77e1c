"""The dialogue model of a project: its rules and stories, the policies built from them, and
the featurizer they share. Built when the bot loads (the rule and story lookups take
milliseconds), so they are always in step with the project's data; the learned policy's
weights come from `switchboard train` and are used only while the data they were trained on
is unchanged (a warning says so otherwise)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Iterable, Sequence

from bot.dialogue.config import ProjectConfig, RulePolicySettings, read_config
from bot.dialogue.conversation import conversation
from bot.dialogue.project import conversation_tests, data_files, find_domain
from bot.dialogue.slots import slot_features, slots_for_entities
from bot.dialogue.states import ACTION_LISTEN, Featurizer, strip_rule_only
from bot.dialogue.slot_types import SlotType
from bot.dialogue.stories import read_files
from bot.dialogue.story import Event, StoryBlock
from bot.dialogue.yaml_lines import Finding
from bot.domain import Domain
from bot.policies.base import Conversation, PolicyPrediction
from bot.policies.ensemble import Ensemble
from bot.policies.learned import META, LearnedPolicy, LearnedWeights, data_hash
from bot.policies.memoization import MemoizationPolicy, StoryLookup, build_lookup as story_lookup
from bot.policies.rule_policy import RuleLookup, RulePolicy, build_lookup as rule_lookup

log = logging.getLogger(__name__)
MAX_PREDICTIONS = 10  # Rasa's max_number_of_predictions: actions after one message, at most
LEARNED_MAX_HISTORY = 5  # TEDPolicy's max_history in Rasa's default config


@dataclass
class DialogueModel:
    domain: Domain
    featurizer: Featurizer
    ensemble: Ensemble
    rules: list[StoryBlock]
    stories: list[StoryBlock]
    rule_lookup: RuleLookup
    story_lookup: StoryLookup | None
    config: ProjectConfig | None = None
    fallback_action: str = "action_default_fallback"
    fallback_threshold: float = 0.3
    findings: list[Finding] = field(default_factory=list)
    max_predictions: int = MAX_PREDICTIONS
    learned: LearnedWeights | None = None

    @classmethod
    def build(cls, domain: Domain, rules: Sequence[StoryBlock], stories: Sequence[StoryBlock],
              config: ProjectConfig | None = None, findings: Iterable[Finding] = (),
              learned: LearnedWeights | None = None) -> "DialogueModel":
        featurizer = featurizer_for(domain)
        settings = config.rule_policy if config is not None and config.rule_policy is not None else RulePolicySettings()
        lookup = rule_lookup(rules, stories, featurizer)
        policies: list = [RulePolicy(lookup, core_fallback_threshold=settings.core_fallback_threshold,
                                     core_fallback_action=settings.core_fallback_action_name,
                                     enable_fallback=settings.enable_fallback_prediction)]
        memo = config.memoization if config is not None else None
        stories_lookup = None
        if memo is not None or config is None or not config.policies:
            max_history = memo.max_history if memo is not None else None
            stories_lookup = story_lookup(stories, featurizer, max_history=max_history,
                                          rule_only_slots=lookup.rule_only_slots, rule_only_loops=lookup.rule_only_loops)
            policies.append(MemoizationPolicy(stories_lookup, featurizer, max_history=max_history,
                                              augmented=memo.augmented if memo is not None else True,
                                              rule_only_slots=lookup.rule_only_slots,
                                              rule_only_loops=lookup.rule_only_loops))
        if learned is not None:
            strip = partial(strip_rule_only, rule_only_slots=lookup.rule_only_slots,
                            rule_only_loops=lookup.rule_only_loops)
            policies.append(LearnedPolicy(learned, strip))
        notes = list(findings)
        notes += [Finding("error", "rules", text) for text in lookup.contradictions]
        notes += [Finding("warning", "stories", text) for text in (stories_lookup.conflicts if stories_lookup else [])]
        return cls(domain, featurizer, Ensemble(policies), list(rules), list(stories), lookup, stories_lookup,
                   config, settings.core_fallback_action_name, settings.core_fallback_threshold, notes,
                   learned=learned)

    @classmethod
    def load(cls, project: Path, domain: Domain, models_dir: Path | None = None) -> "DialogueModel":
        """Every rule and story under the project's data/, with its config.yml, and the learned
        policy trained into `models_dir/dialogue` when it is in step with them."""
        files = data_files(project)
        paths = sorted({*files.rules, *files.stories})
        blocks, findings = read_files(paths, "story", root=project, slots=slot_types_of(domain))
        config = read_config(project) if (project / "config.yml").exists() else None
        found = [*files.findings, *findings, *(config.findings if config else ())]
        stories = [b for b in blocks if b.kind != "rule"]
        learned = None
        if models_dir is not None and stories and wants_learned(config):
            learned = _trained_weights(models_dir / "dialogue", learned_hash(project, config), found)
        for finding in found:
            (log.error if finding.level == "error" else log.warning)("%s", finding.line())
        return cls.build(domain, [b for b in blocks if b.kind == "rule"], stories, config, found, learned)

    def conversation(self, events: Iterable[Event]) -> Conversation:
        return conversation(events, self.featurizer)

    def predict(self, events: Iterable[Event]) -> tuple[PolicyPrediction, list[PolicyPrediction], Conversation]:
        """The policies' choice. After a bot action (not right after the user spoke), a choice no
        better than the core fallback means: listen (the job TEDPolicy usually does in Rasa)."""
        events = list(events)
        conv = self.conversation(events)
        last = events[-1].get("event") if events else None
        if last in ("restart", "rewind"):  # Rasa's default rules: a restart, a taken-back message, then listen
            listen = PolicyPrediction("RulePolicy", 6, ACTION_LISTEN, 1.0, source="the conversation restarted"
                                      if last == "restart" else "the message was taken back")
            return listen, [listen], conv
        best, everyone = self.ensemble.predict(conv)
        if self.is_fallback(best.action) and conv.latest_action not in (None, ACTION_LISTEN):
            best = replace(best, action=ACTION_LISTEN, source="nothing more to do after the bot's action")
        return best, everyone, conv

    def answers_fresh(self, intent: str) -> bool:
        """Do the policies answer this intent at the start of a conversation (not the fallback)?"""
        start = [{"event": "action", "name": "action_session_start"}, {"event": "session_started"},
                 {"event": "action", "name": "action_listen"},
                 {"event": "user", "text": None, "parse_data": {"intent": {"name": intent, "confidence": 1.0},
                                                                "entities": []}}]
        best, _, _ = self.predict(start)
        return not self.is_fallback(best.action) and best.action != "action_listen"

    def is_fallback(self, action: str | None) -> bool:
        return action is None or action in (self.fallback_action, "action_default_fallback")


def wants_learned(config: ProjectConfig | None) -> bool:
    """A learned policy where config.yml lists TEDPolicy, or leaves the policies to Rasa's defaults."""
    return config is None or config.ted is not None


def learned_settings(config: ProjectConfig | None) -> dict[str, int]:
    history = config.ted.max_history if config is not None and config.ted is not None else None
    return {"max_history": history or LEARNED_MAX_HISTORY}


def learned_hash(project: Path, config: ProjectConfig | None) -> str:
    """The hash of what the learned policy learns from: domain, rules, stories, config.yml, settings."""
    files = data_files(project)
    inputs = [*find_domain(project), *files.rules, *files.stories]
    if (project / "config.yml").exists():
        inputs.append(project / "config.yml")
    return data_hash(inputs, learned_settings(config))


def _trained_weights(folder: Path, expected: str, findings: list[Finding]) -> LearnedWeights | None:
    if not (folder / META).exists():
        findings.append(Finding("warning", "models", "no learned dialogue policy is trained: stories generalise "
                                                     "only through memoization until `switchboard train` runs"))
        return None
    weights = LearnedWeights.load(folder)
    if weights.meta.get("data_hash") != expected:
        findings.append(Finding("warning", "models", "the learned dialogue policy was trained on other stories or "
                                                     "another domain: it is off until `switchboard train` runs"))
        return None
    return weights


def featurizer_for(domain: Domain) -> Featurizer:
    return Featurizer(
        slot_features=partial(slot_features, domain.slots),
        initial_slots={name: slot.initial_value for name, slot in domain.slots.items()},
        intent_entities=domain.intent_entities,
        entity_slots=partial(slots_for_entities, domain.slots, store_entities_as_slots=domain.store_entities_as_slots),
    )


def slot_types_of(domain: Domain) -> dict[str, SlotType]:
    return {name: SlotType(slot.type, slot.influence_conversation) for name, slot in domain.slots.items()}


def load_test_stories(project: Path, domain: Domain) -> tuple[list[StoryBlock], list[Finding]]:
    """The project's test stories (tests/test_*.yml), as `rasa test` finds them."""
    files = conversation_tests(project)
    blocks, findings = read_files(list(files.stories) + list(files.rules), "test", root=project,
                                  slots=slot_types_of(domain))
    return blocks, [*files.findings, *findings]
