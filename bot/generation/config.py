"""Generator and generation settings, read from endpoints.yml (`generator:`), switchboard.yml
(`generation:`) and the environment. Pure parsing: nothing here loads or connects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bot.errors import ConfigError
from bot.generation.grounding_defaults import MIN_ANSWER_RELEVANCE, MIN_NOTE_RELEVANCE, MIN_OVERLAP, MIN_SIMILARITY

KINDS = ("embedded", "openai", "none")


@dataclass(frozen=True)
class GeneratorConfig:
    kind: str  # "embedded" | "openai"
    url: str | None = None  # OpenAI-compatible base URL, e.g. http://vllm:8000/v1
    model: str = ""
    api_key_env: str | None = None  # the name of the env var holding the key (the key is never stored here)
    timeout: float = 15.0  # the whole generation, retries included: the customer is answered within it
    connect_timeout: float = 3.0
    max_tokens: int = 256
    temperature: float = 0.2
    retries: int = 2  # on 429 / 5xx / connection errors, with exponential backoff
    concurrency: int = 8  # requests in flight to the server at once
    breaker_failures: int = 5  # failures in a row that open the circuit breaker
    breaker_cooldown: float = 30.0  # seconds the breaker stays open
    threads: int = 1  # torch threads of the embedded model


EMBEDDED_DEFAULTS: dict[str, Any] = {"timeout": 30.0, "max_tokens": 96, "temperature": 0.0, "model": "SmolLM2-135M-Instruct"}


@dataclass(frozen=True)
class GenerationSettings:
    """How the bot uses the generator (switchboard.yml `generation:`)."""

    persona: str = "You are the friendly customer-service assistant of an online shop."
    context_k: int = 3  # retrieved logs given to the model as context
    # below this best retrieval score nothing is relevant: no generation; None ("auto"): calibrated
    min_context_score: float | None = None
    history_turns: int = 4  # earlier user/bot messages given to the model
    min_similarity: float = MIN_SIMILARITY  # grounding: answer-vs-context cosine similarity
    min_overlap: float = MIN_OVERLAP  # grounding: share of the answer's content words found in the context
    min_note_relevance: float = MIN_NOTE_RELEVANCE  # grounding: question vs the relied-on note's question
    min_answer_relevance: float = MIN_ANSWER_RELEVANCE  # grounding: question vs the answer


def parse_generator(section: Any, env: Mapping[str, str], *, threads: int = 1) -> GeneratorConfig | None:
    """endpoints.yml `generator:` -> a config, or None when generation is off.

    No section: the embedded CPU model. `generator: none` (or `type: none`): off.
    `url:` set (or `type: openai`): an OpenAI-compatible server. SWITCHBOARD_GENERATOR
    (none|embedded|openai), SWITCHBOARD_GENERATOR_URL and SWITCHBOARD_GENERATOR_MODEL override."""
    if section is None or section == {}:
        values: dict[str, Any] = {}
    elif isinstance(section, str):
        if section.strip().lower() not in ("none", "embedded"):
            raise ConfigError(f"`generator` in endpoints.yml must be a mapping, `none` or `embedded`, got {section!r}")
        values = {"type": section.strip().lower()}
    elif isinstance(section, dict):
        values = dict(section)
    else:
        raise ConfigError("`generator` in endpoints.yml must be a mapping, `none` or `embedded`")
    if env.get("SWITCHBOARD_GENERATOR_URL"):
        values["url"] = env["SWITCHBOARD_GENERATOR_URL"]
        values["type"] = "openai"
    if env.get("SWITCHBOARD_GENERATOR_MODEL"):
        values["model"] = env["SWITCHBOARD_GENERATOR_MODEL"]
    kind = str(env.get("SWITCHBOARD_GENERATOR") or values.pop("type", None) or ("openai" if values.get("url") else "embedded"))
    values.pop("type", None)
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"generator type must be one of {list(KINDS)}, got {kind!r}")
    if kind == "none":
        return None
    known = set(GeneratorConfig.__dataclass_fields__) - {"kind"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown generator settings {unknown} in endpoints.yml; known: {sorted(known)}")
    if kind == "embedded":
        values = {**EMBEDDED_DEFAULTS, "threads": threads, **values}
        values.pop("url", None)
    else:
        url = values.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"generator.url must be an http(s) URL (e.g. http://vllm:8000/v1), got {url!r}")
        if not values.get("model"):
            raise ConfigError("generator.model is required for an OpenAI-compatible server (the served model's name)")
    config = GeneratorConfig(kind=kind, **_typed(values))
    _check(config, env)
    return config


def parse_generation(section: Any) -> GenerationSettings:
    if section is None:
        return GenerationSettings()
    if not isinstance(section, dict):
        raise ConfigError("`generation` in switchboard.yml must be a mapping")
    grounding = section.get("grounding") or {}
    if not isinstance(grounding, dict):
        raise ConfigError("generation.grounding in switchboard.yml must be a mapping")
    values = {k: v for k, v in section.items() if k != "grounding"}
    values.update(grounding)
    if values.get("min_context_score") in ("auto", None):
        values.pop("min_context_score", None)
    known = set(GenerationSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown generation settings {unknown} in switchboard.yml; known: {sorted(known)}")
    settings = GenerationSettings(**_typed(values, GenerationSettings))
    if settings.context_k < 1 or settings.history_turns < 0:
        raise ConfigError("generation.context_k must be >= 1 and generation.history_turns >= 0")
    for name in ("min_similarity", "min_overlap", "min_note_relevance", "min_answer_relevance"):
        if not 0.0 <= getattr(settings, name) <= 1.0:
            raise ConfigError(f"generation.grounding.{name} must lie in [0, 1], got {getattr(settings, name)}")
    if settings.min_context_score is not None and not -1.0 <= settings.min_context_score <= 1.0:
        raise ConfigError(f"generation.min_context_score must lie in [-1, 1], got {settings.min_context_score}")
    return settings


def _typed(values: dict[str, Any], cls: type = GeneratorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = str(cls.__dataclass_fields__[name].type).replace(" | None", "")
        where = f"generator.{name}" if cls is GeneratorConfig else f"generation.{name}"
        if kind in ("int", "float"):
            if isinstance(value, bool):
                raise ConfigError(f"{where} must be a number, got {value!r}")
            try:
                out[name] = int(value) if kind == "int" else float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{where} must be a{'n integer' if kind == 'int' else ' number'}, got {value!r}") from None
        else:
            out[name] = None if value is None else str(value)
    return out


def _check(c: GeneratorConfig, env: Mapping[str, str]) -> None:
    if c.timeout <= 0 or c.connect_timeout <= 0:
        raise ConfigError("generator.timeout and generator.connect_timeout must be > 0 seconds")
    if c.max_tokens < 1 or c.concurrency < 1 or c.threads < 1 or c.breaker_failures < 1:
        raise ConfigError("generator.max_tokens, concurrency, threads and breaker_failures must be >= 1")
    if c.retries < 0 or c.breaker_cooldown < 0:
        raise ConfigError("generator.retries and generator.breaker_cooldown must be >= 0")
    if not 0.0 <= c.temperature <= 2.0:
        raise ConfigError(f"generator.temperature must lie in [0, 2], got {c.temperature}")
    if c.api_key_env is not None and c.api_key_env not in env:
        raise ConfigError(f"generator.api_key_env names {c.api_key_env}, which is not set in the environment")
