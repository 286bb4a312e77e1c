"""What `train --finetune` accepts and refuses (training/incremental.py), without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.nlu.tagging import tag_names
from training.incremental import Incremental, check_labels, check_recipe, requested

META = {
    "intents": ["greet", "nlu_fallback", "refund"],
    "sentiments": ["negative", "neutral", "positive"],
    "entity_tags": tag_names(["order_id||"]),
    "retrieval_intents": ["faq/ask_hours"],
    "intent_parts": [],
    "entity_features": 2,
    "settings": {"learning_rate": 1e-4, "threads": 2, "epochs": 3, "seed": 13, "keep": 0.97},
    "pipeline": {"regex_features": {"use_regexes": True}},
}
SAME = dict(labels=META["intents"], sentiments=META["sentiments"], tags=META["entity_tags"],
            responses=META["retrieval_intents"], parts=[], features=2)


def test_the_same_labels_in_another_order_are_accepted() -> None:
    check_labels(META, **{**SAME, "labels": list(reversed(META["intents"]))})


@pytest.mark.parametrize(("change", "named"), [
    ({"labels": META["intents"] + ["goodbye"]}, "intents the model does not know: goodbye"),
    ({"labels": ["greet", "nlu_fallback"]}, "intents no longer in the data: refund"),
    ({"tags": tag_names(["order_id||", "city||"])}, "entity labels the model does not know: city||"),
    ({"tags": []}, "entity labels no longer in the data: order_id||"),
    ({"responses": ["faq/ask_hours", "faq/ask_wifi"]}, "retrieval intents the model does not know: faq/ask_wifi"),
    ({"sentiments": ["negative", "positive"]}, "sentiments no longer in the data: neutral"),
    ({"features": 3}, "give 3 entity features, the model reads 2"),
])
def test_a_label_the_model_does_not_have_is_refused_by_name(change: dict, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_labels(META, **{**SAME, **change})
    assert named in str(refused.value) and "Train without --finetune" in str(refused.value)


def test_every_difference_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        check_labels(META, **{**SAME, "labels": META["intents"] + ["goodbye"], "features": 0})
    assert "goodbye" in str(refused.value) and "give 0 entity features" in str(refused.value)


def test_speed_and_length_settings_may_change_but_not_the_recipe() -> None:
    settings = dict(META["settings"])
    check_recipe(META, {**settings, "threads": 1, "epochs": 6, "keep": 0.9}, META["pipeline"])
    with pytest.raises(ConfigError, match=r"learning_rate 0\.0001 -> 0\.001"):
        check_recipe(META, {**settings, "learning_rate": 1e-3}, META["pipeline"])
    with pytest.raises(ConfigError, match="pipeline changed"):
        check_recipe(META, settings, {"regex_features": None})


def test_the_base_must_be_a_trained_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no trained NLU model to fine-tune"):
        Incremental(tmp_path / "missing").meta()
    (tmp_path / "meta.json").write_text(json.dumps({"format": "transformer-1", **META}))
    assert Incremental(tmp_path).meta()["intents"] == META["intents"]


@pytest.mark.parametrize(("fraction", "full", "epochs"), [(1.0, 30, 30), (0.3, 30, 9), (0.1, 3, 1), (0.01, 30, 1)])
def test_the_epoch_fraction_scales_a_full_trainings_epochs(fraction: float, full: int, epochs: int) -> None:
    assert Incremental(Path("."), fraction).epochs(full) == epochs


@pytest.mark.parametrize("fraction", [0.0, -0.5, 11.0])
def test_a_fraction_out_of_range_is_refused(fraction: float) -> None:
    with pytest.raises(ConfigError, match="--epoch-fraction"):
        Incremental(Path("."), fraction)


def test_what_the_command_line_asks() -> None:
    trained = Path("project/.switchboard/models/nlu")
    assert requested(None, 1.0, trained) is None  # a full training
    assert requested("", 0.5, trained) == Incremental(trained, 0.5)  # --finetune alone: the model trained before
    assert requested("other/model", 1.0, trained) == Incremental(Path("other/model"), 1.0)
    with pytest.raises(ConfigError, match="add --finetune"):
        requested(None, 0.5, trained)  # a fraction of nothing: said, not ignored
