"""Fine-tune all-MiniLM-L6-v2 end to end with an intent head, a sentiment head and, when the
data annotates entities, a token head for them (BILOU tags, bot/nlu/tagging.py).

Recipe (chosen on BANKING77 and airline tweets, see bench/results/nlu.md): mean pooling, heads
started from logistic regressions on the frozen encoder (LP-FT), AdamW with linear warm-up then
decay, the word-embedding table
frozen (it holds half the weights and barely moves at these learning rates), batches of
similar length, and multi-task steps: every other intent batch is followed by a sentiment
batch (`sentiment_share`), a fresh shuffle of the sentiment data each epoch. Early stopping on
a held-out slice of train keeps the best epoch; training/nlu.py then adds the TF-IDF partner.
Seeded: the same data and settings give the same model on the same machine."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from training import entity_training
from training.data import Example
from training.incremental import Incremental, check_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FineTuneConfig:
    epochs: int = 3  # for large data; small data gets more epochs (see `min_steps`)
    # small data sets train for at least this many steps ... (a bot's data always holds ~1,200
    # foreign messages: against 400, 160 cost the shop 2 of its 191 held-out intent questions,
    # answered 0.7 points fewer foreign questions, and cut its fine-tuning from 141 s to 89 s)
    min_steps: int = 160
    max_epochs: int = 30  # ... but never more epochs than this
    learning_rate: float = 1e-4
    head_lr_multiplier: float = 1.0
    entity_lr_multiplier: float = 20.0  # the token head starts from nothing (the others from a linear probe)
    entity_crf: bool = True  # a CRF over the BILOU tags (bot/nlu/crf.py): spans decoded whole, one type each
    # the tag loss also has a per-piece cross-entropy weighing each tag by (1 / its count) ** this, so a
    # few annotated examples among thousands of plain ones are learned early (0: no such term)
    entity_class_balance: float = 0.5
    # data with many entity annotations trains at least this many epochs (on SGD's 5,205 spans the dev
    # entity F1 still rose at epoch 3: 0.34, 0.55, 0.65); a few annotations learn early enough
    entity_epochs: int = 6
    entity_epochs_min_spans: int = 1000
    min_dev_spans: int = 20  # the dev slice's entity F1 joins the early-stopping score only with this many spans
    linear_probe: bool = True  # start the heads from logistic regressions on the frozen encoder (LP-FT)
    batch_size: int = 32
    max_length: int = 64
    warmup: float = 0.06
    weight_decay: float = 0.01
    sentiment_share: float = 0.5  # sentiment batches per intent batch, at most (each epoch reshuffles)
    patience: int = 2  # epochs without improvement on the dev slice before stopping
    dev_fraction: float = 0.1
    freeze_embeddings: bool = True
    # intent loss weight per class ~ (1 / its examples) ** class_balance, so a few examples of an
    # intent are not drowned by thousands of foreign or support-log ones (0: plain cross-entropy)
    class_balance: float = 0.5
    seed: int = 13
    threads: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FineTuned:
    net: Any  # IntentSentimentNet
    tokenizer: Any
    labels: list[str]
    sentiments: list[str]
    tags: list[str] = field(default_factory=list)  # the entity head's BILOU tags (bot/nlu/tagging.py); [] without one
    featurize: Any = None  # the pattern features the entity head reads (bot/nlu/patterns.py), or None
    min_dev_spans: int = 20
    responses: list[str] = field(default_factory=list)  # retrieval intents' full names (the response head)
    intent_parts: list[list[str]] = field(default_factory=list)  # multi-intent labels' intents; [] without
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    epochs: int = 0  # planned (early stopping may end sooner)
    seconds: float = 0.0


def stratified_split(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of each label's examples (none from labels with fewer than 5)."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example)
    train, dev = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_dev = int(round(len(group) * fraction)) if len(group) >= 5 else 0
        dev += group[:n_dev]
        train += group[n_dev:]
    return train, dev


def _batches(n: int, texts: Sequence[str], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort chunks of 50 batches by length, cut,
    shuffle the batches."""
    order = list(range(n))
    rng.shuffle(order)
    chunk = size * 50
    batches: list[list[int]] = []
    for start in range(0, n, chunk):
        part = sorted(order[start : start + chunk], key=lambda i: len(texts[i]))
        batches += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(batches)
    return batches


