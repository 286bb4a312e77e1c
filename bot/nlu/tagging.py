"""Entities learned by the fine-tuned network: BILOU tags on its word pieces, and back to Rasa's
entity objects with character offsets in the original text.

A tag names the entity with its role and group (`city|to|`), so one token head learns all three.
Training (training/finetune.py) turns annotated spans into one tag per word piece; serving
decodes the tag probabilities of each word piece into spans, widened to whole words, and maps
their values through the synonyms (Rasa's EntitySynonymMapper)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from bot.nlu.crf import CRFWeights

OUTSIDE = "O"
IGNORE = -100  # special tokens and padding: no loss
EXTRACTOR = "TransformerEntityExtractor"
MASKED = -1.0e4  # the most a label bias takes off: weight exp(-1e4), i.e. 0
# a span whose own label is masked out takes another label only if the head gives that label at
# least this share of its own label's probability on the span's words; otherwise it is dropped
PLAUSIBLE = 0.1


@dataclass(frozen=True)
class Span:
    """An annotated entity of a training example: offsets in its plain text."""

    start: int
    end: int
    entity: str
    value: str
    role: str | None = None
    group: str | None = None

    @property
    def label(self) -> str:
        return label_of(self.entity, self.role, self.group)


def label_of(entity: str, role: str | None = None, group: str | None = None) -> str:
    return f"{entity}|{role or ''}|{group or ''}"


def tag_names(labels: Sequence[str]) -> list[str]:
    """O, then B-, I-, L-, U- of each entity label (sorted: the same data gives the same head)."""
    return [OUTSIDE] + [f"{p}-{label}" for label in sorted(set(labels)) for p in "BILU"]


def token_targets(offsets: Sequence[tuple[int, int]], spans: Sequence[Span], tags: Sequence[str]) -> list[int]:
    """One tag id per word piece (`offsets` as the tokenizer gives them, (0, 0) for special
    tokens): the pieces inside a span get B/I/L (U alone), the others O. A span overlapping the
    pieces of an earlier one is skipped (one tag per piece: the sequence stays valid BILOU)."""
    index = {name: i for i, name in enumerate(tags)}
    out = [IGNORE if end <= start else index[OUTSIDE] for start, end in offsets]
    taken: set[int] = set()
    for span in spans:
        inside = [i for i, (start, end) in enumerate(offsets) if end > start and start < span.end and end > span.start]
        if f"B-{span.label}" not in index or not inside or taken & set(inside):
            continue
        taken.update(inside)
        if len(inside) == 1:
            out[inside[0]] = index[f"U-{span.label}"]
            continue
        out[inside[0]] = index[f"B-{span.label}"]
        for i in inside[1:-1]:
            out[i] = index[f"I-{span.label}"]
        out[inside[-1]] = index[f"L-{span.label}"]
    return out


WORD = re.compile(r"\w[\w'-]*")
EDGE_MIN_COUNT = 2  # seen at least this often just outside a label's spans, and never as their edge


def edge_words(examples: Iterable[tuple[str, Sequence[Span]]]) -> dict[str, dict[str, list[str]]]:
    """Words the annotations keep outside each label's spans: for a label, a word seen at least
    EDGE_MIN_COUNT times right before its spans and never as their first word is "leading" (the
    article in "the [blue mug](item)"); "trailing" likewise after the last word. Decoding strips
    them from a predicted span's edges, where a head trained on few examples tends to let them in."""
    before: dict[str, Counter[str]] = {}
    after: dict[str, Counter[str]] = {}
    first: dict[str, set[str]] = {}
    last: dict[str, set[str]] = {}
    for text, spans in examples:
        words = [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(text)]
        for span in spans:
            inside = [w for s, e, w in words if s >= span.start and e <= span.end]
            if not inside:
                continue
            first.setdefault(span.label, set()).add(inside[0])
            last.setdefault(span.label, set()).add(inside[-1])
            preceding = [w for s, e, w in words if e <= span.start]
            following = [w for s, e, w in words if s >= span.end]
            if preceding:
                before.setdefault(span.label, Counter())[preceding[-1]] += 1
            if following:
                after.setdefault(span.label, Counter())[following[0]] += 1
    edges: dict[str, dict[str, list[str]]] = {}
    for label in sorted(first):
        leading = sorted(w for w, n in before.get(label, Counter()).items()
                         if n >= EDGE_MIN_COUNT and w not in first[label])
        trailing = sorted(w for w, n in after.get(label, Counter()).items()
                          if n >= EDGE_MIN_COUNT and w not in last[label])
        if leading or trailing:
            edges[label] = {"leading": leading, "trailing": trailing}
    return edges


SHAPE_MIN_COUNT = 3  # annotations of a label, all matching its regex whole, before the regex is its shape


