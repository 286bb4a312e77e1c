"""`switchboard train`'s retrieval map: the linear map from the NLU model's sentence vector onto
the retrieval encoder's space (bot/nlu/projection.py), so that one forward pass serves intent,
entities, sentiment and retrieval.

Fitted by ridge regression on the bot's own texts (NLU examples, its logs' questions, the
shipped foreign training text): the NLU model as served (int8 by default) on one side, the
retrieval encoder (fine-tuned on the logs, or MiniLM) on the other. A tenth of the texts is held
out to report the fit (mean cosine between the mapped and the encoder's vectors) and how often
the closest log question to each held-out text is the same under both."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from bot.nlu.encoder import Encoder
from bot.nlu.projection import ProjectedEncoder, Projection
from training.data import files_hash, load_nlu

if TYPE_CHECKING:
    from bot.settings import Settings
    from training.foreign import ForeignText
    from training.project import StepReport

RECIPE = "retrieval-map-1:ridge"
RIDGE = 1.0
HELD_OUT = 0.1
MAX_TEXTS = 6000


def _corpus(settings: "Settings", foreign: "ForeignText") -> tuple[list[str], list[str]]:
    """(every text to fit on, the logs' questions)."""
    from knowledge.ingest import load_logs
    from training.project import project_files

    files = project_files(settings)
    own = [e.text for e in load_nlu(files["nlu"]).examples] if files["nlu"] else []
    questions = [e.question for e in load_logs(files["logs"])] if files["logs"] else []
    texts = list(dict.fromkeys(t for t in [*own, *questions, *foreign.train] if t.strip()))
    if len(texts) > MAX_TEXTS:
        texts = random.Random(13).sample(texts, MAX_TEXTS)
    return texts, list(dict.fromkeys(questions))


def retrieval_map_step(settings: "Settings", target: Encoder, foreign: "Callable[[], ForeignText]", *,
                       force: bool = False) -> tuple["StepReport", Any]:
    """Fit (or keep) the map; returns the step's report and the encoder retrieval uses: the
    ProjectedEncoder, or `target` itself when `retrieval.encoder` is `separate`."""
    from bot.nlu.transformer import TransformerClassifier, read_meta
    from training.project import StepReport

    out = settings.retrieval_map_dir
    if settings.retrieval_encoder != "nlu":
        return StepReport("retrieval map", False, "", "retrieval.encoder: separate (no map)"), target
    nlu_hash = str(read_meta(settings.nlu_model_dir).get("data_hash"))
    data_hash = files_hash([], RECIPE, nlu_hash, target.name, settings.nlu_quantize, str(RIDGE))
    classifier = TransformerClassifier(settings.nlu_model_dir, threads=settings.torch_threads,
                                       quantize=settings.nlu_quantize)
    previous = Projection.load(out)
    if not force and previous is not None and previous.meta.get("data_hash") == data_hash:
        return (StepReport("retrieval map", False, data_hash, "unchanged models: kept the map"),
                ProjectedEncoder(classifier, previous))
    started = time.perf_counter()
    texts, questions = _corpus(settings, foreign())
    pooled, wanted = classifier.sentence_vectors(texts), target.encode(texts)
    order = np.random.default_rng(13).permutation(len(texts))
    n_held = int(len(texts) * HELD_OUT)
    held, fit_rows = order[:n_held], order[n_held:]
    trial = Projection.fit(pooled[fit_rows], wanted[fit_rows], ridge=RIDGE)
    fit = _fit_report(trial, pooled[held], wanted[held], classifier, target, questions)
    projection = Projection.fit(pooled, wanted, ridge=RIDGE, nlu_hash=nlu_hash, target=target.name,
                                data_hash=data_hash, quantize=settings.nlu_quantize, texts=len(texts),
                                ridge_penalty=RIDGE, held_out=fit, seconds=round(time.perf_counter() - started, 1))
    projection.save(out)
    return (StepReport("retrieval map", True, data_hash,
                       f"on {len(texts)} texts, held-out cosine to {target.name} {fit['mean_cosine']:.3f}"
                       + (f", same closest log question {fit['same_closest_log']:.1%}" if "same_closest_log" in fit
                          else "")),
            ProjectedEncoder(classifier, projection))


def _fit_report(projection: Projection, pooled: np.ndarray, wanted: np.ndarray, classifier: Any, target: Encoder,
                questions: list[str]) -> dict[str, Any]:
    mapped = projection.apply(pooled)
    report: dict[str, Any] = {"texts": len(pooled),
                              "mean_cosine": round(float(np.mean(np.sum(mapped * wanted, axis=1))), 4)}
    if len(questions) >= 2 and len(pooled):
        log_mapped = projection.apply(classifier.sentence_vectors(questions))
        log_wanted = target.encode(questions)
        same = (mapped @ log_mapped.T).argmax(1) == (wanted @ log_wanted.T).argmax(1)
        report["same_closest_log"] = round(float(np.mean(same)), 4)
    return report