def _dev_score(ft: FineTuned, dev: Sequence[Example], sentiment_dev: Sequence[Example], max_length: int) -> dict[str, float]:
    from sklearn.metrics import f1_score

    from bot.nlu.network import batch_logits

    scores: dict[str, float] = {}
    losses: list[float] = []
    if dev:
        logits, _ = batch_logits(ft.net, ft.tokenizer, [e.text for e in dev], max_length=max_length)
        targets = [ft.labels.index(e.label) for e in dev]
        scores["intent_accuracy"] = float(np.mean(logits.argmax(1) == np.array(targets)))
        losses.append(_nll(logits, targets))
    if sentiment_dev and ft.sentiments:
        _, s_logits = batch_logits(ft.net, ft.tokenizer, [e.text for e in sentiment_dev], max_length=max_length)
        assert s_logits is not None
        predicted = [ft.sentiments[i] for i in s_logits.argmax(1)]
        scores["sentiment_macro_f1"] = float(f1_score([e.label for e in sentiment_dev], predicted, average="macro"))
        losses.append(_nll(s_logits, [ft.sentiments.index(e.label) for e in sentiment_dev]))
    if dev and ft.tags and sum(len(e.spans) for e in dev) >= ft.min_dev_spans:
        scores["entity_f1"] = entity_training.entity_f1(ft, dev, max_length)
    values = [scores[k] for k in ("intent_accuracy", "sentiment_macro_f1", "entity_f1") if k in scores]
    scores["score"] = float(np.mean(values)) if values else 0.0
    scores["loss"] = float(np.mean(losses)) if losses else 0.0
    return scores


def intent_parts(labels: Sequence[str], split: str | None) -> list[list[str]]:
    """Each label's intents when multi-intent labels are split (`greet+ask_weather` by `+`), or []
    when no label has more than one (a plain head)."""
    from bot.nlu.transformer import NOT_INTENTS

    if not split:
        return []
    parts = [[label] if label in NOT_INTENTS else [p for p in label.split(split) if p] or [label] for label in labels]
    return parts if any(len(p) > 1 for p in parts) else []


def _response_loss(net: Any, pooled: Any, rows: list[int], train: Sequence[Example], responses: list[str]) -> Any:
    import torch

    picked = [j for j, i in enumerate(rows) if train[i].retrieval]
    if not picked:
        return pooled.sum() * 0.0
    logits = net.response_logits(pooled[picked])
    targets = torch.tensor([responses.index(train[rows[j]].retrieval or "") for j in picked])
    return torch.nn.functional.cross_entropy(logits, targets)


def _nll(logits: np.ndarray, targets: list[int]) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(targets)), targets].mean())


def class_weights(targets: np.ndarray, n_labels: int, power: float) -> Any:
    """Per-class loss weights (1 / count) ** power, scaled so the average example weighs 1."""
    import torch

    if power <= 0:
        return None
    counts = np.bincount(targets, minlength=n_labels).astype(np.float64)
    weights = np.where(counts > 0, (1.0 / np.maximum(counts, 1.0)) ** power, 0.0)
    weights *= len(targets) / float((weights * counts).sum())
    return torch.tensor(weights, dtype=torch.float32)


def _better(scores: dict[str, float], best: dict[str, float] | None) -> bool:
    """Higher dev score wins; on a tie (small dev slices often sit at 100 %), lower dev loss."""
    if best is None:
        return True
    if scores["score"] > best["score"] + 1e-4:
        return True
    return scores["score"] >= best["score"] - 1e-4 and scores["loss"] < best["loss"] - 1e-4


