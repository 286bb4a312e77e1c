"""Micro-batching with a real (tiny, counting) classifier: concurrent messages share calls."""

from __future__ import annotations

import asyncio
import threading
from typing import Sequence

import pytest

from bot.nlu.base import Prediction
from bot.nlu.batcher import MicroBatcher


class SlowEcho:
    """A classifier whose 'intent' is the text itself; records the batch sizes it saw."""

    intents = ("echo",)

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        self.release.wait(5)
        self.calls.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("model failure")
        return [Prediction(t, t, 1.0, ((t, 1.0),)) for t in texts]


async def test_messages_arriving_during_a_pass_share_the_next_one() -> None:
    clf = SlowEcho()
    batcher = MicroBatcher(clf, max_batch=8)
    first = asyncio.create_task(batcher.predict("m0"))
    await asyncio.sleep(0.05)  # m0's pass is now running (blocked)
    rest = [asyncio.create_task(batcher.predict(f"m{i}")) for i in range(1, 11)]
    await asyncio.sleep(0.05)
    clf.release.set()
    results = await asyncio.gather(first, *rest)
    assert [p.intent for p in results] == [f"m{i}" for i in range(11)]  # each gets its own answer
    assert clf.calls == [1, 8, 2]  # a lone message at once, then batches capped at max_batch
    await batcher.close()


async def test_a_failing_pass_fails_its_waiters_and_the_worker_survives() -> None:
    clf = SlowEcho()
    clf.release.set()
    batcher = MicroBatcher(clf)
    with pytest.raises(RuntimeError, match="model failure"):
        await batcher.predict("boom")
    assert (await batcher.predict("fine")).intent == "fine"
    await batcher.close()


class Poisoned:
    """Echoes each text as its intent, but refuses a whole batch holding a text with "poison" in
    it (as a tokenizer refuses text it cannot encode). Its first call waits for `release`, so the
    messages sent meanwhile form the next batch, all together."""

    intents = ("echo",)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.entered.set()
            self.release.wait(30)
        if any("poison" in t for t in texts):
            raise ValueError("cannot encode this text")
        return [Prediction(t, t, 1.0, ((t, 1.0),)) for t in texts]


async def test_a_poisoned_message_fails_only_its_own_turn() -> None:
    clf = Poisoned()
    batcher = MicroBatcher(clf, max_batch=32)
    first = asyncio.create_task(batcher.predict("m0"))
    assert await asyncio.to_thread(clf.entered.wait, 30)  # m0's pass is running
    texts = [f"m{i}" for i in range(1, 7)] + ["poison \ud800"] + [f"m{i}" for i in range(7, 13)]
    others = [asyncio.create_task(batcher.predict(t)) for t in texts]
    while batcher.queued < len(texts):  # all of them wait for the next pass
        await asyncio.sleep(0)
    clf.release.set()
    results = await asyncio.gather(first, *others, return_exceptions=True)

    assert clf.calls[1] == texts  # one batch, which the poisoned text broke
    assert clf.calls[2:] == [[t] for t in texts]  # then each message alone
    by_text = dict(zip(["m0", *texts], results))
    poisoned = by_text.pop("poison \ud800")
    assert isinstance(poisoned, ValueError)
    assert all(isinstance(p, Prediction) and p.intent == t for t, p in by_text.items())  # 13 answered
    assert (await batcher.predict("after")).intent == "after"  # the worker lives on
    await batcher.close()