def entity_shapes(examples: Iterable[tuple[str, Sequence[Span]]],
                  regexes: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The regexes named like an entity that every annotated span of a label matches whole (its
    text, at least SHAPE_MIN_COUNT of them): for such a label the regex is what the entity looks
    like, so decoding fits a predicted span to the match it overlaps (fit_shape). A label with one
    annotation the regex does not match whole gets no shape: its annotations say the regex is a hint."""
    surfaces: dict[str, list[str]] = {}
    for text, spans in examples:
        for span in spans:
            surfaces.setdefault(span.label, []).append(text[span.start:span.end])
    shapes: dict[str, list[str]] = {}
    for label, found in sorted(surfaces.items()):
        patterns = [p for p in regexes.get(label.split("|")[0], ()) if _compiles(p)]
        if patterns and len(found) >= SHAPE_MIN_COUNT \
                and all(any(re.fullmatch(p, surface) for p in patterns) for surface in found):
            shapes[label] = list(patterns)
    return shapes


def fit_shape(text: str, start: int, end: int, shape: Sequence[re.Pattern[str]]) -> tuple[int, int] | None:
    """`start`..`end` become the one match of the label's shape (entity_shapes) that overlaps them:
    "email is jo@example.com" -> "jo@example.com", and a cut "jo@example" grows back. None when no
    match overlaps them (no annotation of the label ever looked so: "use" in "use jo@example.com
    for the reset"); with several, the head's span stays."""
    matches = {(m.start(), m.end()) for pattern in shape for m in pattern.finditer(text)
               if m.end() > m.start() and m.start() < end and start < m.end()}
    if not matches:
        return None
    return next(iter(matches)) if len(matches) == 1 else (start, end)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def strip_edges(text: str, start: int, end: int, edges: dict[str, list[str]] | None) -> tuple[int, int]:
    """`start`..`end` without the leading and trailing edge words of its label (edge_words), as long
    as a word remains."""
    if not edges:
        return start, end
    leading, trailing = set(edges.get("leading", ())), set(edges.get("trailing", ()))
    words = [(m.start() + start, m.end() + start, m.group().lower()) for m in WORD.finditer(text[start:end])]
    while len(words) > 1 and words[0][2] in leading:
        words.pop(0)
        start = words[0][0]
    while len(words) > 1 and words[-1][2] in trailing:
        words.pop()
        end = words[-1][1]
    return start, end


def decode(text: str, offsets: Sequence[tuple[int, int]], scores: np.ndarray, tags: Sequence[str],
           synonyms: dict[str, str] | None = None, crf: "CRFWeights | None" = None,
           edges: dict[str, dict[str, list[str]]] | None = None,
           label_bias: Mapping[str, float] | None = None,
           shapes: Mapping[str, Sequence[re.Pattern[str]]] | None = None) -> list[dict[str, Any]]:
    """Spans from per-piece tag scores (rows aligned with `offsets`; special tokens are skipped):
    the best BILOU sequence by Viterbi, with the CRF's learned transition scores when the model
    has them, else on the softmax's log-probabilities under BILOU's constraints alone, so a span
    is decoded whole with one type. Each span is widened to whole words; confidence_entity is the
    mean probability of its pieces' tags (the CRF's marginals, or the softmax). `edges`
    (edge_words) strips words the annotations always keep outside a label's spans. `label_bias`
    (bot/nlu/entity_context.py, log weights by label) retypes each decoded span: its boundaries
    stay the head's, its type is the label of most probability times weight. `shapes` (entity_shapes,
    compiled) fit a label's spans to its regex's match."""
    from bot.nlu.crf import CRFWeights, marginals, viterbi

    rows = [i for i, (start, end) in enumerate(offsets) if end > start]
    if not rows or len(tags) < 2:
        return []
    emissions = np.asarray(scores, np.float64)[rows]
    if crf is not None:
        path = viterbi(emissions, crf)
        probabilities = marginals(emissions, crf)
    else:
        shifted = emissions - emissions.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        path = viterbi(log_p, CRFWeights.build(tags))
        probabilities = np.exp(log_p)
    retyping = _Retyping.build(tags, label_bias) if label_bias else None
    spans: list[tuple[int, int, str, list[float]]] = []
    current: tuple[int, int, str, list[float]] | None = None
    pieces: list[int] = []  # the current span's rows of `probabilities`
    for k, (row, tag_id) in enumerate(zip(rows, path)):
        start, end = offsets[row]
        tag, p = tags[tag_id], float(probabilities[k][tag_id])
        prefix, _, label = tag.partition("-")
        if prefix in ("B", "U") or current is None and prefix in ("I", "L"):
            current, pieces = (start, end, label, [p]), [k]
        elif prefix in ("I", "L") and current is not None:
            current, pieces = (current[0], end, current[2], current[3] + [p]), pieces + [k]
        if prefix in ("L", "U") and current is not None:
            typed = _retyped(current, probabilities[pieces], retyping) if retyping else current
            if typed is not None:
                spans.append(typed)
            current = None
        if tag == OUTSIDE:
            current = None
    mapping = {k.lower(): v for k, v in (synonyms or {}).items()}
    found: list[dict[str, Any]] = []
    for start, end, label, ps in _merge_pieces(text, spans):
        start, end = _whole_words(text, start, end)
        start, end = _trim(text, start, end)
        start, end = _trim(text, *strip_edges(text, start, end, (edges or {}).get(label)))
        if shapes and label in shapes:
            fitted = fit_shape(text, start, end, shapes[label])
            if fitted is None:
                continue
            start, end = fitted
        if end <= start or any((f["start"], f["end"]) == (start, end) for f in found):
            continue
        surface = text[start:end]
        entity, role, group = (label.split("|") + ["", ""])[:3]
        item: dict[str, Any] = {"entity": entity, "start": start, "end": end,
                                "confidence_entity": round(float(np.mean(ps)), 6), "value": surface,
                                "extractor": EXTRACTOR}
        if role:
            item["role"] = role
        if group:
            item["group"] = group
        if surface.lower() in mapping:
            item["value"] = mapping[surface.lower()]
            item["processors"] = ["EntitySynonymMapper"]
        found.append(item)
    return found


@dataclass(frozen=True)
class _Retyping:
    """What retyping needs, built once per message: the labels (sorted), a 0/1 matrix from tag
    columns to labels, and each label's weight exp(bias)."""

    labels: tuple[str, ...]
    members: np.ndarray  # (tags, labels)
    weights: np.ndarray  # (labels,)
    masked: np.ndarray  # (labels,) bool: the bias takes the label out

    @classmethod
    def build(cls, tags: Sequence[str], label_bias: Mapping[str, float]) -> "_Retyping":
        labels = tuple(sorted({tag.partition("-")[2] for tag in tags if tag != OUTSIDE}))
        column = {label: j for j, label in enumerate(labels)}
        members = np.zeros((len(tags), len(labels)))
        for k, tag in enumerate(tags):
            if tag != OUTSIDE:
                members[k, column[tag.partition("-")[2]]] = 1.0
        biases = [label_bias.get(label, 0.0) for label in labels]
        return cls(labels, members, np.array([math.exp(max(b, MASKED)) for b in biases]),
                   np.array([b <= MASKED for b in biases], bool))


def _retyped(span: tuple[int, int, str, list[float]], probabilities: np.ndarray,
             retyping: _Retyping) -> tuple[int, int, str, list[float]] | None:
    """The span's type chosen again: each label's probability on the span's pieces (the mean of
    its tags' summed marginals) times exp(its bias); the span stays where the head put it. None
    when every label is masked out, or when the head's own label is masked out and the best label
    left has under PLAUSIBLE of its probability (a show time in a conversation about movies, whose
    family has no time label, is no entity rather than a movie name)."""
    mass = probabilities @ retyping.members  # (pieces, labels)
    means = mass.mean(axis=0)
    weighted = means * retyping.weights
    best = int(np.argmax(weighted))  # ties go to the first label in sorted order
    if weighted[best] <= 0.0:
        return None
    own = retyping.labels.index(span[2])
    if best == own:
        return span
    if retyping.masked[own] and means[best] < PLAUSIBLE * means[own]:
        return None  # the head's label is masked out and no allowed label fits the words: no entity
    return span[0], span[1], retyping.labels[best], [float(p) for p in mass[:, best]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """A span does not start or end on whitespace or on punctuation that ends a sentence or
    quotes it ("Lisbon." -> "Lisbon"); punctuation inside it ("NW-10003", "St. Louis") stays."""
    edge = " \t\n.,;:!?\"'()[]"
    while start < end and text[start] in edge:
        start += 1
    while end > start and text[end - 1] in edge:
        end -= 1
    return start, end


def _merge_pieces(text: str, spans: list[tuple[int, int, str, list[float]]]) -> list[tuple[int, int, str, list[float]]]:
    """Two spans of one label inside one word (a word split in pieces the head tagged apart) are one."""
    merged: list[tuple[int, int, str, list[float]]] = []
    for span in spans:
        if merged and merged[-1][2] == span[2] and merged[-1][1] == span[0] and span[0] > 0 \
                and text[span[0] - 1].isalnum() and text[span[0]].isalnum():
            last = merged.pop()
            span = (last[0], span[1], span[2], last[3] + span[3])
        merged.append(span)
    return merged


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end
