"""GeneratorConfig -> a Generator. Heavy libraries load only when the embedded model does."""

from __future__ import annotations

from bot.generation.base import Generator
from bot.generation.config import GeneratorConfig


def create_generator(config: GeneratorConfig) -> Generator:
    if config.kind == "openai":
        from bot.generation.openai_compatible import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(config)
    if config.kind == "embedded":
        from bot.generation.embedded import EmbeddedGenerator

        return EmbeddedGenerator(config)
    raise ValueError(f"unknown generator kind {config.kind!r}")