def _linear_probe(net: Any, tokenizer: Any, texts: list[str], targets: np.ndarray, s_texts: list[str],
                  s_targets: np.ndarray | None, config: FineTuneConfig,
                  responses: tuple[list[str], np.ndarray] | None = None) -> None:
    """LP-FT (Kumar et al., 2022): fit each head as a logistic regression on the pre-trained
    encoder's pooled vectors first, so fine-tuning starts from a good head and distorts the
    pre-trained features less."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from bot.nlu.network import length_sorted_batches

    def pooled(items: list[str]) -> np.ndarray:
        out = np.zeros((len(items), net.intent_head.in_features), np.float32)
        net.eval()
        with torch.inference_mode():
            for rows in length_sorted_batches(items, 128):
                batch = tokenizer([items[i] for i in rows], padding=True, truncation=True,
                                  max_length=config.max_length, return_tensors="pt")
                out[rows] = net.pool(batch).numpy()
        net.train()
        return out

    heads = [(net.intent_head, texts, targets)]
    if net.sentiment_head is not None and s_targets is not None:
        heads.append((net.sentiment_head, s_texts, s_targets))
    if net.response_head is not None and responses is not None:
        heads.append((net.response_head, responses[0], responses[1]))
    for head, items, y in heads:
        present = np.unique(y)
        if len(present) < 2:
            continue
        probe = LogisticRegression(C=1.0, max_iter=1000, random_state=config.seed).fit(pooled(items), y)
        coef, intercept = probe.coef_, probe.intercept_
        if len(present) == 2:
            coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        weight = np.zeros(tuple(head.weight.shape), np.float32)
        bias = np.full(head.out_features, -10.0, np.float32)  # a class the data lacks stays unlikely
        weight[present], bias[present] = coef, intercept
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(weight))
            head.bias.copy_(torch.from_numpy(bias))


def fine_tune(
    train: Sequence[Example],
    dev: Sequence[Example],
    *,
    sentiment_train: Sequence[Example] = (),
    sentiment_dev: Sequence[Example] = (),
    config: FineTuneConfig = FineTuneConfig(),
    progress: bool = True,
    patterns: Any = None,
    intent_split: str | None = None,
    incremental: "Incremental | None" = None,
) -> FineTuned:
    """Train on `train` (+ `sentiment_train`); after each epoch score the dev slices and keep
    the best weights; stop after `patience` epochs without improvement. `patterns`: the
    PatternFeatures (bot/nlu/patterns.py) whose per-piece features the entity head reads;
    `intent_split`: the multi-intent symbol (`+`) when config.yml's tokenizer sets one;
    `incremental`: go on from a trained model (training/incremental.py) instead of the base."""
    import torch
    from tqdm import tqdm

    from bot.nlu.network import TagHead, load_base, load_trained

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    labels = sorted({e.label for e in train})
    sentiments = sorted({e.label for e in sentiment_train})
    from bot.nlu.tagging import tag_names

    entity_labels = sorted({span.label for e in train for span in e.spans})
    tags = tag_names(entity_labels) if entity_labels else []
    n_features = patterns.size if tags and patterns is not None and patterns.size else 0
    featurize = patterns.piece_features if n_features else None
    responses = sorted({e.retrieval for e in train if e.retrieval})
    parts = intent_parts(labels, intent_split)
    names = sorted({p for label_parts in parts for p in label_parts})
    head_sizes: dict[str, Any] = dict(responses=len(responses),
                                      intent_parts=[[names.index(p) for p in ps] for ps in parts] if parts else None)
    tagging = TagHead(len(tags), n_features, config.entity_crf)
    if incremental is not None:
        check_labels(incremental.meta(), labels=labels, sentiments=sentiments, tags=tags, responses=responses,
                     parts=parts, features=n_features)
        net, tokenizer = load_trained(incremental.base, len(labels), len(sentiments), tagging, **head_sizes)
    else:
        net, tokenizer = load_base(len(labels), len(sentiments), tagging, **head_sizes)
    ft = FineTuned(net, tokenizer, labels, sentiments, tags, featurize, min_dev_spans=config.min_dev_spans,
                   responses=responses, intent_parts=parts)
    response_rows = [i for i, e in enumerate(train) if e.retrieval]
    response_targets = torch.tensor([responses.index(train[i].retrieval or "") for i in response_rows]) \
        if response_rows else None
    tag_data = entity_training.tag_data(tokenizer, train, tags, config.max_length, featurize, config.entity_class_balance) \
        if tags else None
    if config.freeze_embeddings:
        for parameter in net.encoder.embeddings.word_embeddings.parameters():
            parameter.requires_grad = False
    texts = [e.text for e in train]
    targets = torch.tensor([labels.index(e.label) for e in train])
    class_weight = class_weights(targets.numpy(), len(labels), config.class_balance)
    s_texts = [e.text for e in sentiment_train]
    s_targets = torch.tensor([sentiments.index(e.label) for e in sentiment_train]) if sentiments else None
    if config.linear_probe and incremental is None:  # a trained model's heads are trained already
        _linear_probe(net, tokenizer, texts, targets.numpy(), s_texts,
                      s_targets.numpy() if s_targets is not None else None, config,
                      ([texts[i] for i in response_rows], response_targets.numpy()) if response_targets is not None
                      else None)

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    spans = sum(len(e.spans) for e in train)
    least = max(config.epochs, config.entity_epochs) if spans >= config.entity_epochs_min_spans else config.epochs
    epochs = min(config.max_epochs, max(least, math.ceil(config.min_steps / steps_per_epoch)))
    if incremental is not None:
        epochs = incremental.epochs(epochs)
    ft.epochs = epochs
    total = steps_per_epoch * epochs
    # small data sets train for many short epochs and a small dev slice is often perfect early:
    # the best epoch is chosen (and training stopped) only from 30 % of the epochs on
    min_epochs = max(1, math.ceil(0.3 * epochs)) if epochs > config.epochs else 1
    heads = [p for n, p in net.named_parameters()
             if not n.startswith(("encoder.", "entity_head.", "entity_crf.")) and p.requires_grad]
    body = [p for n, p in net.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    tagger = [p for n, p in net.named_parameters() if n.startswith(("entity_head.", "entity_crf."))]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": config.learning_rate},
         {"params": heads, "lr": config.learning_rate * config.head_lr_multiplier},
         {"params": tagger, "lr": config.learning_rate * config.entity_lr_multiplier}],
        weight_decay=config.weight_decay,
    )
    warmup = max(1, int(config.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
    )

    def encode(batch_texts: list[str]) -> dict[str, Any]:
        return tokenizer(batch_texts, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")

    best: dict[str, float] | None = None
    best_state, stale = None, 0
    bar = tqdm(total=total, desc="fine-tuning", unit="step", disable=not progress, mininterval=2.0)
    net.train()
    for epoch in range(epochs):
        s_batches = _batches(len(s_texts), s_texts, config.batch_size, rng) if s_texts else []
        s_batches = s_batches[: math.ceil(config.sentiment_share * steps_per_epoch)]
        s_every = max(1, round(1 / config.sentiment_share)) if config.sentiment_share > 0 else 0
        for step, rows in enumerate(_batches(len(texts), texts, config.batch_size, rng)):
            hidden, pooled = net.encode(encode([texts[i] for i in rows]))
            loss = torch.nn.functional.cross_entropy(net.intent_logits(pooled), targets[rows], weight=class_weight)
            if tag_data is not None:  # the entity head learns from the same pass
                loss = loss + entity_training.tag_loss(net, hidden, rows, tag_data, config)
            if response_targets is not None:  # and the response head, on the retrieval intents' rows
                loss = loss + _response_loss(net, pooled, rows, train, responses)
            if s_every and step % s_every == 0 and step // s_every < len(s_batches) and s_targets is not None:
                s_rows = s_batches[step // s_every]
                s_logits = net.sentiment_logits(net.pool(encode([s_texts[i] for i in s_rows])))
                assert s_logits is not None
                loss = loss + torch.nn.functional.cross_entropy(s_logits, s_targets[s_rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + heads + tagger, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", refresh=False)
        if not (dev or sentiment_dev):  # nothing to stop on: train all epochs
            ft.best_epoch = epoch + 1
            continue
        if epoch + 1 < min_epochs:
            continue
        scores = _dev_score(ft, dev, sentiment_dev, config.max_length)
        ft.history.append({"epoch": epoch + 1, **scores, "seconds": round(time.perf_counter() - started, 1)})
        log.info("epoch %d: %s", epoch + 1, scores)
        if _better(scores, best):
            best, stale, ft.best_epoch = scores, 0, epoch + 1
            best_state = copy.deepcopy(net.state_dict()) if epoch + 1 < epochs else None
        else:
            stale += 1
            if stale >= config.patience:
                log.info("early stop after epoch %d: best was epoch %d", epoch + 1, ft.best_epoch)
                break
    bar.close()
    if best_state is not None and ft.history and ft.best_epoch != ft.history[-1]["epoch"]:
        net.load_state_dict(best_state)
    net.eval()
    ft.seconds = time.perf_counter() - started
    return ft
