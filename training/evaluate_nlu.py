"""`switchboard evaluate nlu`: a trained NLU model on labelled test data.

Definitions used in report.json:
- accuracy, macro_f1, per_intent: the model's top intent against the gold intent on --data,
  with no out-of-scope threshold (the classifier's own accuracy; a trained `nlu_fallback`
  class counts as an intent). `threshold_rejections` says how many of these messages the
  calibrated threshold would turn into `nlu_fallback`.
- in_scope_accuracy (with --oos): the share of --data messages given their gold intent with the
  threshold applied (a rejection counts as wrong), as on CLINC150; oos_recall: the share of
  --oos messages that come out as `nlu_fallback`; oos_operating_points: the best oos_recall any
  threshold gives at in-scope accuracies of 90, 93 and 95 % (read off the test data: what the
  score can do, not what the calibrated threshold does).
- entities (when the model has an entity head or the data annotates entities): exact span and
  type against the annotations, per entity, micro and macro (training/entity_metrics.py).
- latency_ms_p50/p95: one message at a time through `predict`, in process."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bot.domain import FALLBACK_INTENT
from bot.nlu.transformer import TransformerClassifier, in_scope_score, softmax
from training.data import Example, load_nlu
from training.nlu import labelled

LATENCY_SAMPLE = 200


def load_examples(paths: Sequence[Path]) -> list[Example]:
    """NLU files (.yml/.csv/.jsonl) or, for .txt, one message per line labelled nlu_fallback."""
    examples: list[Example] = []
    for path in paths:
        path = Path(path)
        if path.suffix == ".txt":
            lines = path.read_text(encoding="utf-8").splitlines()
            examples += [Example(line.strip(), FALLBACK_INTENT) for line in lines if line.strip()]
        else:
            examples += load_nlu([path]).examples
    return [labelled(e) for e in examples]  # retrieval intents as their base, as the model learns them


def intent_report(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    labels = sorted(set(gold) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(np.mean([g == q for g, q in zip(gold, predicted)])),
        "macro_f1": float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)),
        "per_intent": {
            label: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                    "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
    }


def confused_pairs(gold: Sequence[str], predicted: Sequence[str], top: int = 10) -> list[dict[str, Any]]:
    pairs = Counter((g, q) for g, q in zip(gold, predicted) if g != q)
    return [{"gold": g, "predicted": q, "count": n} for (g, q), n in pairs.most_common(top)]


def evaluate_model(
    model: TransformerClassifier,
    data: Sequence[Example],
    *,
    oos: Sequence[Example] = (),
    sentiment: Sequence[Example] = (),
    latency_sample: int = LATENCY_SAMPLE,
) -> tuple[dict[str, Any], list[str]]:
    """The report, and the top intent of each message of `data` (for the confusion matrix)."""
    from sklearn.metrics import f1_score

    texts = [e.text for e in data]
    gold = [e.label for e in data]
    wants_entities = bool(model.tags) or any(e.spans for e in data)
    out = model.outputs(texts, tags=wants_entities)  # one forward pass: intents and entities
    logits = out.intents
    probabilities = softmax(logits, model.temperature)
    top = [model.labels[i] for i in probabilities.argmax(1)]
    scores = in_scope_score(probabilities, model.labels)
    accepted = np.array([t != FALLBACK_INTENT for t in top]) & (scores >= model.oos_threshold)
    report: dict[str, Any] = {"examples": len(data), **intent_report(gold, top)}
    report["confused_pairs"] = confused_pairs(gold, top)
    report["threshold_rejections"] = int((~accepted & np.array([g != FALLBACK_INTENT for g in gold])).sum())
    report["oos_threshold"] = model.oos_threshold
    report["temperature"] = model.temperature
    if oos:
        in_scope = np.array([g != FALLBACK_INTENT for g in gold])
        correct = np.array([t == g for t, g in zip(top, gold)]) & accepted
        report["in_scope_accuracy"] = float(correct[in_scope].mean()) if in_scope.any() else None
        oos_logits, _ = model.logits([e.text for e in oos])
        oos_p = softmax(oos_logits, model.temperature)
        oos_scores = in_scope_score(oos_p, model.labels)
        oos_top = np.array([model.labels[i] == FALLBACK_INTENT for i in oos_p.argmax(1)])
        report["oos_examples"] = len(oos)
        report["oos_recall"] = float(np.mean(oos_top | (oos_scores < model.oos_threshold)))
        in_correct = (np.array(top) == np.array(gold)) & np.array([t != FALLBACK_INTENT for t in top])
        report["oos_curve"] = oos_curve(scores[in_scope], in_correct[in_scope], oos_scores, oos_top)
        report["oos_operating_points"] = operating_points(scores[in_scope], in_correct[in_scope], oos_scores, oos_top)
    if sentiment:
        if not model.sentiments:
            report["sentiment"] = "the model has no sentiment head"
        else:
            predictions = model.predict([e.text for e in sentiment])
            s_gold = [e.label.lower() for e in sentiment]
            s_pred = [p.sentiment.label if p.sentiment else "" for p in predictions]
            report["sentiment_examples"] = len(sentiment)
            report["sentiment_accuracy"] = float(np.mean([g == q for g, q in zip(s_gold, s_pred)]))
            report["sentiment_macro_f1"] = float(f1_score(s_gold, s_pred, average="macro", zero_division=0))
            report["sentiment_confusion"] = {f"{g}->{q}": n for (g, q), n in Counter(zip(s_gold, s_pred)).items()}
    if wants_entities:
        from training.entity_metrics import entity_report

        extracted = [model.entities(text, learned) for text, learned in zip(texts, out.entities)]
        annotated = [[{"start": s.start, "end": s.end, "entity": s.entity, "role": s.role, "group": s.group}
                      for s in e.spans] for e in data]
        report["entities"] = entity_report(annotated, extracted)
    report.update(latency(model, texts[:latency_sample]))
    return report, top


def oos_curve(in_scores: np.ndarray, in_correct: np.ndarray, oos_scores: np.ndarray,
              oos_caught: np.ndarray) -> list[dict[str, float]]:
    """In-scope accuracy and out-of-scope recall across thresholds, to show the trade-off."""
    curve = []
    for t in np.round(np.linspace(0.0, 0.95, 20), 2):
        curve.append({
            "threshold": float(t),
            "in_scope_accuracy": round(float(np.mean(in_correct & (in_scores >= t))), 4),
            "oos_recall": round(float(np.mean(oos_caught | (oos_scores < t))), 4),
        })
    return curve


OPERATING_ACCURACIES = (0.90, 0.93, 0.95)


def operating_points(in_scores: np.ndarray, in_correct: np.ndarray, oos_scores: np.ndarray, oos_caught: np.ndarray,
                     accuracies: Sequence[float] = OPERATING_ACCURACIES) -> list[dict[str, float | None]]:
    """For each in-scope accuracy asked, the best out-of-scope recall any threshold gives while
    keeping at least that accuracy (the highest such threshold: recall only grows with it). Read
    off the test set itself, so it says what a score can do, not what the calibrated threshold
    does; `threshold` None: no threshold keeps that accuracy."""
    candidates = np.unique(np.concatenate([[0.0], in_scores, oos_scores]))
    accuracy = np.array([np.mean(in_correct & (in_scores >= t)) for t in candidates])
    points: list[dict[str, float | None]] = []
    for wanted in accuracies:
        ok = np.flatnonzero(accuracy >= wanted)
        if not len(ok):
            points.append({"in_scope_accuracy_at_least": wanted, "threshold": None, "in_scope_accuracy": None,
                           "oos_recall": None})
            continue
        t = float(candidates[ok[-1]])
        points.append({"in_scope_accuracy_at_least": wanted, "threshold": round(t, 4),
                       "in_scope_accuracy": round(float(accuracy[ok[-1]]), 4),
                       "oos_recall": round(float(np.mean(oos_caught | (oos_scores < t))), 4)})
    return points


def latency(model: TransformerClassifier, texts: Sequence[str]) -> dict[str, float]:
    timings = []
    for text in texts:
        started = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - started) * 1000)
    if not timings:
        return {}
    timings.sort()
    return {
        "latency_ms_p50": round(statistics.median(timings), 2),
        "latency_ms_p95": round(timings[min(len(timings) - 1, int(0.95 * len(timings)))], 2),
    }


def plot_confusion(gold: Sequence[str], predicted: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(gold) | set(predicted))
    matrix = confusion_matrix(gold, predicted, labels=labels, normalize="true")
    size = max(6.0, 0.16 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=max(4, 9 - len(labels) // 15))
    ax.set_yticks(range(len(labels)), labels, fontsize=max(4, 9 - len(labels) // 15))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("intent confusion (rows normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_markdown(report: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", ""]
    for key in ("examples", "accuracy", "macro_f1", "threshold_rejections", "in_scope_accuracy", "oos_recall",
                "sentiment_accuracy", "sentiment_macro_f1", "latency_ms_p50", "latency_ms_p95"):
        if report.get(key) is not None:
            value = report[key]
            lines.append(f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}")
    if isinstance(report.get("entities"), dict):
        from training.entity_metrics import markdown

        lines += markdown(report["entities"])
    for point in report.get("oos_operating_points") or []:
        if point["threshold"] is not None:
            lines.append(f"- oos_recall at in-scope accuracy >= {point['in_scope_accuracy_at_least']:.2f}: "
                         f"{point['oos_recall']:.4f} (threshold {point['threshold']:.3f})")
    pairs = report.get("confused_pairs") or []
    if pairs:
        lines += ["", "Most confused intent pairs (gold -> predicted):", "", "| gold | predicted | count |", "|---|---|---|"]
        lines += [f"| {p['gold']} | {p['predicted']} | {p['count']} |" for p in pairs]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path, gold: Sequence[str], predicted: Sequence[str], title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "summary.md").write_text(summary_markdown(report, title))
    if gold:
        plot_confusion(gold, predicted, out / "confusion_matrix.png")
