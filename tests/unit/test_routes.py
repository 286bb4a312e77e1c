"""Route thresholds: what the running bot uses (bot/routes.py) and how calibration picks them
(training/routes.py's pure parts)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.routes import UNCALIBRATED, IntentBank, resolve
from training.routes import budget_threshold

CALIBRATED = {"thresholds": {"nlu": 0.55, "retrieval": 0.66, "retrieval_foreign": 0.7, "min_context_score": 0.62,
                             "log_margin": 0.12}}
AUTO = {"nlu": None, "retrieval": None, "retrieval_foreign": None, "min_context_score": None}


def test_calibrated_values_are_used_when_nothing_is_set_by_hand() -> None:
    t, warnings = resolve(AUTO, CALIBRATED)
    assert (t.nlu, t.retrieval, t.retrieval_foreign, t.min_context_score, t.log_margin) == (0.55, 0.66, 0.7, 0.62, 0.12)
    assert set(t.sources.values()) == {"calibrated"} and warnings == []


def test_a_hand_set_threshold_wins_and_a_looser_one_is_warned_about() -> None:
    t, warnings = resolve({**AUTO, "nlu": 0.4, "retrieval": 0.8}, CALIBRATED)
    assert t.nlu == 0.4 and t.sources["nlu"] == "switchboard.yml"
    assert t.retrieval == 0.8 and t.sources["retrieval"] == "switchboard.yml"
    assert len(warnings) == 1 and "nlu.threshold is 0.4" in warnings[0] and "looser" in warnings[0]


def test_config_ymls_fallback_threshold_counts_as_set_by_hand_and_says_where() -> None:
    t, warnings = resolve({**AUTO, "nlu": 0.5}, CALIBRATED, configured_in={"nlu": "config.yml"})
    assert t.nlu == 0.5 and t.sources["nlu"] == "config.yml"
    assert len(warnings) == 1 and warnings[0].startswith("the FallbackClassifier's threshold is 0.5 in config.yml")


def test_without_calibration_the_old_defaults_apply_with_a_warning() -> None:
    t, warnings = resolve(AUTO, None)
    assert (t.nlu, t.retrieval, t.min_context_score) == (UNCALIBRATED["nlu"], UNCALIBRATED["retrieval"],
                                                         UNCALIBRATED["min_context_score"])
    assert t.log_margin is None and any("switchboard train" in w for w in warnings)
    # the index's own leave-one-out threshold stands in for an uncalibrated retrieval threshold
    t, _ = resolve(AUTO, None, index_threshold=0.61)
    assert t.retrieval == t.retrieval_foreign == 0.61 and t.sources["retrieval"] == "index"
    t, _ = resolve(AUTO, CALIBRATED, index_threshold=0.9)
    assert t.retrieval == 0.66  # ... but not over a calibration


def test_budget_threshold_is_the_loosest_that_lets_at_most_the_allowed_through() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    t = budget_threshold(scores, 2, floor=0.0, ceiling=1.0)
    assert sum(s >= t for s in scores) == 2 and t == pytest.approx(0.7, abs=1e-5)
    assert budget_threshold(scores, 0, floor=0.0, ceiling=1.0) > 0.9
    assert budget_threshold(scores, 10, floor=0.3, ceiling=1.0) == 0.3  # fewer scores than allowed: the floor
    assert budget_threshold(scores, 0, floor=0.0, ceiling=0.85) == 0.85  # never above the ceiling
    assert budget_threshold([0.8, 0.8, 0.8], 1, floor=0.0, ceiling=1.0) > 0.8  # ties: none of them


def test_intent_bank_similarity_and_its_file(tmp_path) -> None:
    vectors = np.eye(3, dtype=np.float32)
    bank = IntentBank(["greet", "greet", "cancel"], vectors)
    assert bank.similarity(np.array([1, 0, 0], np.float32), "greet") == pytest.approx(1.0)
    assert bank.similarity(np.array([1, 0, 0], np.float32), "cancel") == pytest.approx(0.0)
    assert bank.similarity(np.array([1, 0, 0], np.float32), "unknown") is None
    bank.save(tmp_path)
    again = IntentBank.load(tmp_path)
    assert again is not None and list(again.labels) == ["greet", "greet", "cancel"]
    assert IntentBank.load(tmp_path / "missing") is None
