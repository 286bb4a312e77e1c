"""One Settings object, built at the entry point from the bot project's files and the
environment, then handed down. Nothing else reads files or env vars for configuration."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.errors import ConfigError
from bot.generation.config import GenerationSettings, GeneratorConfig, parse_generation, parse_generator
from bot.nlu.entity_context import MODES as ENTITY_FAMILY_MODES
from bot.policies.handoff import HandoffSettings, parse_handoff
from bot.routes import CalibrationSettings, parse_calibration
from bot.storage.dialects import supported_url
from bot.storage.endpoints import LOCK_PREFIX, lock_store, tracker_store_url
from bot.storage.retention import RetentionSettings, parse_retention

if TYPE_CHECKING:
    from training.finetune import FineTuneConfig

SETTINGS_FILE = "switchboard.yml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any) -> Any:
    """Replace ${VAR} and ${VAR:-default} in strings (as Rasa's endpoints.yml allows)."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    return value


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return _expand_env(data)


@dataclass(frozen=True)
class Settings:
    project: Path
    database_url: str
    api_token: str | None = None
    # None ("auto", the default): the threshold `switchboard train` calibrated (bot/routes.py)
    nlu_threshold: float | None = None
    nlu_oos_threshold: float | None = None  # None ("auto"): the model's calibrated threshold
    nlu_quantize: str = "int8"  # int8: quantised Linear layers at serving time; none: float32
    nlu_entity_families: str = "soft"  # soft, strict or off (bot/nlu/entity_context.py)
    # nlu.training in switchboard.yml: FineTuneConfig fields (epochs, learning_rate, seed, threads, ...)
    nlu_training: dict[str, Any] = field(default_factory=dict, compare=False)
    retrieval_threshold: float | None = None  # None ("auto"): calibrated (foreign text, and the index's own)
    retrieval_threshold_foreign: float | None = None  # the same for messages the NLU model does not place with the logs
    retrieval_k: int = 3
    # "nlu": the NLU model's sentence vector, mapped onto the retrieval encoder's space, serves the
    # knowledge base (one forward pass per message, bot/nlu/projection.py); "separate": its own encoder
    retrieval_encoder: str = "nlu"
    knowledge_sync_interval: float = 2.0
    history_window: int = 30
    max_message_chars: int = 4000
    torch_threads: int = 1
    max_batch: int = 32
    action_endpoint: str | None = None
    lock_store_url: str | None = None  # redis://... shares conversation locks between workers
    lock_store_prefix: str = LOCK_PREFIX  # endpoints.yml lock_store.key_prefix, as Rasa prefixes its keys
    workers: int = 1  # serving processes on the port (`switchboard run --workers`, SWITCHBOARD_WORKERS)
    actions_package: str = "actions"
    action_timeout: float = 10.0
    cors_origins: tuple[str, ...] = ("http://127.0.0.1:5005", "http://localhost:5005")
    # proxies in front of the server (server.trusted_proxies): their X-Forwarded-For names the client
    trusted_proxies: tuple[str, ...] = ()
    # requests a second per client address (token bucket, bursts of rate_limit_burst); 0: no limit
    rate_limit: float = 20.0
    rate_limit_burst: int = 40
    # turns of one conversation that may wait behind the running one (per worker); 0: no bound
    max_waiting_turns: int = 8
    # endpoints.yml `generator:` (None: generation off) and switchboard.yml `generation:`
    generator: GeneratorConfig | None = None
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)  # switchboard.yml `handoff:`
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)  # switchboard.yml `calibration:`
    retention: RetentionSettings = field(default_factory=RetentionSettings)  # switchboard.yml `retention:`
    # credentials.yml: channel name -> its section (env references expanded; {} when empty)
    channels: dict[str, dict[str, Any]] = field(default_factory=lambda: {"rest": {}}, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def fine_tune_config(self) -> "FineTuneConfig":
        from training.finetune import FineTuneConfig

        return FineTuneConfig(**self.nlu_training)

    @property
    def state_dir(self) -> Path:
        return self.project / ".switchboard"

    @property
    def models_dir(self) -> Path:
        return self.state_dir / "models"

    @property
    def nlu_model_dir(self) -> Path:
        return self.models_dir / "nlu"

    @property
    def retrieval_encoder_dir(self) -> Path:
        return self.models_dir / "retrieval_encoder"

    @property
    def retrieval_map_dir(self) -> Path:
        return self.models_dir / "retrieval_map"

    @property
    def knowledge_dir(self) -> Path:
        return self.models_dir / "knowledge"

    @property
    def dialogue_model_dir(self) -> Path:
        return self.models_dir / "dialogue"

    @property
    def domain_file(self) -> Path:
        return self.project / "domain.yml"

    @property
    def data_dir(self) -> Path:
        return self.project / "data"


def load_settings(project: str | Path = ".", **overrides: Any) -> Settings:
    """Read switchboard.yml and endpoints.yml of `project`, then the SWITCHBOARD_* env vars."""
    root = Path(project).resolve()
    if not (root / "domain.yml").exists():
        raise ConfigError(f"{root} is not a bot project: it has no domain.yml (create one with `switchboard init`)")
    own = read_yaml(root / SETTINGS_FILE)
    endpoints = read_yaml(root / "endpoints.yml")
    nlu, retrieval, engine, server = (_section(own, k, SETTINGS_FILE) for k in ("nlu", "retrieval", "engine", "server"))
    tracker_store = _section(endpoints, "tracker_store", "endpoints.yml")
    lock_store_section = _section(endpoints, "lock_store", "endpoints.yml")
    action_endpoint = _section(endpoints, "action_endpoint", "endpoints.yml")
    env = os.environ.get

    default_db = f"sqlite+aiosqlite:///{root / '.switchboard' / 'bot.db'}"
    locks_url, locks_prefix = lock_store(lock_store_section)
    values: dict[str, Any] = {
        "project": root,
        "database_url": env("SWITCHBOARD_DATABASE_URL") or tracker_store_url(tracker_store, root) or default_db,
        "api_token": env("SWITCHBOARD_API_TOKEN") or server.get("api_token") or None,
        "nlu_threshold": _auto(float, "nlu.threshold", nlu.get("threshold", "auto")),
        "nlu_oos_threshold": None if nlu.get("oos_threshold", "auto") == "auto" else _number(
            float, "nlu.oos_threshold", nlu.get("oos_threshold")
        ),
        "nlu_quantize": str(env("SWITCHBOARD_NLU_QUANTIZE") or nlu.get("quantize", Settings.nlu_quantize)),
        "nlu_entity_families": _choice("nlu.entity_families", nlu.get("entity_families", Settings.nlu_entity_families),
                                       tuple(ENTITY_FAMILY_MODES)),
        "nlu_training": _training(nlu.get("training") or {}, env("SWITCHBOARD_TRAIN_THREADS")),
        "retrieval_threshold": _auto(float, "retrieval.threshold", retrieval.get("threshold", "auto")),
        "retrieval_threshold_foreign": _auto(float, "retrieval.threshold_foreign",
                                             retrieval.get("threshold_foreign", "auto")),
        "retrieval_k": _number(int, "retrieval.k", retrieval.get("k", Settings.retrieval_k)),
        "retrieval_encoder": _choice("retrieval.encoder", retrieval.get("encoder", Settings.retrieval_encoder),
                                     ("nlu", "separate")),
        "knowledge_sync_interval": _number(
            float, "retrieval.sync_interval", retrieval.get("sync_interval", Settings.knowledge_sync_interval)
        ),
        "history_window": _number(
            int, "engine.history_window", engine.get("history_window", Settings.history_window)
        ),
        "max_message_chars": _number(
            int, "engine.max_message_chars", engine.get("max_message_chars", Settings.max_message_chars)
        ),
        "torch_threads": _number(
            int, "torch threads", env("SWITCHBOARD_TORCH_THREADS") or engine.get("torch_threads", 1)
        ),
        "max_batch": _number(int, "engine.max_batch", env("SWITCHBOARD_MAX_BATCH") or engine.get("max_batch", 32)),
        "lock_store_url": env("SWITCHBOARD_LOCK_STORE_URL") or locks_url,
        "lock_store_prefix": locks_prefix,
        "workers": _number(int, "server.workers", env("SWITCHBOARD_WORKERS") or server.get("workers", 1)),
        "action_endpoint": env("SWITCHBOARD_ACTION_ENDPOINT") or action_endpoint.get("url") or None,
        "actions_package": str(engine.get("actions_package", Settings.actions_package)),
        "action_timeout": _number(
            float, "action_endpoint.timeout", action_endpoint.get("timeout", Settings.action_timeout)
        ),
        "cors_origins": tuple(server.get("cors_origins") or Settings.cors_origins),
        "trusted_proxies": tuple(str(p) for p in server.get("trusted_proxies") or ()),
        "rate_limit": _number(float, "server.rate_limit", env("SWITCHBOARD_RATE_LIMIT")
                              or server.get("rate_limit", Settings.rate_limit)),
        "rate_limit_burst": _number(int, "server.rate_limit_burst",
                                    server.get("rate_limit_burst", Settings.rate_limit_burst)),
        "max_waiting_turns": _number(int, "server.max_waiting_turns_per_conversation",
                                     server.get("max_waiting_turns_per_conversation", Settings.max_waiting_turns)),
        "generation": parse_generation(own.get("generation")),
        "handoff": parse_handoff(own.get("handoff")),
        "calibration": parse_calibration(own.get("calibration")),
        "retention": parse_retention(own.get("retention")),
        "channels": _channels(root / "credentials.yml"),
        "raw": {"settings": own, "endpoints": endpoints},
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "generator" not in overrides:
        values["generator"] = parse_generator(endpoints.get("generator"), os.environ, threads=values["torch_threads"])
    settings = Settings(**values)
    _check(settings)
    return settings


def _training(section: Any, threads: str | None) -> dict[str, Any]:
    """nlu.training, checked against FineTuneConfig's fields and types; threads default to the
    machine's cores (up to 4), SWITCHBOARD_TRAIN_THREADS overrides."""
    from dataclasses import fields

    from training.finetune import FineTuneConfig

    if not isinstance(section, dict):
        raise ConfigError(f"nlu.training in {SETTINGS_FILE} must be a mapping")
    known = {f.name: f.type for f in fields(FineTuneConfig)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"unknown nlu.training settings {unknown}; known: {sorted(known)}")
    values = dict(section)
    values.setdefault("threads", min(4, os.cpu_count() or 1))
    if threads:
        values["threads"] = threads
    checked: dict[str, Any] = {}
    for name, value in values.items():
        kind = {"int": int, "float": float, "bool": bool}[str(known[name])]
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"nlu.training.{name} must be true or false, got {value!r}")
            checked[name] = value
        else:
            checked[name] = _number(kind, f"nlu.training.{name}", value)
    return checked


def _channels(path: Path) -> dict[str, dict[str, Any]]:
    """credentials.yml as {channel: section}; no file means the REST channel only."""
    if not path.exists():
        return {"rest": {}}
    channels = {}
    for name, section in read_yaml(path).items():
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"`{name}` in credentials.yml must be a mapping (or empty)")
        channels[str(name)] = dict(section or {})
    return channels


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"`{key}` in {where} must be a mapping")
    return value


