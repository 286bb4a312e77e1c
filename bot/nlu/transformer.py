"""The fine-tuned transformer classifier: intent with its ranking, out-of-scope and sentiment
from one forward pass. Loads the artifact that training/nlu.py writes:

    meta.json       format, labels, ensemble weights, calibration (temperature,
                    out-of-scope threshold), data hash, metrics, training settings
    encoder/        the fine-tuned MiniLM and its tokenizer (Hugging Face format)
    heads.pt        the intent and sentiment heads
    tfidf_intent.*  the TF-IDF ensemble partners (bot/nlu/tfidf.py), when their weight > 0
    tfidf_sentiment.*

torch is imported when a model is loaded, not when this module is imported."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bot.domain import FALLBACK_INTENT, KNOWLEDGE_LABEL
from bot.errors import ConfigError
from bot.nlu.base import Prediction, Sentiment
from bot.nlu.entity_context import MODES, STAY, EntityFamilies
from bot.nlu.tagging import decode
from bot.nlu.patterns import PatternExtractor, PatternFeatures, PatternOptions
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.response_selector import ResponseSelection

if TYPE_CHECKING:
    from bot.nlu.duckling import Duckling
    from bot.nlu.projection import Projection
    from bot.nlu.tfidf import TfidfModel

FORMAT_VERSION = "transformer-1"
MAX_LENGTH = 64  # tokens; longer messages are truncated (their start carries the request)


def read_meta(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / "meta.json"
    if not path.exists():
        raise ConfigError(f"no NLU model in {model_dir}: run `switchboard train` first")
    meta: dict[str, Any] = json.loads(path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ConfigError(
            f"the NLU model in {model_dir} has format {meta.get('format')!r}, this version reads "
            f"{FORMAT_VERSION!r}: run `switchboard train --force`"
        )
    return meta


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def mix(transformer_logits: np.ndarray, tfidf_log_proba: np.ndarray | None, weight: float) -> np.ndarray:
    """The ensemble's scores: a weighted sum of the two models' log-probabilities."""
    if tfidf_log_proba is None or weight <= 0.0:
        return transformer_logits
    return (1.0 - weight) * log_softmax(transformer_logits) + weight * tfidf_log_proba


NOT_INTENTS = frozenset({FALLBACK_INTENT, KNOWLEDGE_LABEL})


@dataclass(frozen=True)
class ModelOutputs:
    """What one forward pass gives for a batch of texts, in their order."""

    intents: np.ndarray  # the ensemble's intent scores (uncalibrated logits)
    sentiments: np.ndarray | None
    entities: list[list[dict[str, Any]]]  # the learned entities of each text
    responses: np.ndarray | None  # the response head's logits (retrieval intents' full names)
    pooled: np.ndarray | None = None  # the sentence vectors (when a retrieval map reuses them)


def in_scope_score(probabilities: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """The out-of-scope score: the calibrated probability of the best in-scope intent (the
    mass of the trained `nlu_fallback` and support-log classes counts against it)."""
    columns = [i for i, label in enumerate(labels) if label not in NOT_INTENTS]
    return probabilities[:, columns].max(axis=1)


class TransformerClassifier:
    """Implements `Classifier`. Thread-safe: forward passes are serialised."""

    def __init__(self, model_dir: Path, *, threads: int = 1, oos_threshold: float | None = None,
                 batch_size: int = 64, quantize: str | None = None, entity_families: str = "soft") -> None:
        from bot.nlu.network import TagHead, load_trained

        import torch

        self.model_dir = Path(model_dir)
        self.meta = read_meta(self.model_dir)
        self.labels: list[str] = list(self.meta["intents"])
        self.sentiments: list[str] = list(self.meta.get("sentiments") or [])
        calibration = self.meta.get("calibration", {})
        self.temperature = float(calibration.get("temperature", 1.0))
        self.oos_threshold = float(oos_threshold if oos_threshold is not None else calibration.get("oos_threshold", 0.0))
        self._patterns(self.meta)
        self.batch_size = batch_size
        ensemble = self.meta.get("ensemble", {})
        self.intent_weight = float(ensemble.get("intent_weight", 0.0))
        self.sentiment_weight = float(ensemble.get("sentiment_weight", 0.0))
        self.tfidf_intent = self._partner("tfidf_intent", self.intent_weight)
        self.tfidf_sentiment = self._partner("tfidf_sentiment", self.sentiment_weight)
        torch.set_num_threads(threads)
        self.tags: list[str] = list(self.meta.get("entity_tags") or [])
        self.synonyms: dict[str, str] = dict(self.meta.get("synonyms") or {})
        self.edges: dict[str, dict[str, list[str]]] = dict(self.meta.get("entity_edges") or {})
        # labels whose annotations all match their regex whole: spans fit the match (tagging.entity_shapes)
        self.shapes = {label: [re.compile(p) for p in patterns]
                       for label, patterns in (self.meta.get("entity_shapes") or {}).items()}
        # entity families: a turn's entity labels follow the conversation (bot/nlu/entity_context.py)
        self.families = EntityFamilies.build(self.meta.get("entity_labels_by_intent") or {})
        if entity_families not in MODES:
            raise ConfigError(f"nlu.entity_families must be one of {', '.join(MODES)}, got {entity_families!r}")
        self.context_stay, self.context_floor = STAY, MODES[entity_families]
        features = int(self.meta.get("entity_features") or 0) if self.tags else 0
        tagging = TagHead(len(self.tags), features, self.meta.get("entity_decoder") == "crf" and bool(self.tags))
        self.retrieval_labels: list[str] = list(self.meta.get("retrieval_intents") or [])
        parts: list[list[str]] = list(self.meta.get("intent_parts") or [])
        names = sorted({p for label_parts in parts for p in label_parts})
        self.net, self.tokenizer = load_trained(
            self.model_dir, len(self.labels), len(self.sentiments), tagging, responses=len(self.retrieval_labels),
            intent_parts=[[names.index(p) for p in ps] for ps in parts] if parts else None)
        self.selectors = ResponseSelection(self.retrieval_labels, self.pipeline.response_selectors)
        self.crf = self.net.entity_crf.weights(self.tags) if self.net.entity_crf is not None else None
        self.featurize = self.features.piece_features if features and self.features is not None else None
        self.quantize = quantize
        if quantize == "int8":
            # int8 weights for every Linear layer, activations quantised on the fly: several times
            # faster on a CPU with VNNI, at a small cost in accuracy (bench/results/nlu.md)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.net = torch.ao.quantization.quantize_dynamic(self.net, {torch.nn.Linear}, dtype=torch.qint8)
        elif quantize not in (None, "none"):
            raise ConfigError(f"nlu.quantize must be int8 or none, got {quantize!r}")
        # trained on foreign text (meta "foreign"): nlu_fallback's probability says "foreign"
        trained_foreign = bool((self.meta.get("foreign") or {}).get("train"))
        self.foreign_column = self.labels.index(FALLBACK_INTENT) if trained_foreign and FALLBACK_INTENT in self.labels else None
        self.knowledge_column = self.labels.index(KNOWLEDGE_LABEL) if KNOWLEDGE_LABEL in self.labels else None
        self._lock = threading.Lock()
        # the domain's responses, for the response selector's `responses` (set by the runtime)
        self.responses: dict[str, list[dict[str, Any]]] = {}
        # the retrieval map (bot/nlu/projection.py): predictions then carry their retrieval vector
        self.projection: "Projection | None" = None
        self.duckling: "Duckling | None" = None  # config.yml's DucklingEntityExtractor (bot/nlu/duckling.py)

    def _patterns(self, meta: dict[str, Any]) -> None:
        """The regexes and lookup tables as config.yml's pipeline asked at training time (features
        for the entity head, an extractor). A model trained before the pipeline was read extracts
        with every regex, as Switchboard did then."""
        regexes, lookups = dict(meta.get("regexes") or {}), dict(meta.get("lookups") or {})
        synonyms = dict(meta.get("synonyms") or {})
        self.pipeline = NLUPipeline.from_dict(meta.get("pipeline") or {})
        if "pipeline" not in meta:
            self.features = None
            self.extractor: PatternExtractor | None = PatternExtractor(regexes, {}, PatternOptions(case_sensitive=False),
                                                                       synonyms=synonyms)
            return
        pipeline = self.pipeline
        self.features = PatternFeatures(regexes, lookups, pipeline.regex_features) \
            if pipeline.regex_features is not None else None
        self.extractor = PatternExtractor(regexes, lookups, pipeline.regex_extractor, synonyms=synonyms) \
            if pipeline.regex_extractor is not None else None

    @property
    def intents(self) -> Sequence[str]:
        return [label for label in self.labels if label not in NOT_INTENTS]

    def _partner(self, name: str, weight: float) -> "TfidfModel | None":
        if weight <= 0.0:
            return None
        from bot.nlu.tfidf import TfidfModel

        return TfidfModel.load(self.model_dir, name)

    def logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """The ensemble's intent and sentiment scores (uncalibrated), in the order of `texts`."""
        out = self.outputs(texts, tags=False)
        return out.intents, out.sentiments

    def outputs(self, texts: Sequence[str], *, tags: bool = True,
                contexts: Sequence[Sequence[str]] | None = None) -> "ModelOutputs":
        """One forward pass: the ensemble's intent and sentiment scores (uncalibrated), the learned
        entities and the response head's scores of each text, in the order of `texts`. A text's
        context (the intents of the conversation's previous turns) and its own intent scores weigh
        the entity families its entities are typed in, when the model has several."""
        from bot.nlu.network import batch_outputs

        with self._lock:
            out = batch_outputs(self.net, self.tokenizer, texts, batch_size=self.batch_size, max_length=MAX_LENGTH,
                                tags=tags and bool(self.tags), featurize=self.featurize,
                                pooled=self.projection is not None)
        intents, sentiments = out.intents, out.sentiments
        if self.tfidf_intent is not None:
            intents = mix(intents, self.tfidf_intent.log_proba(texts), self.intent_weight)
        if sentiments is not None and self.tfidf_sentiment is not None:
            sentiments = mix(sentiments, self.tfidf_sentiment.log_proba(texts), self.sentiment_weight)
        biases = self._biases(intents, contexts or [()] * len(texts)) if out.tags is not None \
            else [None] * len(texts)
        learned = [decode(text, pieces, scores, self.tags, self.synonyms, crf=self.crf, edges=self.edges,
                          label_bias=bias, shapes=self.shapes)
                   for text, (pieces, scores), bias in zip(texts, out.tags, biases)] \
            if out.tags is not None else [[] for _ in texts]
        return ModelOutputs(intents, sentiments, learned, out.responses, out.pooled)

    def _biases(self, intents: np.ndarray, contexts: Sequence[Sequence[str]]) -> list[dict[str, float] | None]:
        floor = self.context_floor
        if not self.families.active or floor is None:
            return [None] * len(contexts)
        probabilities = softmax(intents, self.temperature)
        return [self.families.bias(zip(self.labels, row.tolist()), context, self.context_stay, floor)
                for row, context in zip(probabilities, contexts)]

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The mean-pooled sentence vectors of `texts` (what a retrieval map projects). Int8 layers
        quantise their input with one scale for the whole batch, so a text's vector depends on what
        it shares a batch with (cosine down to about 0.93 against itself alone): vectors that are
        stored or calibrated on (the index, the map, the thresholds) are computed one text at a
        time, as a lone message is served."""
        from bot.nlu.network import batch_outputs

        batch_size = 1 if self.quantize == "int8" else self.batch_size
        with self._lock:
            out = batch_outputs(self.net, self.tokenizer, texts, batch_size=batch_size, max_length=MAX_LENGTH,
                                tags=False, pooled=True)
        assert out.pooled is not None
        return out.pooled

    def entities(self, text: str, learned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The regex extractor's entities (config.yml's RegexEntityExtractor), then the learned ones
        that overlap none of them (Rasa runs both extractors; a regex match is exact, so it wins a
        tie), then Duckling's: where the learned head found the same entity on the same words,
        Duckling's structured value replaces it."""
        found = list(self.extractor.extract(text)) if self.extractor is not None else []
        for item in learned:
            if not any(_overlap(item, r) for r in found):
                found.append(item)
        if self.duckling is not None:
            structured = self.duckling.parse(text)
            found = [e for e in found if not any(_overlap(e, d) and e["entity"] == d["entity"] for d in structured)]
            found += structured
        return sorted(found, key=lambda e: (e["start"], e["end"]))

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        if not texts:
            return []
        out = self.outputs(texts, tags=True, contexts=contexts)
        intent_logits, sentiment_logits, learned, response_logits = out.intents, out.sentiments, out.entities, \
            out.responses
        probabilities = softmax(intent_logits, self.temperature)
        scores = in_scope_score(probabilities, self.labels)
        sentiment_p = softmax(sentiment_logits) if sentiment_logits is not None else None
        response_p = softmax(response_logits) if response_logits is not None and len(self.retrieval_labels) else None
        predictions = [
            self._prediction(text, probabilities[row], float(scores[row]),
                             sentiment_p[row] if sentiment_p is not None else None, learned[row])
            for row, text in enumerate(texts)
        ]
        if response_p is not None:
            predictions = [replace(p, response_selector=self.selectors.select(response_p[row], self.responses))
                           for row, p in enumerate(predictions)]
        if self.projection is not None and out.pooled is not None:  # retrieval reuses this pass
            vectors = self.projection.apply(out.pooled)
            predictions = [replace(p, embedding=vectors[row]) for row, p in enumerate(predictions)]
        return predictions

    def _prediction(self, text: str, probabilities: np.ndarray, score: float, sentiment: np.ndarray | None,
                    learned: list[dict[str, Any]]) -> Prediction:
        order = np.argsort(-probabilities)
        ranking = tuple((self.labels[i], float(probabilities[i])) for i in order if self.labels[i] != KNOWLEDGE_LABEL)
        top, confidence = self.labels[order[0]], float(probabilities[order[0]])
        if top in NOT_INTENTS:
            # foreign, or a question for the support logs: no intent; nlu_fallback leads the
            # ranking with the chance that the best intent is wrong
            intent, confidence = FALLBACK_INTENT, 1.0 - score
            ranking = ((FALLBACK_INTENT, confidence),) + tuple(r for r in ranking if r[0] != FALLBACK_INTENT)
        elif score < self.oos_threshold:
            # out of scope by the calibrated threshold: as Rasa's FallbackClassifier, nlu_fallback
            # leads the ranking; its confidence is the chance the best intent is wrong
            intent, confidence = FALLBACK_INTENT, 1.0 - score
            ranking = ((FALLBACK_INTENT, confidence),) + tuple(r for r in ranking if r[0] != FALLBACK_INTENT)
        else:
            intent = top
        mood = None
        if sentiment is not None:
            best = int(np.argmax(sentiment))
            mood = Sentiment(self.sentiments[best], float(sentiment[best]))
        foreign = knowledge = None
        if self.foreign_column is not None:
            foreign = float(probabilities[self.foreign_column])
            knowledge = float(probabilities[self.knowledge_column]) if self.knowledge_column is not None else 0.0
        return Prediction(text=text, intent=intent, confidence=confidence, ranking=ranking,
                          entities=tuple(self.entities(text, learned)), sentiment=mood,
                          foreign=foreign, knowledge=knowledge, for_logs=top == KNOWLEDGE_LABEL)


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])
