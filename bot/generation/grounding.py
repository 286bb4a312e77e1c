"""The grounding check: is a generated answer supported by the retrieved context, and does it
answer the customer's question?

Support, all needed:
- similarity: the best cosine similarity between the answer and one context entry (question +
  answer), with the bot's frozen sentence encoder; that entry is the note the answer relies on;
- overlap: the share of the answer's content words that occur in the context;
- facts: every number, e-mail address and web address in the answer occurs in the context.
Relevance, both needed when the question is given:
- note relevance: the customer's question against the question of the note the answer relies
  on: an answer that repeats a note about something else ("set a 4 minute timer" answered with
  the restock note) is perfectly supported and still no answer;
- answer relevance: the customer's question against the answer itself.
An answer that declines ("I don't know") does not pass. The thresholds are calibrated on
labelled Bitext examples and foreign questions by bench/generation.py (grounding_defaults.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from bot.generation.grounding_defaults import (
    MIN_ANSWER_RELEVANCE, MIN_NOTE_RELEVANCE, MIN_OVERLAP, MIN_SIMILARITY)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FACT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b(?:https?://)?[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:/[\w./-]*)?|\d+(?:[.,]\d+)*")
_DECLINE = re.compile(r"\b(i (do not|don't|dont) know|i'm not sure|i am not sure|i (cannot|can't) (answer|help))\b", re.I)
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yes ok okay please thank thanks sure help happy glad hello hi dear let know may might must
    shall get got one us i'm i'll you're we're it's that's don't can't won't there's here's""".split()
)


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class GroundingResult:
    passed: bool
    similarity: float
    overlap: float
    unsupported: tuple[str, ...]  # facts (numbers, addresses) in the answer but not in the context
    declined: bool
    best_context: int | None  # index of the most similar context entry: the note the answer relies on
    note_relevance: float | None = None  # question vs that note's question (None: no question given)
    answer_relevance: float | None = None  # question vs the answer
    irrelevant: bool = False  # supported, but not an answer to this question

    def as_dict(self, thresholds: dict[str, float]) -> dict[str, object]:
        out: dict[str, object] = {
            "passed": self.passed,
            "similarity": round(self.similarity, 4),
            "overlap": round(self.overlap, 4),
            "unsupported_facts": list(self.unsupported),
            "declined": self.declined,
            "thresholds": dict(thresholds),
        }
        if self.note_relevance is not None and self.answer_relevance is not None:
            out.update(note_relevance=round(self.note_relevance, 4), answer_relevance=round(self.answer_relevance, 4),
                       irrelevant=self.irrelevant, relies_on=self.best_context)
        return out


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2 and not w.isdigit()]


def lexical_overlap(answer: str, context: str) -> float:
    """Share of the answer's content words (stemmed) found in the context; 0 for an empty answer."""
    words = content_words(answer)
    if not words:
        return 0.0
    known = set(content_words(context))
    return sum(w in known for w in words) / len(words)


def unsupported_facts(answer: str, context: str) -> tuple[str, ...]:
    found = {m.group(0).rstrip(".,").lower() for m in _FACT.finditer(context.lower())}
    out = []
    for match in _FACT.finditer(answer.lower()):
        fact = match.group(0).rstrip(".,")
        number = fact[:1].isdigit()  # numbers must match exactly; an address may be part of a longer one
        if fact and fact not in found and (number or not any(fact in f for f in found)):
            out.append(fact)
    return tuple(dict.fromkeys(out))


class GroundingCheck:
    def __init__(self, encoder: Embedder, *, min_similarity: float = MIN_SIMILARITY, min_overlap: float = MIN_OVERLAP,
                 min_note_relevance: float = MIN_NOTE_RELEVANCE,
                 min_answer_relevance: float = MIN_ANSWER_RELEVANCE) -> None:
        self.encoder, self.min_similarity, self.min_overlap = encoder, min_similarity, min_overlap
        self.min_note_relevance, self.min_answer_relevance = min_note_relevance, min_answer_relevance

    @property
    def thresholds(self) -> dict[str, float]:
        return {"similarity": self.min_similarity, "overlap": self.min_overlap,
                "note_relevance": self.min_note_relevance, "answer_relevance": self.min_answer_relevance}

    def scores(self, answer: str, contexts: Sequence[str]) -> tuple[float, int | None, float]:
        """(best similarity, its context index, lexical overlap). Blocking: run it off the event loop."""
        if not answer.strip() or not contexts:
            return 0.0, None, 0.0
        vectors = self.encoder.encode([answer, *contexts])
        sims = vectors[1:] @ vectors[0]
        best = int(np.argmax(sims))
        return float(sims[best]), best, lexical_overlap(answer, "\n".join(contexts))

    def relevance(self, question: str, answer: str, note_question: str) -> tuple[float, float]:
        """(question vs the relied-on note's question, question vs the answer)."""
        q, note, a = self.encoder.encode([question, note_question, answer])
        return float(q @ note), float(q @ a)

    def check(self, answer: str, contexts: Sequence[str], *, question: str | None = None,
              context_questions: Sequence[str] | None = None) -> GroundingResult:
        """`contexts`: each note's text (question + answer); with `question` and the notes' own
        `context_questions`, the answer must also be relevant to the customer's question."""
        similarity, best, overlap = self.scores(answer, contexts)
        facts = unsupported_facts(answer, "\n".join(contexts))
        declined = bool(_DECLINE.search(answer)) or not answer.strip()
        passed = (not declined and not facts and similarity >= self.min_similarity and overlap >= self.min_overlap)
        note_relevance = answer_relevance = None
        irrelevant = False
        if question is not None and context_questions is not None and best is not None and answer.strip():
            note_relevance, answer_relevance = self.relevance(question, answer, context_questions[best])
            irrelevant = note_relevance < self.min_note_relevance or answer_relevance < self.min_answer_relevance
            passed = passed and not irrelevant
        return GroundingResult(passed, similarity, overlap, facts, declined, best, note_relevance, answer_relevance,
                               irrelevant)