def _number(kind: type[int] | type[float], name: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a{'n integer' if kind is int else ' number'}, got {value!r}") from None


def _auto(kind: type[float], name: str, value: Any) -> float | None:
    return None if value is None or value == "auto" else _number(kind, name, value)


def _check(s: Settings) -> None:
    if s.nlu_quantize not in ("int8", "none"):
        raise ConfigError(f"nlu.quantize must be int8 or none, got {s.nlu_quantize!r}")
    if s.nlu_oos_threshold is not None and not 0.0 <= s.nlu_oos_threshold <= 1.0:
        raise ConfigError(f"nlu.oos_threshold must lie in [0, 1] or be auto, got {s.nlu_oos_threshold}")
    if s.nlu_threshold is not None and not 0.0 <= s.nlu_threshold <= 1.0:
        raise ConfigError(f"nlu.threshold must lie in [0, 1], got {s.nlu_threshold}")
    for name, value in (("threshold", s.retrieval_threshold), ("threshold_foreign", s.retrieval_threshold_foreign)):
        if value is not None and not -1.0 <= value <= 1.0:
            raise ConfigError(f"retrieval.{name} must lie in [-1, 1], got {value}")
    if min(s.retrieval_k, s.history_window, s.torch_threads, s.max_batch, s.workers) < 1:
        raise ConfigError("retrieval.k, engine.history_window, torch_threads, engine.max_batch and workers "
                          "must be >= 1")
    if min(s.rate_limit, s.rate_limit_burst, s.max_waiting_turns) < 0 or not math.isfinite(s.rate_limit):
        raise ConfigError("server.rate_limit, server.rate_limit_burst and server.max_waiting_turns_per_conversation "
                          "must be >= 0 (0: off)")
    if s.rate_limit > 0 and s.rate_limit_burst < 1:
        raise ConfigError("server.rate_limit_burst must be >= 1 while server.rate_limit is on")
    if not supported_url(s.database_url):
        raise ConfigError(
            f"unsupported database URL {s.database_url.split('://')[0]}://...; use sqlite+aiosqlite:///file.db, "
            "postgresql+asyncpg://user@host/db or mysql+asyncmy://user@host/db (MariaDB or MySQL)"
        )
