"""Multi-turn support transcripts -> question/answer entries.

Two JSONL shapes are understood (both may appear in one file):

(a) one record per turn pair: `{"question", "answer", "conversation_id", "turn", "intent"?, ...}`;
    records are grouped by conversation and ordered by turn.
(b) one record per conversation: `{"conversation_id" | "id", "intent"?, "turns": [{"role", "text"}, ...]}`;
    each run of customer turns is paired with the agent turns that follow it.

Pairs that carry no reusable knowledge are skipped: greetings, thanks, goodbyes, confirmations
("Yes please", "That's all"), closings from the agent ("Have a nice day.", "Anything else?") and
customer fragments that only make sense in context ("In checking.", "To Amir.").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, MutableMapping

from bot.errors import ConfigError
from bot.jsonl import read_jsonl
from knowledge.base import Entry

CUSTOMER_ROLES = frozenset({"customer", "user", "client", "human"})
AGENT_ROLES = frozenset({"agent", "assistant", "bot", "support"})
IGNORED_ROLES = frozenset({"system", "note", "event"})

# Words that carry no request of their own: a question made only of these is small talk.
_SMALL_TALK_WORDS = frozenset(
    """
    hi hello hey hiya howdy greetings good morning afternoon evening day night there
    thanks thank thx ty you so very much lot lots bunch again alot much appreciated appreciate it
    for your the a an help helping assistance support that this that's thats it it's its is was
    be been will would should do does did done i i'm im i'll we me my you're you've
    yes yeah yep yup ya sure surely certainly absolutely of course definitely indeed
    no nope nah not now right now thanks anything else nothing more all that's everything
    ok okay k kk alright all right fine good great cool perfect awesome excellent wonderful
    terrific nice lovely super sounds sound works work correct exactly confirmed confirm
    agreed understood understand see gotcha got noted makes sense true
    please pls go ahead proceed continue then just what want need wanted needed for today
    bye goodbye cheers later take care have see ya
    and or but well oh ah hmm um uh also too don't dont didn't doesn't
    accurate seems seem looks look noted info information details said spot on guess approved
    alrighty same enough set fine helpful you've
    """.split()
)
# Agent turns made only of these words are pleasantries: "Have a nice day.", "Anything else?".
_CLOSING_WORDS = frozenset(
    """
    have a an the good great nice wonderful fantastic lovely awesome pleasant day one time evening
    night weekend rest of ahead enjoy your is there anything else something i i'm am we can could
    help you with do for assist assistance need any more other further what may would like glad
    happy to welcome you're my pleasure take care bye goodbye thank thanks again okay ok alright
    cheers today then it was be will that's all else
    """.split()
)
_PREPOSITIONS = frozenset("in to for from with via at on by into around about".split())
_DETERMINERS = frozenset("my the a an some something just only".split())
_VERBISH = frozenset(
    """is are was were am be been has have had do does did can can't cannot could will won't would
    need needs want wants got get gets lost stolen broken isn't wasn't doesn't didn't don't
    haven't hasn't shows says""".split()
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9$€£]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))


def is_small_talk(question: str) -> bool:
    """A customer turn made only of greetings, thanks, goodbyes and confirmations."""
    words = _words(question)
    return not words or all(w in _SMALL_TALK_WORDS for w in words)


def is_fragment(question: str) -> bool:
    """A customer turn too short to stand alone: fewer than three words, or a short slot value
    that answers the agent's question ("To Diego, please.", "My checking account.")."""
    words = _words(question)
    if len(question.split()) < 3 or len(words) < 3:
        return True
    if len(words) > 4 or "?" in question:
        return False
    if words[0] in _PREPOSITIONS:
        return True
    return words[0] in _DETERMINERS and not any(w in _VERBISH or w.endswith("ed") for w in words)


def is_closing(answer: str) -> bool:
    """An agent turn made only of pleasantries ("Have a nice day.", "Anything else?")."""
    words = _words(re.sub(r"\bno problem\b", "", answer, flags=re.IGNORECASE))
    return all(w in _CLOSING_WORDS for w in words)


