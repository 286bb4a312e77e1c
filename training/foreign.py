"""Foreign text: messages the bot was never meant to answer, to train and calibrate "I don't know".

Switchboard ships a corpus of out-of-domain messages written for the project (training/foreign/,
Apache-2.0 like the rest): other industries' customer service (banks, airlines, telecoms,
utilities), assistant commands, general knowledge, cooking, health, chit-chat and noise. A
project adds its own in `data/out_of_scope*.txt` (one message per line) and leaves out shipped
topics that are its own business (`calibration.exclude_topics: [banking]` for a bank's bot).

Shipped messages too close to the bot's own data (cosine >= `max_similarity` to an intent
example or a support-log question) are dropped and counted: a shop that sells cookware must
not learn that "can I put this pan in the oven" is foreign. The rest is split in two:
- the training topics teach the NLU model what foreign looks like (label `nlu_fallback`): the
  hard negatives (WHOLE_TOPICS: a shop's verbs, cancel, pay, reset, how long, on a bank's or
  another business's things) always whole, a stable hash sample of the others up to MAX_TRAIN;
- the calibration topics (CALIBRATION_TOPICS) are held out whole to set every route's threshold
  (training/routes.py). They were written apart from the training topics, in other words and
  close to what a shop hears (bank cards and transfers, airline passengers, other shops,
  bookings), so the calibration measures foreign text of a phrasing the model never saw: a
  random third of the same files measured only how well the model remembers its own corpus
  (0.9 % of it reached an intent, against 5 % of real bank customers' questions).
A project's own foreign messages are split by a hash of the text: a third for calibration."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.nlu.encoder import Encoder

CORPUS_DIR = Path(__file__).parent / "foreign"
CALIBRATION_TOPICS = frozenset({"airline_passengers", "banking_cards", "bookings_services", "other_shops"})
CALIBRATION_SHARE = 1 / 3  # of the project's own foreign messages
# shipped training-topic messages kept (picked by a hash of the text, so a stable sample): enough
# to learn what foreign looks like; more costs training time (each is ~16 tokens)
MAX_TRAIN = 1200
# hard negatives: a shop's verbs on other businesses' things; always taught whole, the sample fills the rest
WHOLE_TOPICS = frozenset({"keyword_contrast", "bank_words_on_shop_verbs"})
MAX_SIMILARITY = 0.8  # a shipped message this close to the bot's own data is not foreign to it


@dataclass
class ForeignText:
    train: list[str] = field(default_factory=list)  # taught to the NLU model as nlu_fallback
    calibration: list[str] = field(default_factory=list)  # held out: sets the route thresholds
    topics: dict[str, int] = field(default_factory=dict)  # shipped topic -> messages kept
    project: int = 0  # messages from the project's data/out_of_scope*.txt
    dropped_near_own_data: list[str] = field(default_factory=list)
    excluded_topics: tuple[str, ...] = ()

    def summary(self) -> dict[str, object]:
        return {
            "train": len(self.train), "calibration": len(self.calibration), "topics": self.topics,
            "project_messages": self.project, "excluded_topics": list(self.excluded_topics),
            "dropped_near_own_data": len(self.dropped_near_own_data),
        }


def shipped_topics(corpus: Path = CORPUS_DIR) -> list[str]:
    return sorted(p.stem for p in corpus.glob("*.txt"))


def read_lines(path: Path) -> list[str]:
    """Messages of a text file: one per line; blank lines and lines starting with '#' skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def project_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("out_of_scope*.txt"))


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.strip().lower().encode("utf-8")).digest()[:8], "big")


def in_calibration(text: str, share: float = CALIBRATION_SHARE) -> bool:
    """A stable split: the same message always lands on the same side, whatever else changes."""
    return _digest(text) / 2**64 < share


def load_foreign(
    own_texts: Sequence[str], encoder: "Encoder | None", *, data_dir: Path | None = None,
    exclude_topics: Iterable[str] = (), max_similarity: float = MAX_SIMILARITY, corpus: Path = CORPUS_DIR,
    max_train: int = MAX_TRAIN,
) -> ForeignText:
    """The shipped corpus (less `exclude_topics` and the messages close to `own_texts`) plus the
    project's own foreign messages, split into train and calibration."""
    excluded = tuple(sorted(set(exclude_topics)))
    unknown = sorted(set(excluded) - set(shipped_topics(corpus)))
    if unknown:
        raise ConfigError(f"calibration.exclude_topics: unknown topics {unknown}; shipped: {shipped_topics(corpus)}")
    result = ForeignText(excluded_topics=excluded)
    seen: set[str] = {t.strip().lower() for t in own_texts}
    shipped: list[tuple[str, str]] = []
    for topic in shipped_topics(corpus):
        if topic in excluded:
            continue
        for line in read_lines(corpus / f"{topic}.txt"):
            if line.lower() not in seen:
                seen.add(line.lower())
                shipped.append((topic, line))
    whole = [pair for pair in shipped if pair[0] in WHOLE_TOPICS]
    training = sorted((pair for pair in shipped if pair[0] not in CALIBRATION_TOPICS | WHOLE_TOPICS),
                      key=lambda pair: _digest(pair[1]))
    shipped = [pair for pair in shipped if pair[0] in CALIBRATION_TOPICS] + whole + training[:max(0, max_train - len(whole))]
    near = _near_own_data([t for _, t in shipped], own_texts, encoder, max_similarity)
    for (topic, line), close in zip(shipped, near):
        if close:
            result.dropped_near_own_data.append(line)
            continue
        result.topics[topic] = result.topics.get(topic, 0) + 1
        (result.calibration if topic in CALIBRATION_TOPICS else result.train).append(line)
    for path in project_files(data_dir) if data_dir is not None else []:
        for line in read_lines(path):  # the project's own: never dropped, the owner knows best
            if line.lower() not in seen:
                seen.add(line.lower())
                result.project += 1
                (result.calibration if in_calibration(line) else result.train).append(line)
    return result


def _near_own_data(texts: Sequence[str], own: Sequence[str], encoder: "Encoder | None", limit: float) -> list[bool]:
    if encoder is None or not texts or not own:
        return [False] * len(texts)
    foreign = encoder.encode(list(texts))
    mine = encoder.encode(list(own))
    best = (foreign @ mine.T).max(axis=1)
    return [bool(score >= limit) for score in best]
