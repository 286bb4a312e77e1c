"""Calibrate every route of a trained bot against foreign text it never trained on.

The held-out third of the foreign corpus (training/foreign.py) goes through the same decisions
the running bot makes (bot/policies: intent rules, support logs, generation), and each route's
threshold is the loosest that keeps its share of the target (default: at most 2 % of foreign
questions answered, all routes together):

1. intent: the NLU confidence above which a predicted intent's response goes out;
2. support logs: the retrieval score above which the closest log answers, for the questions
   the intents left: one threshold for the messages the NLU model places with the support logs,
   a stricter one for the rest (half of the route's share each);
3. generation (for messages placed with the logs only): the retrieval score below which the
   generator is not even asked, for the questions the logs left; counted as if every generated
   answer passed the grounding check (its relevance test then only lowers the real rate).

Then the margin by which a support log must beat the predicted intent's own closest example
(the retrieval encoder, cosine) to answer instead of the intent: chosen on the intents' examples, each
compared with the other examples of its intent, so that at most 1 % of them would be taken
from their intent. Written to models/routes.json with the expected rates; bot/routes.py reads it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
import json
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from bot.domain import FALLBACK_INTENT, KNOWLEDGE_LABEL
from bot.routes import FORMAT_VERSION, CalibrationSettings, IntentBank
from training.data import Example

if TYPE_CHECKING:
    from bot.nlu.encoder import Encoder
    from bot.settings import Settings
    from training.foreign import ForeignText
    from training.project import StepReport
    from bot.nlu.transformer import TransformerClassifier
    from knowledge.index import KnowledgeBase

RECIPE = "routes-5:grouped-answers:single-question-margin"
MIN_FOREIGN = 50  # fewer held-out foreign messages than this cannot set a 2 % threshold
FLOORS = {"nlu": 0.3, "retrieval": 0.3, "min_context_score": 0.3}  # never looser than the old defaults
CEILINGS = {"nlu": 0.99, "retrieval": 0.95}
FOREIGN_REGION_SHARE = 0.5  # of the logs' share, for the messages the model does not place with the logs
MARGIN_FLOOR, MARGIN_SHARE = 0.1, 0.01
EXAMPLES_KEPT = 8


@dataclass(frozen=True)
class Handoff:
    intents: frozenset[str]
    min_confidence: float


def budget_threshold(scores: Sequence[float], allowed: int, *, floor: float, ceiling: float) -> float:
    """The lowest threshold >= floor that at most `allowed` of `scores` reach (capped at ceiling)."""
    ordered = sorted((float(s) for s in scores), reverse=True)
    if len(ordered) <= allowed:
        return floor
    return float(min(ceiling, max(floor, ordered[allowed] + 1e-6)))


def _allowed(share: float, n: int) -> int:
    return int(math.floor(share * n + 1e-9))


def calibrate_routes(
    *,
    classifier: "TransformerClassifier",
    knowledge: "KnowledgeBase | None",
    encoder: "Encoder",
    foreign: Sequence[str],
    examples: Sequence[Example],
    dev: Sequence[Example],
    answerable: frozenset[str],
    handoff: Handoff | None,
    settings: CalibrationSettings,
    k: int = 3,
) -> tuple[dict[str, Any], IntentBank]:
    """routes.json's content and the intent bank. `answerable`: the intents the rules answer;
    `examples`: the NLU training examples (intents, logs, foreign); `dev`: its dev slice."""
    started = time.perf_counter()
    intent_rows = [e for e in examples if e.label not in (FALLBACK_INTENT, KNOWLEDGE_LABEL)]
    bank = IntentBank([e.label for e in intent_rows], encoder.encode([e.text for e in intent_rows]))
    n = len(foreign)
    report: dict[str, Any] = {
        "format": FORMAT_VERSION, "target_foreign_rate": settings.target_foreign_rate,
        "shares": dict(settings.shares), "foreign_messages": n, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if n < MIN_FOREIGN:
        report["warning"] = (f"only {n} held-out foreign messages (at least {MIN_FOREIGN} needed): "
                             "thresholds not calibrated, the defaults apply")
        return report, bank

    texts = list(foreign)
    predictions = classifier.predict(texts)
    top = _top_scores(knowledge, texts, k)
    by_intent = np.array([_answered_by_intent(p, answerable, handoff) for p in predictions])
    confidence = np.array([p.confidence for p in predictions])
    t_nlu = budget_threshold(confidence[by_intent], _allowed(settings.budget("intent"), n),
                             floor=FLOORS["nlu"], ceiling=CEILINGS["nlu"])
    intent_answered = by_intent & (confidence >= t_nlu)
    handed = np.array([_handed_over(p, handoff) for p in predictions])
    for_logs = np.array([p.for_logs for p in predictions]) if any(p.knowledge is not None for p in predictions) \
        else np.ones(n, bool)  # a model without the logs' class: one region
    left = ~intent_answered & ~handed
    budget = settings.budget("retrieval")
    t_foreign = budget_threshold(top[left & ~for_logs], _allowed(budget * FOREIGN_REGION_SHARE, n),
                                 floor=FLOORS["retrieval"], ceiling=CEILINGS["retrieval"])
    unsure_answered = left & ~for_logs & (top >= t_foreign)
    spent = int(unsure_answered.sum())
    t_retrieval = budget_threshold(top[left & for_logs], max(0, _allowed(budget, n) - spent),
                                   floor=FLOORS["retrieval"], ceiling=CEILINGS["retrieval"])
    t_retrieval = min(t_retrieval, t_foreign) if for_logs.any() and not for_logs.all() else t_retrieval
    log_answered = unsure_answered | (left & for_logs & (top >= t_retrieval))
    rest = left & ~log_answered & for_logs
    t_context = min(t_retrieval, budget_threshold(top[rest], _allowed(settings.budget("generation"), n),
                                                 floor=FLOORS["min_context_score"], ceiling=t_retrieval))
    generated = rest & (top >= t_context)
    margin, margin_report = _log_margin(bank, knowledge, intent_rows, answerable, t_retrieval, k)

    report["thresholds"] = {"nlu": round(t_nlu, 6), "retrieval": round(t_retrieval, 6),
                            "retrieval_foreign": round(t_foreign, 6), "min_context_score": round(t_context, 6),
                            "log_margin": margin}
    report["foreign_answered"] = {
        "intent": _rate(intent_answered), "retrieval": _rate(log_answered), "placed_with_logs": _rate(for_logs),
        "generation_at_most": _rate(generated), "handed_over": _rate(handed),
        "total_without_generation": _rate(intent_answered | log_answered),
        "total_at_most": _rate(intent_answered | log_answered | generated),
    }
    report["foreign_examples"] = {
        "intent": [{"text": texts[i], "intent": predictions[i].intent, "confidence": round(float(confidence[i]), 4)}
                   for i in np.argsort(-confidence) if intent_answered[i]][:EXAMPLES_KEPT],
        "retrieval": [{"text": texts[i], "score": round(float(top[i]), 4)}
                      for i in np.argsort(-top) if log_answered[i]][:EXAMPLES_KEPT],
        "generation": [{"text": texts[i], "score": round(float(top[i]), 4)}
                       for i in np.argsort(-top) if generated[i]][:EXAMPLES_KEPT],
    }
    report["log_over_intent"] = margin_report
    report["in_domain"] = _dev_rates(classifier, dev, answerable, t_nlu)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report, bank


def _answered_by_intent(prediction: Any, answerable: frozenset[str], handoff: Handoff | None) -> bool:
    return prediction.intent in answerable and not _handed_over(prediction, handoff)


def _handed_over(prediction: Any, handoff: Handoff | None) -> bool:
    return handoff is not None and prediction.intent in handoff.intents and prediction.confidence >= handoff.min_confidence


def _rate(mask: np.ndarray) -> dict[str, Any]:
    return {"share": round(float(mask.mean()), 4) if len(mask) else 0.0, "count": int(mask.sum())}


def _search(knowledge: "KnowledgeBase", vectors: np.ndarray, texts: list[str], k: int) -> list[list[Any]]:
    """What RetrievalPolicy.search finds: the k best answers scored by their groups."""
    from knowledge.grouping import SEARCH_WIDTH, by_answer

    return [by_answer(h, k) for h in knowledge.search_vectors(vectors, max(k, SEARCH_WIDTH), texts=texts)]


def _top_scores(knowledge: "KnowledgeBase | None", texts: list[str], k: int) -> np.ndarray:
    if knowledge is None or not len(knowledge):
        return np.full(len(texts), -1.0)
    hits = _search(knowledge, knowledge.encoder.encode(texts), texts, k)
    return np.array([h[0].score if h else -1.0 for h in hits])


def _log_margin(bank: IntentBank, knowledge: "KnowledgeBase | None", rows: Sequence[Example],
                answerable: frozenset[str], t_retrieval: float, k: int) -> tuple[float | None, dict[str, Any]]:
    """The margin the closest past question needs over the intent's closest other example; None
    without logs."""
    if knowledge is None or not len(knowledge) or not rows:
        return None, {"margin": None, "reason": "no support logs"}
    own = np.array([e.label in answerable for e in rows])
    vectors = bank.vectors
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    same = bank.labels[:, None] == bank.labels[None, :]
    closest = np.where(same, sims, -1.0).max(axis=1)
    texts = [e.text for e in rows]
    from knowledge.grouping import SEARCH_WIDTH, by_answer

    raw = knowledge.search_vectors(vectors, max(k, SEARCH_WIDTH), texts=texts)
    hits = [by_answer(h, k) for h in raw]
    # reaching the logs at all: the group score, as RetrievalPolicy; the gap: the closest single
    # past question against the closest single other example of the intent
    reach = own & (np.array([h[0].score if h else -1.0 for h in hits]) >= t_retrieval) & (closest > -1.0)
    top = np.array([h[0].score if h else -1.0 for h in raw])
    gaps = (top - closest)[reach]
    margin = budget_threshold(gaps, _allowed(MARGIN_SHARE, int(own.sum())), floor=MARGIN_FLOOR, ceiling=1.0)
    taken = [{"text": texts[i], "intent": rows[i].label, "log": hits[i][0].id, "gap": round(float(top[i] - closest[i]), 4)}
             for i in np.argsort(-(top - closest)) if reach[i]][:EXAMPLES_KEPT]
    return round(margin, 6), {"margin": round(margin, 6), "intent_examples": int(own.sum()),
                              "examples_a_log_would_take": int((gaps >= margin).sum()), "closest_calls": taken}


def _dev_rates(classifier: "TransformerClassifier", dev: Sequence[Example], answerable: frozenset[str],
               t_nlu: float) -> dict[str, Any]:
    """The NLU dev slice (never trained on) at the calibrated intent threshold."""
    intents = [e for e in dev if e.label in answerable]
    out: dict[str, Any] = {"dev_intent_examples": len(intents)}
    if intents:
        predictions = classifier.predict([e.text for e in intents])
        right = [p.intent == e.label and p.confidence >= t_nlu for p, e in zip(predictions, intents)]
        out["dev_intent_answered_right"] = round(float(np.mean(right)), 4)
        out["dev_intent_accuracy_without_threshold"] = round(
            float(np.mean([p.intent == e.label for p, e in zip(predictions, intents)])), 4)
    return out


def calibrate_step(settings: "Settings", encoder: "Encoder", foreign: "Callable[[], ForeignText]", *,
                   force: bool = False) -> "StepReport":
    """Calibrate the routes of the trained bot against its held-out foreign text. `encoder`: the
    retrieval encoder the index was built with."""
    from bot.dialogue.model import DialogueModel
    from bot.dialogue.project import data_files, find_domain
    from bot.domain import Domain
    from bot.nlu.transformer import TransformerClassifier, read_meta
    from bot.routes import ROUTES_FILE, read_calibration
    from knowledge.index import KnowledgeBase
    from training.data import files_hash
    from training.project import StepReport, nlu_examples

    s = settings
    dialogue_files = data_files(s.project)
    domain_files = [*find_domain(s.project), *sorted({*dialogue_files.rules, *dialogue_files.stories})]
    knowledge_hash = (json.loads((s.knowledge_dir / "manifest.json").read_text()).get("data_hash", "")
                      if (s.knowledge_dir / "manifest.json").exists() else "")
    data_hash = files_hash(domain_files, RECIPE, str(read_meta(s.nlu_model_dir).get("data_hash")), knowledge_hash,
                           json.dumps([s.calibration.target_foreign_rate, s.calibration.shares, s.nlu_quantize,
                                       s.retrieval_k, sorted(s.handoff.intents), s.handoff.min_intent_confidence,
                                       s.handoff.enabled]))
    previous = read_calibration(s.models_dir)
    if not force and previous is not None and previous.get("data_hash") == data_hash:
        return StepReport("routes", False, data_hash, "unchanged models: kept the calibration")
    outside = foreign()
    examples, dev = nlu_examples(s, outside)
    domain = Domain.load(s.project)
    dialogue = DialogueModel.load(s.project, domain, s.models_dir)
    answerable = frozenset(i for i in domain.intents if dialogue.answers_fresh(i))
    classifier = TransformerClassifier(s.nlu_model_dir, threads=s.torch_threads, quantize=s.nlu_quantize)
    knowledge = KnowledgeBase.load(s.knowledge_dir, encoder) if (s.knowledge_dir / "manifest.json").exists() else None
    handoff = Handoff(frozenset(s.handoff.intents), s.handoff.min_intent_confidence) if s.handoff.enabled else None
    report, bank = calibrate_routes(classifier=classifier, knowledge=knowledge, encoder=encoder,
                                    foreign=outside.calibration, examples=examples, dev=dev, answerable=answerable,
                                    handoff=handoff, settings=s.calibration, k=s.retrieval_k)
    report.update(data_hash=data_hash, foreign=outside.summary())
    s.models_dir.mkdir(parents=True, exist_ok=True)
    bank.save(s.models_dir)
    (s.models_dir / ROUTES_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return StepReport("routes", True, data_hash, describe_calibration(report))


def describe_calibration(report: dict) -> str:  # type: ignore[type-arg]
    if "thresholds" not in report:
        return str(report.get("warning", "not calibrated"))
    t, f = report["thresholds"], report["foreign_answered"]
    line = (f"on {report['foreign_messages']} held-out foreign messages: nlu.threshold {t['nlu']:.3f}, "
            f"retrieval.threshold {t['retrieval']:.3f} ({t['retrieval_foreign']:.3f} unless the model places the message "
            f"with the logs), generation.min_context_score {t['min_context_score']:.3f}; "
            f"foreign answered: intent {f['intent']['share']:.1%}, logs {f['retrieval']['share']:.1%}, "
            f"generation at most {f['generation_at_most']['share']:.1%} (target {report['target_foreign_rate']:.1%} in all)")
    dev = report.get("in_domain", {})
    if "dev_intent_answered_right" in dev:
        line += f"; dev intents answered right {dev['dev_intent_answered_right']:.1%}"
    return line
