"""Duckling's entities (numbers, money, times, durations, distances, e-mails, phone numbers,
URLs) as Rasa's DucklingEntityExtractor gives them, so actions written against Duckling run
unchanged.

config.yml's `DucklingEntityExtractor` (`url`, `dimensions`, `locale`, `timezone`, `timeout`)
is read as Rasa reads it. When its `url` answers, that Duckling server parses (its HTTP API:
POST /parse with `text`, `locale`, `tz`, `reftime` in ms); otherwise, or without a url, the same
Haskell Duckling runs in process (the `pyduckling-native-phihos` wheel), logged once. Both give
Duckling's own JSON, converted here as Rasa converts it: `value` is the match's value (for an
interval, `{"from", "to"}`), `additional_info` all of Duckling's value (grain, unit, values)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Sequence

from bot.errors import ConfigError

log = logging.getLogger(__name__)
EXTRACTOR = "DucklingEntityExtractor"
DIMENSIONS = ("amount-of-money", "credit-card-number", "distance", "duration", "email", "number", "ordinal",
              "phone-number", "quantity", "temperature", "time", "url", "volume")


@dataclass(frozen=True)
class DucklingSettings:
    """The config.yml component's settings."""

    url: str | None = None
    dimensions: tuple[str, ...] | None = None  # None: every dimension
    locale: str = "en_US"
    timezone: str = "UTC"
    timeout: float = 3.0

    @classmethod
    def from_component(cls, options: dict[str, Any], language: str | None = None) -> "DucklingSettings":
        dims = options.get("dimensions")
        if dims is not None and (not isinstance(dims, list) or not all(isinstance(d, str) for d in dims)):
            raise ConfigError("DucklingEntityExtractor's dimensions must be a list of names, e.g. [time, number]")
        unknown = sorted(set(dims or ()) - set(DIMENSIONS))
        if unknown:
            raise ConfigError(f"DucklingEntityExtractor: unknown dimensions {unknown}; Duckling has {list(DIMENSIONS)}")
        locale = options.get("locale") or (f"{language}_{language.upper()}" if language and language != "en" else "en_US")
        timeout = options.get("timeout", 3)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"DucklingEntityExtractor's timeout must be a number of seconds, got {timeout!r}")
        return cls(str(options["url"]).rstrip("/") if options.get("url") else None,
                   tuple(dims) if dims is not None else None, str(locale), str(options.get("timezone") or "UTC"),
                   float(timeout))


def to_rasa(matches: Sequence[dict[str, Any]], dimensions: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """Duckling's matches -> Rasa's entity objects (only the configured dimensions)."""
    out = []
    for match in matches:
        if dimensions is not None and match.get("dim") not in dimensions:
            continue
        value = match.get("value") or {}
        if value.get("type") == "interval":
            parsed: Any = {"to": (value.get("to") or {}).get("value"), "from": (value.get("from") or {}).get("value")}
        else:
            parsed = value.get("value")
        out.append({"start": match["start"], "end": match["end"], "text": match.get("body"), "value": parsed,
                    "confidence": 1.0, "additional_info": value, "entity": match["dim"], "extractor": EXTRACTOR})
    return out


class Duckling:
    """Parses with the configured server when it answers, else in process."""

    def __init__(self, settings: DucklingSettings) -> None:
        self.settings = settings
        self._native: Any = None
        self._lock = threading.Lock()
        self._warned = False
        self.backend = "server" if settings.url else "built-in"

    def parse(self, text: str, reference_ms: int | None = None) -> list[dict[str, Any]]:
        reference_ms = reference_ms if reference_ms is not None else int(time.time() * 1000)
        if self.settings.url and self.backend == "server":
            try:
                return to_rasa(self._server(text, reference_ms), self.settings.dimensions)
            except (OSError, ValueError) as exc:
                if not self._warned:
                    log.warning("the Duckling server at %s does not answer (%s): using the built-in Duckling",
                                self.settings.url, exc)
                    self._warned = True
                self.backend = "built-in"
        return to_rasa(self._in_process(text, reference_ms), self.settings.dimensions)

    def _server(self, text: str, reference_ms: int) -> list[dict[str, Any]]:
        body = urllib.parse.urlencode({"text": text, "locale": self.settings.locale, "tz": self.settings.timezone,
                                       "reftime": reference_ms}).encode()
        request = urllib.request.Request(f"{self.settings.url}/parse", data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
        with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
        if not isinstance(data, list):
            raise ValueError("the Duckling server's answer is not a list of matches")
        return data

    def _in_process(self, text: str, reference_ms: int) -> list[dict[str, Any]]:
        with self._lock:
            native = self._load()
            duckling, zones, locale, dims = native
            reference = duckling.parse_ref_time(zones, self.settings.timezone, reference_ms // 1000)  # seconds
            context = duckling.Context(reference, locale)
            result: list[dict[str, Any]] = json.loads(duckling.parse_text(text, context, dims, False))
            return result

    def _load(self) -> Any:
        if self._native is None:
            try:
                import duckling
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise ConfigError("the built-in Duckling needs the pyduckling-native-phihos package") from exc
            duckling.init()
            zones = duckling.load_time_zones("/usr/share/zoneinfo")
            locale = duckling.parse_locale(self.settings.locale, duckling.default_locale_lang(duckling.parse_lang("EN")))
            dims = duckling.parse_dimensions(list(self.settings.dimensions or DIMENSIONS))
            self._native = (duckling, zones, locale, dims)
            if not self.settings.url:
                log.info("Duckling: the built-in engine (no url in config.yml)")
        return self._native
