"""bot/nlu/response_selector.py and bot/nlu/pipeline.py: the ResponseSelector's part of a parse
result, and what config.yml's pipeline asks of the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.dialogue.config import read_config
from bot.nlu.base import Prediction
from bot.nlu.pipeline import NLUPipeline, nlu_pipeline
from bot.nlu.response_selector import ResponseSelection, chosen

LABELS = ["chitchat/ask_name", "faq/ask_fees", "faq/ask_hours"]
RESPONSES = {"utter_faq/ask_hours": [{"text": "9 to 5"}], "utter_faq/ask_fees": [{"text": "free"}]}


def test_keys_rankings_and_responses() -> None:
    selection = ResponseSelection(LABELS, ("default",))
    out = selection.select(np.array([0.5, 0.1, 0.4]), RESPONSES)
    assert out is not None
    assert out["all_retrieval_intents"] == ["chitchat", "faq"]
    assert list(out) == ["all_retrieval_intents", "default", "chitchat", "faq"]
    assert out["default"]["response"]["intent_response_key"] == "chitchat/ask_name"  # the best of all
    faq = out["faq"]["response"]  # the best of faq's own, renormalised
    assert faq["intent_response_key"] == "faq/ask_hours" and faq["utter_action"] == "utter_faq/ask_hours"
    assert faq["confidence"] == 0.8 and faq["responses"] == [{"text": "9 to 5"}]
    assert [r["intent_response_key"] for r in out["faq"]["ranking"]] == ["faq/ask_hours", "faq/ask_fees"]
    assert out["chitchat"]["response"]["responses"] == [{"text": "chitchat/ask_name"}]  # no response: its key
    ids = {r["intent_response_key"]: r["id"] for r in out["default"]["ranking"]}
    assert ids == {r["intent_response_key"]: r["id"] for r in selection.select(np.array([0.1, 0.1, 0.8]), {})["default"]["ranking"]}


def test_a_configured_retrieval_intent_and_the_parse_data() -> None:
    out = ResponseSelection(LABELS, ("faq",)).select(np.array([0.2, 0.2, 0.6]), RESPONSES)
    assert out is not None and "default" not in out and list(out)[1] == "faq"
    parse = Prediction("when are you open", "faq", 0.9, (("faq", 0.9),), response_selector=out).parse_data()
    assert parse["intent"]["full_retrieval_intent_name"] == "faq/ask_hours"
    assert chosen(parse, "faq") == "faq/ask_hours" and chosen(parse, "chitchat") == "chitchat/ask_name"
    assert chosen({"intent": {}}, "faq") is None
    assert ResponseSelection([]).select(np.zeros(0), {}) is None


def test_pipeline_from_config(tmp_path: Path) -> None:
    assert nlu_pipeline(read_config(tmp_path)) == NLUPipeline()  # no config.yml: Rasa's default pipeline
    (tmp_path / "config.yml").write_text("""language: en
pipeline:
  - name: WhitespaceTokenizer
    intent_tokenization_flag: true
    intent_split_symbol: "+"
  - name: RegexEntityExtractor
    use_lookup_tables: false
  - name: DIETClassifier
    entity_recognition: false
  - name: ResponseSelector
    retrieval_intent: faq
""")
    pipeline = nlu_pipeline(read_config(tmp_path))
    assert pipeline.regex_features is None  # no RegexFeaturizer: the patterns are not features
    assert pipeline.regex_extractor is not None and not pipeline.regex_extractor.use_lookup_tables
    assert not pipeline.regex_extractor.case_sensitive  # RegexEntityExtractor's default
    assert pipeline.entity_recognition is False and pipeline.intent_split_symbol == "+"
    assert pipeline.response_selectors == ("faq",)
    assert NLUPipeline.from_dict(pipeline.as_dict()) == pipeline
