"""How sure each route must be before the bot answers: the thresholds of the intent, support-log
and generation routes, and how a support log wins over a nearby intent.

`switchboard train` calibrates them for each bot against foreign text (training/routes.py) and
writes `routes.json` next to the models; the runtime reads it here. A threshold written in
switchboard.yml wins, with a warning when it lets more through than the calibrated one. A bot
trained before calibration existed gets the old fixed defaults and a warning."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError

log = logging.getLogger(__name__)
ROUTES_FILE = "routes.json"
INTENT_BANK_FILE = "routes_intents.npz"
FORMAT_VERSION = "routes-1"
ROUTES = ("intent", "retrieval", "generation")
# used only when a bot has no calibration (trained by an older version, or too little foreign text)
UNCALIBRATED = {"nlu": 0.3, "retrieval": 0.5, "retrieval_foreign": 0.5, "min_context_score": 0.3}
SETTING_NAMES = {"nlu": "nlu.threshold", "retrieval": "retrieval.threshold",
                 "retrieval_foreign": "retrieval.threshold_foreign", "min_context_score": "generation.min_context_score"}


@dataclass(frozen=True)
class CalibrationSettings:
    """switchboard.yml `calibration:`."""

    target_foreign_rate: float = 0.02  # at most this share of foreign questions answered, all routes together
    # how the target is shared between the routes (generation counts as if every answer passed)
    shares: tuple[tuple[str, float], ...] = (("intent", 0.4), ("retrieval", 0.4), ("generation", 0.2))
    exclude_topics: tuple[str, ...] = ()  # shipped foreign topics that are this bot's own business

    def budget(self, route: str) -> float:
        return self.target_foreign_rate * dict(self.shares)[route]


def parse_calibration(section: Any) -> CalibrationSettings:
    if section is None:
        return CalibrationSettings()
    if not isinstance(section, dict):
        raise ConfigError("`calibration` in switchboard.yml must be a mapping")
    unknown = sorted(set(section) - {"target_foreign_rate", "shares", "exclude_topics"})
    if unknown:
        raise ConfigError(f"unknown calibration settings {unknown}; known: exclude_topics, shares, target_foreign_rate")
    defaults = CalibrationSettings()
    target = section.get("target_foreign_rate", defaults.target_foreign_rate)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise ConfigError(f"calibration.target_foreign_rate must be a share in (0, 1), e.g. 0.02; got {target!r}")
    shares = dict(defaults.shares)
    raw = section.get("shares") or {}
    if not isinstance(raw, dict) or set(raw) - set(ROUTES):
        raise ConfigError(f"calibration.shares must map some of {list(ROUTES)} to numbers")
    for route, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"calibration.shares.{route} must be a number >= 0, got {value!r}")
        shares[route] = float(value)
    total = sum(shares.values())
    if total <= 0:
        raise ConfigError("calibration.shares must not all be 0")
    topics = section.get("exclude_topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ConfigError("calibration.exclude_topics must be a list of topic names (training/foreign/*.txt)")
    return CalibrationSettings(float(target), tuple((r, shares[r] / total) for r in ROUTES), tuple(topics))


@dataclass(frozen=True)
class Thresholds:
    """What the running bot uses, and where each value came from."""

    nlu: float
    retrieval: float  # a log answers a question the NLU model places with the support logs from here
    retrieval_foreign: float  # ... and any other message (the model finds it foreign or is unsure) from here
    min_context_score: float  # the generator is asked only from here (questions placed with the logs)
    log_margin: float | None = None  # a log beats the predicted intent by this much cosine: the log answers
    sources: dict[str, str] = field(default_factory=dict)  # name -> calibrated | switchboard.yml | index | default

    def as_dict(self) -> dict[str, Any]:
        return {"nlu": self.nlu, "retrieval": self.retrieval, "retrieval_foreign": self.retrieval_foreign,
                "min_context_score": self.min_context_score, "log_margin": self.log_margin,
                "sources": dict(self.sources)}


def read_calibration(models_dir: Path) -> dict[str, Any] | None:
    path = Path(models_dir) / ROUTES_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}; run `switchboard train --force`") from exc
    if data.get("format") != FORMAT_VERSION:
        log.warning("%s has format %r, this version reads %r: run `switchboard train`", path, data.get("format"),
                    FORMAT_VERSION)
        return None
    return data


def resolve(
    configured: dict[str, float | None], calibrated: dict[str, Any] | None, *, index_threshold: float | None = None,
    configured_in: dict[str, str] | None = None,
) -> tuple[Thresholds, list[str]]:
    """The thresholds to run with: a value set by hand (in switchboard.yml, or where
    `configured_in` says: config.yml's FallbackClassifier), else the calibrated one, else the
    uncalibrated default. Without a route calibration, the retrieval threshold the index
    calibrated on its own logs (wrong answers <= 2 %) stands in. Returns the warnings to log."""
    warnings: list[str] = []
    found = (calibrated or {}).get("thresholds") or {}
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name, setting in SETTING_NAMES.items():
        own, auto = configured.get(name), found.get(name)
        if name.startswith("retrieval") and index_threshold is not None and auto is None:
            auto, auto_source = index_threshold, "index"
        else:
            auto_source = "calibrated"
        if own is not None:
            where = (configured_in or {}).get(name, "switchboard.yml")
            values[name], sources[name] = float(own), where
            if auto is not None and float(own) < float(auto) - 1e-9:
                label = setting if where == "switchboard.yml" else "the FallbackClassifier's threshold"
                warnings.append(f"{label} is {own} in {where}, looser than the calibrated {auto:.3f}: "
                                f"expect more foreign questions answered than calibration's target")
        elif auto is not None:
            values[name], sources[name] = float(auto), auto_source
        else:
            values[name], sources[name] = UNCALIBRATED[name], "default"
    if calibrated is None:
        warnings.append("no route calibration found (models trained by an older version): run `switchboard train` "
                        "to calibrate the thresholds against foreign questions")
    margin = found.get("log_margin")
    return Thresholds(values["nlu"], values["retrieval"], values["retrieval_foreign"], values["min_context_score"],
                      float(margin) if margin is not None else None, sources), warnings


class IntentBank:
    """The frozen-encoder vectors of the intents' training examples: how close a message is to
    the predicted intent's own examples, against the best support log."""

    def __init__(self, labels: list[str], vectors: np.ndarray) -> None:
        self.labels = np.array(labels)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @classmethod
    def load(cls, models_dir: Path) -> "IntentBank | None":
        path = Path(models_dir) / INTENT_BANK_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return cls([str(x) for x in data["labels"]], data["vectors"])

    def save(self, models_dir: Path) -> None:
        np.savez(Path(models_dir) / INTENT_BANK_FILE, labels=self.labels.astype(str), vectors=self.vectors)

    def similarity(self, vector: np.ndarray, intent: str) -> float | None:
        rows = self.vectors[self.labels == intent]
        if not len(rows):
            return None
        return float((rows @ np.asarray(vector, dtype=np.float32)).max())
