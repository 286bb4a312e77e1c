"""What config.yml's NLU pipeline asks of Switchboard's one model.

Switchboard runs one fine-tuned transformer in place of Rasa's tokenizers, featurizers and
DIETClassifier, but honours what their settings mean:
- `RegexFeaturizer` (in Rasa's default pipeline): the regexes and lookup tables of the data are
  features of the entity head (`use_regexes`, `use_lookup_tables`, `use_word_boundaries`,
  `case_sensitive`); without it they are not;
- `RegexEntityExtractor`: their matches are entities too (its own options; case-insensitive by
  default, as in Rasa); without it they are not (as in Rasa: a regex alone extracts nothing);
- `DIETClassifier`'s `entity_recognition: false`: no entity head;
- the tokenizer's `intent_tokenization_flag` and `intent_split_symbol` (default `_`): multi-intent
  labels such as `greet+ask_weather` share what is learned of their intents (bot/nlu/network.py);
- `ResponseSelector`s: the keys of `/model/parse`'s `response_selector` (its `retrieval_intent`,
  or `default` for one without); retrieval intents are learned by a response head either way.
A project without config.yml gets Rasa's default pipeline (RegexFeaturizer, no extractor)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.nlu.patterns import PatternOptions

if TYPE_CHECKING:
    from bot.dialogue.config import ProjectConfig

TOKENIZERS = ("WhitespaceTokenizer", "SpacyTokenizer", "JiebaTokenizer", "MitieTokenizer")


@dataclass(frozen=True)
class NLUPipeline:
    entity_recognition: bool = True
    regex_features: PatternOptions | None = PatternOptions()
    regex_extractor: PatternOptions | None = None
    intent_split_symbol: str | None = None  # set when the tokenizer's intent_tokenization_flag is on
    response_selectors: tuple[str, ...] = ("default",)  # ResponseSelectors' retrieval_intent, or "default"

    @property
    def uses_regexes(self) -> bool:
        """Whether a component reads the data's regexes (the featurizer's or the extractor's `use_regexes`)."""
        return any(options is not None and options.use_regexes for options in (self.regex_features, self.regex_extractor))

    def as_dict(self) -> dict[str, Any]:
        return {"entity_recognition": self.entity_recognition,
                "regex_features": self.regex_features.as_dict() if self.regex_features else None,
                "regex_extractor": self.regex_extractor.as_dict() if self.regex_extractor else None,
                "intent_split_symbol": self.intent_split_symbol,
                "response_selectors": list(self.response_selectors)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NLUPipeline":
        features, extractor = data.get("regex_features"), data.get("regex_extractor")
        return cls(bool(data.get("entity_recognition", True)),
                   PatternOptions.from_dict(features) if features is not None else None,
                   PatternOptions.from_dict(extractor, case_sensitive=False) if extractor is not None else None,
                   data.get("intent_split_symbol"), tuple(data.get("response_selectors") or ("default",)))


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def nlu_pipeline(config: "ProjectConfig | None") -> NLUPipeline:
    """The pipeline's settings, from the components config.yml lists (Rasa's defaults without it)."""
    if config is None:
        return NLUPipeline()
    components = {_short(c.name): c.settings for c in config.pipeline}
    featurizer = components.get("RegexFeaturizer")
    extractor = components.get("RegexEntityExtractor")
    diet = components.get("DIETClassifier")
    selectors = tuple(dict.fromkeys(str(c.settings.get("retrieval_intent") or "default") for c in config.pipeline
                                    if _short(c.name) == "ResponseSelector"))
    split = None
    for name in TOKENIZERS:
        tokenizer = components.get(name)
        if tokenizer is not None and tokenizer.get("intent_tokenization_flag"):
            split = str(tokenizer.get("intent_split_symbol", "_"))
    return NLUPipeline(
        entity_recognition=bool(diet.get("entity_recognition", True)) if diet is not None else True,
        regex_features=PatternOptions.from_dict(featurizer) if featurizer is not None else None,
        regex_extractor=PatternOptions.from_dict(extractor, case_sensitive=False) if extractor is not None else None,
        intent_split_symbol=split,
        response_selectors=selectors or ("default",),
    )
