"""Micro-batching: messages classified at the same moment by concurrent turns share one
forward pass, which the encoder runs far more cheaply than one pass each."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from bot.nlu.base import Classifier, Prediction

log = logging.getLogger(__name__)


class MicroBatcher:
    """Queue texts; one worker task takes whatever is waiting (up to `max_batch`) and
    classifies it in one call off the event loop. A lone message goes through at once:
    batches form only from messages that arrive while a pass is running."""

    def __init__(self, classifier: Classifier, *, max_batch: int = 32) -> None:
        self.classifier, self.max_batch = classifier, max_batch
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[Prediction]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.messages = 0

    @property
    def intents(self) -> Sequence[str]:
        return self.classifier.intents

    async def predict(self, text: str) -> Prediction:
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(self._queue))
        assert self._queue is not None
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[str, asyncio.Future[Prediction]]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            texts = [text for text, _ in batch]
            try:
                predictions = await asyncio.to_thread(self.classifier.predict, texts)
            except Exception as exc:  # every waiting turn gets the error, the worker lives on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.messages += len(batch)
            for (_, future), prediction in zip(batch, predictions):
                if not future.done():
                    future.set_result(prediction)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
