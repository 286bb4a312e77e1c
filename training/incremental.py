"""Incremental training (Rasa's `rasa train --finetune`): go on training a trained NLU model on
new data instead of starting again from the pre-trained encoder.

As in Rasa, the new data may add examples (and entity annotations) to the labels the model
knows, and nothing else: the intents, retrieval intents, multi-intent parts, sentiments, entity
tags and pattern features must be the model's own, and so must the training recipe and the
pipeline that config.yml asks for. Anything else is refused with what changed, before any
training: the old model stays as it was, and a full `switchboard train` is the way on.

What differs from a full training: the network starts from the model's weights (encoder and
heads, so no linear probe), and trains for `epoch_fraction` of the epochs a full training would
(Rasa's `--epoch-fraction`, 1.0 by default as in Rasa); the best epoch is still chosen on the dev
slice. Everything after it (temperature, out-of-scope threshold, TF-IDF partner) is fitted again
on the new data, as in a full training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from bot.errors import ConfigError

# settings that may differ between the model and the fine-tuning: they change how fast it
# trains or how long, or the calibration after it, not what the network is
FREE_SETTINGS = frozenset({"threads", "epochs", "min_steps", "max_epochs", "entity_epochs", "patience", "keep"})


@dataclass(frozen=True)
class Incremental:
    base: Path  # the trained model's directory (meta.json, heads.pt, encoder/)
    epoch_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.epoch_fraction <= 10.0:
            raise ConfigError(f"--epoch-fraction must be in (0, 10], got {self.epoch_fraction}")

    def meta(self) -> dict[str, Any]:
        from bot.nlu.transformer import read_meta

        if not (self.base / "meta.json").is_file():
            raise ConfigError(f"no trained NLU model to fine-tune in {self.base}: train one first (without --finetune)")
        return read_meta(self.base)

    def epochs(self, full: int) -> int:
        """The epochs of the fine-tuning, for `full` of a full training (at least one)."""
        return max(1, round(self.epoch_fraction * full))


def requested(finetune: str | None, epoch_fraction: float, model_dir: Path) -> Incremental | None:
    """What `train --finetune [DIR] --epoch-fraction F` asks: None without --finetune; DIR, or
    `model_dir` (the model trained before) when it names none."""
    if finetune is None:
        if epoch_fraction != 1.0:
            raise ConfigError("--epoch-fraction is for fine-tuning: add --finetune")
        return None
    return Incremental(Path(finetune) if finetune else model_dir, epoch_fraction)


def check_labels(meta: Mapping[str, Any], *, labels: Sequence[str], sentiments: Sequence[str], tags: Sequence[str],
                 responses: Sequence[str], parts: Sequence[Sequence[str]], features: int) -> None:
    """Raise ConfigError naming every label the new data adds or drops against the trained
    model (`meta`), and a change in its pattern features."""
    problems: list[str] = []
    for name, new, old in (("intents", labels, meta.get("intents")),
                           ("sentiments", sentiments, meta.get("sentiments")),
                           ("entity labels", _entity_labels(tags), _entity_labels(meta.get("entity_tags") or [])),
                           ("retrieval intents", responses, meta.get("retrieval_intents")),
                           ("multi-intent labels", ["+".join(p) for p in parts],
                            ["+".join(p) for p in meta.get("intent_parts") or []])):
        added, removed = sorted(set(new) - set(old or [])), sorted(set(old or []) - set(new))
        if added:
            problems.append(f"{name} the model does not know: {', '.join(added)}")
        if removed:
            problems.append(f"{name} no longer in the data: {', '.join(removed)}")
    if features != int(meta.get("entity_features") or 0):
        problems.append(f"the regexes and lookup tables give {features} entity features, the model reads "
                        f"{int(meta.get('entity_features') or 0)}")
    _refuse(problems)


def check_recipe(meta: Mapping[str, Any], settings: Mapping[str, Any], pipeline: Mapping[str, Any]) -> None:
    """Raise ConfigError when the training settings (but FREE_SETTINGS) or config.yml's NLU
    pipeline differ from the trained model's."""
    old = dict(meta.get("settings") or {})
    changed = sorted(k for k in set(settings) | set(old) if k not in FREE_SETTINGS and settings.get(k) != old.get(k))
    problems = ["training settings changed: " + ", ".join(f"{k} {old.get(k)!r} -> {settings.get(k)!r}" for k in changed)] \
        if changed else []
    if dict(pipeline) != dict(meta.get("pipeline") or {}):
        problems.append("config.yml's NLU pipeline changed since the model was trained")
    _refuse(problems)


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ConfigError("cannot fine-tune the trained model (as in Rasa, fine-tuning only adds examples to the "
                          "labels it knows): " + "; ".join(problems) + ". Train without --finetune.")


def _entity_labels(tags: Sequence[str]) -> list[str]:
    return sorted({tag.partition("-")[2] for tag in tags if tag != "O"})