def keep_pair(question: str, answer: str) -> bool:
    return not (is_small_talk(question) or is_fragment(question) or is_closing(answer))


def _turn_number(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: `turn` must be an integer, not {value!r}") from None


def _pairs_from_turns(record: dict[str, Any], where: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(question, answer, first customer turn) for each customer run followed by agent turns."""
    turns = record["turns"]
    if not isinstance(turns, list):
        raise ConfigError(f"{where}: `turns` must be a list")
    pairs: list[tuple[str, str, dict[str, Any]]] = []
    asked: list[dict[str, Any]] = []
    answered: list[str] = []

    def flush() -> None:
        if asked and answered:
            pairs.append((" ".join(str(t.get("text") or "").strip() for t in asked), " ".join(answered), asked[0]))
        asked.clear()
        answered.clear()

    for n, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ConfigError(f"{where}: turn {n} must be an object")
        role = str(turn.get("role") or turn.get("speaker") or "").strip().lower()
        text = str(turn.get("text") or turn.get("content") or "").strip()
        if role in CUSTOMER_ROLES:
            if answered:
                flush()
            asked.append({**turn, "text": text})
        elif role in AGENT_ROLES:
            if asked:
                answered.append(text)
        elif role not in IGNORED_ROLES:
            raise ConfigError(f"{where}: turn {n} has unknown role {role!r} (customer/user or agent/assistant/bot)")
    flush()
    return pairs


def load_transcripts(path: Path, *, stats: MutableMapping[str, int] | None = None) -> list[Entry]:
    """Question -> answer entries from a JSONL transcript file. When `stats` is given it counts
    `read` (pairs found), `transcripts_pairs` (pairs kept), `skipped_small_talk` and `skipped_empty`."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"transcript file {path} does not exist")
    conversations: dict[str, list[tuple[int, str, str, dict[str, Any], str]]] = {}
    for n, record in read_jsonl(path):
        where = f"{path}:{n}"
        conv = str(record.get("conversation_id") or record.get("id") or "").strip()
        if not conv:
            raise ConfigError(f"{where}: a transcript record needs a conversation_id")
        if "turns" in record:
            pairs = _pairs_from_turns(record, where)
            found = [(i, q, a, {**record, **turn}, where) for i, (q, a, turn) in enumerate(pairs)]
        elif "turn" in record:
            question, answer = str(record.get("question") or "").strip(), str(record.get("answer") or "").strip()
            found = [(_turn_number(record["turn"], where), question, answer, record, where)]
        else:
            raise ConfigError(f"{where}: a transcript record needs `turns`, or `turn` with `question` and `answer`")
        conversations.setdefault(conv, []).extend(found)

    counts: MutableMapping[str, int] = stats if stats is not None else {}
    entries: list[Entry] = []
    for conv, found in conversations.items():
        found.sort(key=lambda pair: pair[0])
        for (turn, question, answer, record, where), previous in zip(found, [None, *found]):
            if previous is not None and previous[0] == turn:
                raise ConfigError(f"{where}: conversation {conv} has turn {turn} twice (also at {previous[4]})")
            counts["read"] = counts.get("read", 0) + 1
            if not question or not answer:
                counts["skipped_empty"] = counts.get("skipped_empty", 0) + 1
                continue
            if not keep_pair(question, answer):
                counts["skipped_small_talk"] = counts.get("skipped_small_talk", 0) + 1
                continue
            counts["transcripts_pairs"] = counts.get("transcripts_pairs", 0) + 1
            tags = record.get("tags") or ()
            if isinstance(tags, str):
                tags = tags.replace(";", ",").split(",")
            entries.append(
                Entry(
                    id=f"{conv}-t{turn}",
                    question=question,
                    answer=answer,
                    intent=record.get("intent") or None,
                    tags=tuple(str(t).strip() for t in tags if str(t).strip()),
                    created_at=str(record.get("created_at") or record.get("timestamp") or "") or None,
                    source="logs",
                )
            )
    return entries
