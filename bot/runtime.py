"""Everything a running bot holds: stores, models, actions and the engine, started and closed
together. The server, the shell and the tests build one from Settings.

A server starts with `keep_loading()`: the stores are opened and the models loaded in the
background, a failure (a database still starting, a model not trained yet) retried with back-off
and reported by /health in words without SQL, until the engine exists. Several workers starting
together on an empty database take turns importing the knowledge base (an advisory lock)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from bot.actions import ActionRunner, create_runner
from bot.dialogue.model import DialogueModel
from bot.domain import Domain
from bot.engine import Engine
from bot.errors import ConfigError, NotReady
from bot.generation.base import Generator
from bot.generation.factory import create_generator
from bot.generation.grounding import GroundingCheck
from bot.nlu.encoder import Encoder
from bot.nlu.projection import query_encoder
from bot.policies.generation import GenerationPolicy
from bot.policies.handoff import HandoffTriggers
from bot.policies.retrieval import RetrievalPolicy
from bot.routes import IntentBank, Thresholds, read_calibration, resolve
from bot.settings import Settings
from bot.storage.base import LockStore
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.redis_lock import RedisLockStore
from bot.storage.outage import describe
from bot.storage.retention import RetentionJob
from bot.storage.sql import SQLTrackerStore
from bot.storage.startup_lock import exclusive
from bot.nlu.transformer import TransformerClassifier
from knowledge.index import KnowledgeBase
from knowledge.store import KnowledgeStore
from knowledge.sync import attach, follow

log = logging.getLogger(__name__)
KNOWLEDGE_IMPORT = "knowledge-import"
# PostgreSQL: a stale pooled connection (the server restarted) is found and replaced at checkout;
# connecting and waiting for a pooled connection are bounded, so an outage is a quick 503, not a hang
POSTGRES_ENGINE_OPTIONS: dict[str, Any] = {
    "pool_pre_ping": True, "pool_timeout": 10, "connect_args": {"timeout": 5, "command_timeout": 60},
}
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0


@dataclass
class Runtime:
    settings: Settings
    domain: Domain
    dialogue: DialogueModel
    store: SQLTrackerStore
    actions: ActionRunner
    encoder: Encoder  # the pre-trained one: grounding checks
    locks: LockStore
    retriever: Encoder | None = None  # the knowledge base's: fine-tuned on the bot's logs when trained
    engine: Engine | None = None
    nlu: TransformerClassifier | None = None
    knowledge: KnowledgeBase | None = None
    load_error: str | None = None  # why the last start-up attempt failed, in words fit for /health
    load_attempts: int = 0
    load_seconds: float | None = None
    opened: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # set once the engine exists
    knowledge_store: KnowledgeStore | None = None
    generator: Generator | None = None
    thresholds: Thresholds | None = None
    calibration: dict[str, Any] | None = None  # models/routes.json: what `switchboard train` measured
    _sync: "asyncio.Task[None] | None" = None
    _warm: "asyncio.Task[None] | None" = None
    retention: RetentionJob | None = None
    _loaded: "tuple[TransformerClassifier, KnowledgeBase] | None" = None  # kept across start-up retries

    @classmethod
    def create(cls, settings: Settings) -> "Runtime":
        domain = Domain.load(settings.project)
        return cls(
            settings=settings,
            domain=domain,
            dialogue=DialogueModel.load(settings.project, domain, settings.models_dir),
            store=SQLTrackerStore(settings.database_url, **(
                POSTGRES_ENGINE_OPTIONS if settings.database_url.startswith("postgresql") else {})),
            actions=create_runner(settings),
            encoder=Encoder(threads=settings.torch_threads),
            locks=RedisLockStore(settings.lock_store_url, prefix=settings.lock_store_prefix)
            if settings.lock_store_url else InMemoryLockStore(),
        )

    async def open(self) -> None:
        """Migrate and open the stores, start the action runner."""
        await self.store.start()
        await self.actions.start()
        if self.retention is None:
            self.retention = RetentionJob(self.store.engine, self.settings.retention, locks=self.locks)
            self.retention.start()  # when switchboard.yml has `retention:`
        self.opened = True

    async def load_models(self) -> None:
        """Load the models off the event loop, then bring the knowledge base in step with SQL;
        the engine exists once this returns."""
        started = time.perf_counter()
        try:
            if self._loaded is None:  # a retry after a database failure reuses the loaded models
                self._loaded = await asyncio.to_thread(self._load_models)
            classifier, knowledge = self._loaded
            await self.attach_knowledge(knowledge)
            self._build_engine(classifier, knowledge)
            self._sync = asyncio.create_task(
                follow(knowledge, self.knowledge_store, self.settings.knowledge_sync_interval)
            )
            if self.generator is not None:  # the embedded model loads in the background
                self._warm = asyncio.create_task(self._warm_up(self.generator))
        except Exception as exc:
            self.load_error = describe(exc)
            raise
        self.load_error = None
        self.load_seconds = time.perf_counter() - started
        self.ready.set()
        log.info("models loaded in %.1fs", self.load_seconds)

    async def attach_knowledge(self, knowledge: KnowledgeBase) -> None:
        """Record this build's entries in SQL and catch up with the live ones: one worker at a
        time, so workers starting together on an empty database do not import it twice."""
        if self.knowledge_store is None:
            self.knowledge_store = KnowledgeStore(self.store.engine)
        async with exclusive(self.store.engine, KNOWLEDGE_IMPORT):
            await attach(knowledge, self.knowledge_store)

    async def keep_loading(self) -> None:
        """open() and load_models() until both have worked, each failure logged, reported by
        /health (load_error) and tried again after a back-off (1 s, doubling, at most 30 s)."""
        delay = RETRY_FIRST_S
        while True:
            self.load_attempts += 1
            try:
                if not self.opened:
                    await self.open()
                await self.load_models()
                return
            except Exception as exc:
                self.load_error = describe(exc)
                log.error("the bot could not start (attempt %d; retrying in %.0fs): %s", self.load_attempts,
                          delay, self.load_error)
                log.debug("start-up failure", exc_info=exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _load_models(self) -> tuple[TransformerClassifier, KnowledgeBase]:
        s = self.settings
        classifier = TransformerClassifier(s.nlu_model_dir, threads=s.torch_threads, oos_threshold=s.nlu_oos_threshold,
                                           quantize=s.nlu_quantize, entity_families=s.nlu_entity_families)
        config = self.dialogue.config
        duckling = config.component("DucklingEntityExtractor") if config is not None else None
        if duckling is not None and config is not None:
            from bot.nlu.duckling import Duckling, DucklingSettings

            classifier.duckling = Duckling(DucklingSettings.from_component(duckling.settings, config.language))
        classifier.responses = self.domain.retrieval_responses  # for the response selector's answers
        classifier.predict(["hello"])  # warm up
        self.retriever = query_encoder(s, classifier)  # the NLU model's own pass, mapped (bot/nlu/projection.py)
        knowledge = KnowledgeBase.load(s.knowledge_dir, self.retriever)
        built_with = knowledge.manifest.get("encoder")
        if built_with != self.retriever.name:
            raise ConfigError(f"the knowledge index was built with the encoder {built_with!r}, but this bot retrieves "
                              f"with {self.retriever.name!r}: run `switchboard train`")
        self.retriever.warm_up()
        if s.generator is not None:  # the pre-trained MiniLM serves only the generator's grounding check
            self.encoder.warm_up()
        _limit_native_threads(s.torch_threads)  # once every library is loaded
        return classifier, knowledge

    @staticmethod
    async def _warm_up(generator: Generator) -> None:
        try:
            await generator.warm_up()
            log.info("generator %s ready", generator.model)
        except Exception as exc:  # turns that need it fall back politely and say why
            log.error("the generator %s could not load: %s", generator.model, exc)

    def _generation(self, min_context_score: float) -> GenerationPolicy | None:
        s = self.settings
        if s.generator is None:
            return None
        self.generator = create_generator(s.generator)
        g = s.generation
        grounding = GroundingCheck(self.encoder, min_similarity=g.min_similarity, min_overlap=g.min_overlap,
                                   min_note_relevance=g.min_note_relevance, min_answer_relevance=g.min_answer_relevance)
        return GenerationPolicy(self.generator, grounding, s.generation, timeout=s.generator.timeout,
                                responses=frozenset(self.domain.responses), min_context_score=min_context_score)

    def _build_engine(self, classifier: TransformerClassifier, index: KnowledgeBase) -> None:
        s = self.settings
        self.nlu, self.knowledge = classifier, index
        self.calibration = read_calibration(s.models_dir)
        configured = {"nlu": s.nlu_threshold, "retrieval": s.retrieval_threshold,
                      "retrieval_foreign": s.retrieval_threshold_foreign,
                      "min_context_score": s.generation.min_context_score}
        config = self.dialogue.config
        written = config is not None and "pipeline" not in config.autoconfigured  # not Rasa's default pipeline
        configured_in = {}
        if written and config.fallback_threshold is not None and s.nlu_threshold is None:
            configured["nlu"], configured_in["nlu"] = config.fallback_threshold, config.source
        ambiguity = config.ambiguity_threshold if written and config.ambiguity_threshold is not None else 0.0
        index_threshold = index.manifest.get("threshold")
        t, warnings = resolve(configured, self.calibration, configured_in=configured_in,
                              index_threshold=float(index_threshold) if index_threshold is not None else None)
        for warning in warnings:
            log.warning("%s", warning)
        self.thresholds = t
        self.engine = Engine(
            domain=self.domain,
            classifier=classifier,
            dialogue=self.dialogue,
            retrieval=RetrievalPolicy(index, threshold=t.retrieval, threshold_foreign=t.retrieval_foreign,
                                      k=s.retrieval_k, embed=lambda text: index.encoder.encode([text])[0],
                                      intents=IntentBank.load(s.models_dir), log_margin=t.log_margin),
            nlu_threshold=t.nlu,
            nlu_ambiguity=ambiguity,
            store=self.store,
            locks=self.locks,
            actions=self.actions,
            history_window=s.history_window,
            max_batch=s.max_batch,
            generation=self._generation(t.min_context_score),
            handoff=HandoffTriggers(s.handoff) if s.handoff.enabled else None,
        )

    def require_engine(self) -> Engine:
        if self.engine is None:
            raise NotReady(f"the bot is not ready: {self.load_error}" if self.load_error
                           else "the models are still loading; try again in a moment")
        return self.engine

    async def health(self) -> dict[str, Any]:
        """What /health reports: the models, and every store this worker needs, by name."""
        redis = self.locks if isinstance(self.locks, RedisLockStore) else None
        database, redis_up = await asyncio.gather(self.store.ping(timeout=3.0),
                                                  redis.ping() if redis is not None else _nothing())
        down = [name for name, up in (("database", database), ("redis", redis_up)) if up is False]
        models = self.engine is not None
        body: dict[str, Any] = {"status": "ok" if models and not down else "unavailable", "models": models,
                                "database": database, "redis": redis_up, "down": down, "pid": os.getpid(),
                                "time": time.time()}
        if not models:
            body["loading"] = {"attempts": self.load_attempts, "error": self.load_error}
            if self.load_error:
                body["error"] = self.load_error
        return body

    async def start(self) -> None:
        await self.open()
        await self.load_models()

    async def close(self) -> None:
        if self.retention is not None:
            await self.retention.stop()
        if self._sync is not None:
            self._sync.cancel()
        if self._warm is not None:
            self._warm.cancel()
        if self.generator is not None:
            await self.generator.close()
        if self.engine is not None:
            await self.engine.batcher.close()
        await self.actions.close()
        if isinstance(self.locks, RedisLockStore):
            await self.locks.close()
        await self.store.close()


async def _nothing() -> None:
    return None


def _limit_native_threads(threads: int) -> None:
    """numpy's and scipy's OpenBLAS to as many threads as torch (engine.torch_threads). Left at
    one per core, its worker threads spin between the small products of every message: on the
    2-core bench box that spinning was about 40 % of the server's CPU under load (4 of 10.5 ms a
    turn), and the turns per second rose by about a fifth without it. (FAISS's own OpenBLAS is an
    OpenMP build, whose thread count is per calling thread: it follows OMP_NUM_THREADS, and a
    single query, which is what a turn asks, does not reach its BLAS.)"""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
