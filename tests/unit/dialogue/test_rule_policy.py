"""RulePolicy, memoization and the ensemble on hand-written rules and stories (formbot's shape)."""

from __future__ import annotations

from bot.dialogue.conversation import conversation
from bot.policies.ensemble import Ensemble, choose
from bot.policies.base import PolicyPrediction
from bot.policies.memoization import MemoizationPolicy, build_lookup as story_lookup
from bot.policies.rule_policy import RulePolicy, build_lookup
from tests.unit.dialogue.policy_helpers import FEATURIZER, START, a, loop, rejected, rule, slot, story, u

RULES = [
    rule("greet", u("greet"), a("utter_greet")),
    rule("activate", u("request_restaurant"), a("restaurant_form"), loop("restaurant_form")),
    rule("submit", a("restaurant_form"), loop(None), a("utter_submit"), a("utter_slots_values"),
         condition=(loop("restaurant_form"),)),
    rule("chitchat", u("chitchat"), a("utter_chitchat")),
    rule("welcome", u("greet"), a("utter_welcome"), conversation_start=True),
    rule("vip", u("greet"), a("utter_vip"), condition=(slot("vip", True),)),
]
STORIES = [story("stop then deny", u("request_restaurant"), a("restaurant_form"), loop("restaurant_form"),
                 u("stop"), a("utter_ask_continue"), u("deny"), a("action_deactivate_loop"), loop(None))]


def _ensemble() -> Ensemble:
    lookup = build_lookup(RULES, STORIES, FEATURIZER)
    memo = story_lookup(STORIES, FEATURIZER, rule_only_slots=lookup.rule_only_slots,
                        rule_only_loops=lookup.rule_only_loops)
    return Ensemble([RulePolicy(lookup), MemoizationPolicy(memo, FEATURIZER, rule_only_slots=lookup.rule_only_slots,
                                                           rule_only_loops=lookup.rule_only_loops)])


ENSEMBLE = _ensemble()


def nxt(events: list) -> tuple[str | None, str]:
    best, _ = ENSEMBLE.predict(conversation(events, FEATURIZER))
    return best.action, best.policy


def test_a_rule_answers_then_listens() -> None:
    events = START + [a("utter_greet"), a("action_listen"), u("greet")]
    assert nxt(events) == ("utter_greet", "RulePolicy")
    assert nxt(events + [a("utter_greet")]) == ("action_listen", "RulePolicy")


def test_conversation_start_rule_only_at_the_start() -> None:
    assert nxt(START + [u("greet")]) == ("utter_welcome", "RulePolicy")


def test_condition_on_a_slot_is_more_specific() -> None:
    events = START + [u("bot_challenge"), slot("vip", True), a("utter_iamabot"), a("action_listen"), u("greet")]
    assert nxt(events) == ("utter_vip", "RulePolicy")


def test_form_happy_path_and_submission() -> None:
    events = START + [u("request_restaurant")]
    assert nxt(events) == ("restaurant_form", "RulePolicy")
    events += [a("restaurant_form"), loop("restaurant_form")]
    assert nxt(events) == ("action_listen", "RulePolicy")
    events += [a("action_listen"), u("inform")]
    assert nxt(events) == ("restaurant_form", "RulePolicy")  # the loop, before any rule
    events += [a("restaurant_form"), loop(None)]
    assert nxt(events) == ("utter_submit", "RulePolicy")
    events += [a("utter_submit")]
    assert nxt(events) == ("utter_slots_values", "RulePolicy")


def test_interruption_by_a_rule_returns_to_the_form() -> None:
    events = START + [u("request_restaurant"), a("restaurant_form"), loop("restaurant_form"), a("action_listen"),
                      u("chitchat"), rejected("restaurant_form")]
    assert nxt(events) == ("utter_chitchat", "RulePolicy")
    # the rule would listen next; inside a loop that means: back to the form
    assert nxt(events + [a("utter_chitchat")]) == ("restaurant_form", "RulePolicy")


def test_story_handles_an_unhappy_path_the_rules_do_not() -> None:
    events = START + [u("request_restaurant"), a("restaurant_form"), loop("restaurant_form"), a("action_listen"),
                      u("stop"), rejected("restaurant_form")]
    assert nxt(events) == ("utter_ask_continue", "AugmentedMemoizationPolicy")
    events += [a("utter_ask_continue")]
    assert nxt(events) == ("action_listen", "AugmentedMemoizationPolicy")
    # the loop stays rejected until it runs again: no happy path, the story decides
    events += [a("action_listen"), u("deny")]
    assert nxt(events) == ("action_deactivate_loop", "AugmentedMemoizationPolicy")


def test_augmented_memoization_matches_in_the_middle() -> None:
    events = START + [u("greet"), a("utter_welcome"), a("action_listen"), u("request_restaurant"),
                      a("restaurant_form"), loop("restaurant_form"), a("action_listen"), u("stop"),
                      rejected("restaurant_form")]
    assert nxt(events) == ("utter_ask_continue", "AugmentedMemoizationPolicy")


def test_nothing_known_is_the_core_fallback() -> None:
    best, _ = ENSEMBLE.predict(conversation(START + [u("weather")], FEATURIZER))
    assert (best.action, best.confidence) == ("action_default_fallback", 0.3)


def test_default_actions_overrule_rules() -> None:
    assert nxt(START + [u("restart")]) == ("action_restart", "RulePolicy")


def test_contradicting_rules_are_found() -> None:
    lookup = build_lookup([rule("one", u("greet"), a("utter_a")), rule("two", u("greet"), a("utter_b"))], [], FEATURIZER)
    assert len(lookup.contradictions) == 1 and "two" in lookup.contradictions[0]


def test_conflicting_stories_are_forgotten_there() -> None:
    lookup = story_lookup([story("x", u("greet"), a("utter_a")), story("y", u("greet"), a("utter_b"))], FEATURIZER)
    assert lookup.conflicts and not any(v in ("utter_a", "utter_b") for v in lookup.actions.values())


def test_ensemble_confidence_then_priority_and_rejection() -> None:
    rules = PolicyPrediction("RulePolicy", 6, "action_default_fallback", 0.3)
    memo = PolicyPrediction("MemoizationPolicy", 3, "utter_x", 1.0)
    assert choose([rules, memo]).action == "utter_x"
    assert choose([rules, memo]).runner_up == ("action_default_fallback", 0.3)
    assert choose([PolicyPrediction("RulePolicy", 6, "a", 1.0), PolicyPrediction("M", 3, "b", 1.0)]).action == "a"
    assert choose([rules, memo], rejected="utter_x").action == "action_default_fallback"
    loop_first = PolicyPrediction("RulePolicy", 6, "form", 1.0, no_user=True)
    assert choose([memo, loop_first]).action == "form"


def test_a_short_window_keeps_the_loop_and_slots_of_the_snapshot() -> None:
    from bot.dialogue.conversation import window_prefix

    window = [a("action_listen"), u("inform"), slot("cuisine", "thai"), a("restaurant_form")]
    prefix = window_prefix({"cuisine": "thai", "feedback": "good", "num_people": None}, "restaurant_form", window,
                           {"cuisine": None, "feedback": None, "num_people": None})
    assert prefix == [slot("feedback", "good"), loop("restaurant_form")]
    conv = conversation(prefix + window, FEATURIZER)
    assert conv.active_loop == "restaurant_form" and nxt(prefix + window)[0] == "action_listen"
    assert window_prefix({"cuisine": "x"}, "restaurant_form", [{"event": "session_started"}, *window], {}) == []
