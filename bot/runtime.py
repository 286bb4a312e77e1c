"""Everything a running bot holds: stores, models, actions and the engine, started and closed
together. The server, the shell and the tests build one from Settings."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bot.actions import ActionRunner, create_runner
from bot.domain import Domain
from bot.engine import Engine
from bot.errors import NotReady
from bot.generation.base import Generator
from bot.generation.factory import create_generator
from bot.generation.grounding import GroundingCheck
from bot.nlu.encoder import Encoder
from bot.policies.generation import GenerationPolicy
from bot.policies.handoff import HandoffTriggers
from bot.policies.retrieval import RetrievalPolicy
from bot.policies.rules import LoopPolicy, RulesPolicy, load_rules
from bot.settings import Settings
from bot.storage.base import LockStore
from bot.storage.memory_lock import InMemoryLockStore
from bot.storage.redis_lock import RedisLockStore
from bot.storage.sql import SQLTrackerStore
from bot.nlu.transformer import TransformerClassifier
from knowledge.index import KnowledgeBase
from knowledge.store import KnowledgeStore
from knowledge.sync import attach, follow

log = logging.getLogger(__name__)
DEFAULT_RETRIEVAL_THRESHOLD = 0.5
LOOP_INTERRUPTING = frozenset({"ask_human", "goodbye"})


@dataclass
class Runtime:
    settings: Settings
    domain: Domain
    store: SQLTrackerStore
    actions: ActionRunner
    encoder: Encoder
    locks: LockStore
    engine: Engine | None = None
    nlu: TransformerClassifier | None = None
    knowledge: KnowledgeBase | None = None
    load_error: str | None = None
    load_seconds: float | None = None
    knowledge_store: KnowledgeStore | None = None
    generator: Generator | None = None
    _sync: "asyncio.Task[None] | None" = None
    _warm: "asyncio.Task[None] | None" = None

    @classmethod
    def create(cls, settings: Settings) -> "Runtime":
        domain = Domain.load(settings.domain_file)
        return cls(
            settings=settings,
            domain=domain,
            store=SQLTrackerStore(settings.database_url),
            actions=create_runner(settings),
            encoder=Encoder(threads=settings.torch_threads),
            locks=RedisLockStore(settings.lock_store_url) if settings.lock_store_url else InMemoryLockStore(),
        )

    async def open(self) -> None:
        """Migrate and open the stores, start the action runner."""
        await self.store.start()
        await self.actions.start()

    async def load_models(self) -> None:
        """Load the models off the event loop, then bring the knowledge base in step with SQL;
        the engine exists once this returns."""
        started = time.perf_counter()
        try:
            classifier, knowledge = await asyncio.to_thread(self._load_models)
            self.knowledge_store = KnowledgeStore(self.store.engine)
            await attach(knowledge, self.knowledge_store)
            self._build_engine(classifier, knowledge)
            self._sync = asyncio.create_task(
                follow(knowledge, self.knowledge_store, self.settings.knowledge_sync_interval)
            )
            if self.generator is not None:  # the embedded model loads in the background
                self._warm = asyncio.create_task(self._warm_up(self.generator))
        except Exception as exc:
            self.load_error = str(exc)
            raise
        self.load_seconds = time.perf_counter() - started
        log.info("models loaded in %.1fs", self.load_seconds)

    def _load_models(self) -> tuple[TransformerClassifier, KnowledgeBase]:
        s = self.settings
        classifier = TransformerClassifier(s.nlu_model_dir, threads=s.torch_threads, oos_threshold=s.nlu_oos_threshold,
                                           quantize=s.nlu_quantize)
        classifier.predict(["hello"])  # warm up
        knowledge = KnowledgeBase.load(s.knowledge_dir, self.encoder)
        self.encoder.warm_up()
        return classifier, knowledge

    @staticmethod
    async def _warm_up(generator: Generator) -> None:
        try:
            await generator.warm_up()
            log.info("generator %s ready", generator.model)
        except Exception as exc:  # turns that need it fall back politely and say why
            log.error("the generator %s could not load: %s", generator.model, exc)

    def _generation(self) -> GenerationPolicy | None:
        s = self.settings
        if s.generator is None:
            return None
        self.generator = create_generator(s.generator)
        grounding = GroundingCheck(self.encoder, min_similarity=s.generation.min_similarity,
                                   min_overlap=s.generation.min_overlap)
        return GenerationPolicy(self.generator, grounding, s.generation, timeout=s.generator.timeout,
                                responses=frozenset(self.domain.responses))

    def _build_engine(self, classifier: TransformerClassifier, index: KnowledgeBase) -> None:
        s = self.settings
        rules = load_rules(s.data_dir / "rules.yml", self.domain)
        self.nlu, self.knowledge = classifier, index
        self.engine = Engine(
            domain=self.domain,
            classifier=classifier,
            policies=[
                LoopPolicy(LOOP_INTERRUPTING, s.nlu_threshold),
                RulesPolicy(self.domain, rules, s.nlu_threshold),
                RetrievalPolicy(index, threshold=self.retrieval_threshold(index), k=s.retrieval_k),
            ],
            store=self.store,
            locks=self.locks,
            actions=self.actions,
            history_window=s.history_window,
            max_batch=s.max_batch,
            generation=self._generation(),
            handoff=HandoffTriggers(s.handoff) if s.handoff.enabled else None,
        )

    def retrieval_threshold(self, index: KnowledgeBase) -> float:
        """The configured threshold, or with `threshold: auto` the index's calibrated one."""
        if self.settings.retrieval_threshold is not None:
            return self.settings.retrieval_threshold
        calibrated = index.manifest.get("threshold")
        if calibrated is None:
            log.warning("retrieval.threshold is auto but the index has no calibrated threshold; using %s",
                        DEFAULT_RETRIEVAL_THRESHOLD)
            return DEFAULT_RETRIEVAL_THRESHOLD
        return float(calibrated)

    def require_engine(self) -> Engine:
        if self.engine is None:
            raise NotReady(self.load_error or "the models are still loading; try again in a moment")
        return self.engine

    async def start(self) -> None:
        await self.open()
        await self.load_models()

    async def close(self) -> None:
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
