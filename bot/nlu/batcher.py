"""Micro-batching: messages classified at the same moment by concurrent turns share one
forward pass, which the encoder runs far more cheaply than one pass each."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from bot.nlu.base import Classifier, Prediction

log = logging.getLogger(__name__)

Item = tuple[str, tuple[str, ...], "asyncio.Future[Prediction]"]  # a text, its context, its turn's future


class MicroBatcher:
    """Queue texts; one worker task takes whatever is waiting (up to `max_batch`) and
    classifies it in one call off the event loop. A lone message goes through at once:
    batches form only from messages that arrive while a pass is running. When a pass raises,
    its messages are classified one at a time: a message that breaks the model fails its own
    turn, never another customer's."""

    def __init__(self, classifier: Classifier, *, max_batch: int = 32) -> None:
        self.classifier, self.max_batch = classifier, max_batch
        self._queue: asyncio.Queue[Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.messages = 0

    @property
    def intents(self) -> Sequence[str]:
        return self.classifier.intents

    @property
    def queued(self) -> int:
        """Messages waiting for the next pass."""
        return self._queue.qsize() if self._queue is not None else 0

    async def predict(self, text: str, context: Sequence[str] = ()) -> Prediction:
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(self._queue))
        assert self._queue is not None
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, tuple(context), future))
        return await future

    async def _run(self, queue: asyncio.Queue[Item]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            texts, contexts = [text for text, _, _ in batch], [context for _, context, _ in batch]
            try:
                predictions = await asyncio.to_thread(self.classifier.predict, texts, contexts)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][2], exc)
                else:  # one message may have broken the pass: each is tried alone, only its own turn fails
                    log.warning("a batch of %d messages failed (%s: %s); classifying them one by one",
                                len(batch), type(exc).__name__, exc)
                    await self._one_by_one(batch)
                continue
            self.batches += 1
            self.messages += len(batch)
            for (_, _, future), prediction in zip(batch, predictions):
                _settle(future, prediction)

    async def _one_by_one(self, batch: list[Item]) -> None:
        for text, context, future in batch:
            if future.done():  # its turn gave up meanwhile
                continue
            try:
                [prediction] = await asyncio.to_thread(self.classifier.predict, [text], [context])
            except Exception as exc:
                log.warning("the message %r cannot be classified: %s: %s", text[:80], type(exc).__name__, exc)
                _settle(future, exc)
                continue
            self.batches += 1
            self.messages += 1
            _settle(future, prediction)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None


def _settle(future: "asyncio.Future[Prediction]", outcome: Prediction | BaseException) -> None:
    """Give the waiting turn its prediction or its error (unless it stopped waiting)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
