"""Training the learned dialogue policy (bot/policies/learned.py) from a project's stories.

Samples: the state windows before every action of every story (Rasa's training trackers), plus
stories glued end to end at random (Rasa's augmentation: a story's slots and context carry into
the next, so the policy learns to act on the recent states rather than on a whole remembered
history). While training, the older states of a window are dropped at random (history
dropout), which teaches the network to fall back on the current state when the earlier path is
one it never saw. Two dense layers, Adam, cross-entropy; torch on the CPU, seconds for a
project of financial-demo's size."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from bot.dialogue.states import ACTION_LISTEN, Featurizer, State, states_and_actions, training_events
from bot.dialogue.story import Event, StoryBlock
from bot.policies.learned import LearnedWeights, StateEncoder

if TYPE_CHECKING:
    from bot.settings import Settings
    from training.project import StepReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyTraining:
    hidden: int = 128
    epochs: int = 60
    batch: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    augmentation: int = 10  # glued story pairs per story (Rasa's augmentation_factor is 50 stories in all)
    max_augmented: int = 1000
    suffix_share: float = 0.5  # share of glued pairs whose second story starts at a random user turn
    history_dropout: float = 0.3  # share of windows whose older states are cut at a random age
    seed: int = 13
    threads: int = 1


def _samples(events: list[Event], featurizer: Featurizer, strip: Callable[[State], State],
             first_action: int = 0) -> list[tuple[list[State], str]]:
    states, actions = states_and_actions(events, featurizer)
    states = [strip(s) for s in states]
    return [(states[: i + 1], action) for i, action in enumerate(actions) if i >= first_action]


def _free_turns(events: Sequence[Event]) -> list[int]:
    """Where a story may be cut to glue its rest after another: its user turns outside a loop."""
    out, loop = [], None
    for i, event in enumerate(events):
        if event.get("event") == "active_loop":
            loop = event.get("name")
        elif event.get("event") == "user" and not loop:
            out.append(i)
    return out


def training_samples(stories: Sequence[StoryBlock], featurizer: Featurizer, strip: Callable[[State], State],
                     options: PolicyTraining) -> list[tuple[list[State], str]]:
    """The (states before the action, action) pairs of the stories and of glued story pairs."""
    rng = random.Random(options.seed)
    per_story = [training_events(b, featurizer) for b in stories]
    out: list[tuple[list[State], str]] = []
    for events in per_story:
        out += _samples(events, featurizer, strip)
    glued = min(options.max_augmented, options.augmentation * len(per_story)) if len(per_story) > 1 else 0
    for _ in range(glued):
        first, second = rng.sample(per_story, 2)
        tail = second[1:] if second and second[0].get("name") == ACTION_LISTEN else second
        turns = _free_turns(tail)
        if len(turns) > 1 and rng.random() < options.suffix_share:
            tail = tail[rng.choice(turns[1:]):]
        skip = sum(1 for e in first if e.get("event") == "action")
        out += _samples(first + tail, featurizer, strip, first_action=skip)
    return out


def fit(samples: Sequence[tuple[list[State], str]], max_history: int, options: PolicyTraining) -> LearnedWeights:
    import torch

    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    encoder = StateEncoder.fit((s for states, _ in samples for s in states[-max_history:]), max_history)
    actions = sorted({a for _, a in samples})
    index = {a: i for i, a in enumerate(actions)}
    x = torch.from_numpy(np.stack([encoder.encode(states) for states, _ in samples]))
    y = torch.tensor([index[a] for _, a in samples])
    ages = torch.arange(max_history).repeat_interleave(len(encoder.vocabulary))  # the age of each input column
    model = torch.nn.Sequential(torch.nn.Linear(encoder.width, options.hidden), torch.nn.ReLU(),
                                torch.nn.Dropout(0.1), torch.nn.Linear(options.hidden, len(actions)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    generator = torch.Generator().manual_seed(options.seed)
    model.train()
    for _ in range(options.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), options.batch):
            batch = order[start:start + options.batch]
            xb = x[batch]
            cut = torch.randint(1, max_history + 1, (len(batch), 1), generator=generator)
            dropped = torch.rand(len(batch), 1, generator=generator) < options.history_dropout
            keep = torch.where(dropped, ages.unsqueeze(0) < cut, torch.ones_like(xb, dtype=torch.bool))
            loss = torch.nn.functional.cross_entropy(model(xb * keep), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
              for m in model if isinstance(m, torch.nn.Linear)]
    meta = {"samples": len(samples), "train_accuracy": round(accuracy, 4), "epochs": options.epochs}
    return LearnedWeights(encoder, actions, layers, meta)


def train_policy(stories: Sequence[StoryBlock], featurizer: Featurizer, strip: Callable[[State], State],
                 max_history: int, options: PolicyTraining = PolicyTraining()) -> LearnedWeights:
    started = time.perf_counter()
    weights = fit(training_samples(stories, featurizer, strip, options), max_history, options)
    weights.meta["seconds"] = round(time.perf_counter() - started, 2)
    weights.meta["stories"] = len(stories)
    return weights


def train_dialogue_step(settings: "Settings", *, force: bool = False) -> "StepReport":
    """`switchboard train`'s dialogue step: the learned policy, skipped when its inputs are unchanged."""
    import shutil
    from functools import partial

    from bot.dialogue.model import DialogueModel, learned_hash, learned_settings, wants_learned
    from bot.dialogue.states import strip_rule_only
    from bot.domain import Domain
    from bot.policies.learned import META
    from training.project import StepReport

    domain = Domain.load(settings.project)
    model = DialogueModel.load(settings.project, domain)
    folder = settings.dialogue_model_dir
    if not model.stories or not wants_learned(model.config):
        shutil.rmtree(folder, ignore_errors=True)
        why = "no stories" if not model.stories else "config.yml lists no TEDPolicy"
        return StepReport("dialogue", False, "", f"{why}: no learned policy (rules and memoization decide)")
    data_hash = learned_hash(settings.project, model.config)
    if not force and (folder / META).exists() and LearnedWeights.load(folder).meta.get("data_hash") == data_hash:
        return StepReport("dialogue", False, data_hash, "unchanged stories: kept the learned policy")
    strip = partial(strip_rule_only, rule_only_slots=model.rule_lookup.rule_only_slots,
                    rule_only_loops=model.rule_lookup.rule_only_loops)
    options = PolicyTraining(threads=settings.torch_threads)
    weights = train_policy(model.stories, model.featurizer, strip, learned_settings(model.config)["max_history"],
                           options)
    weights.meta["data_hash"] = data_hash
    weights.save(folder)
    m = weights.meta
    return StepReport("dialogue", True, data_hash,
                      f"learned policy on {m['stories']} stories ({m['samples']} samples, max_history "
                      f"{weights.encoder.max_history}), training accuracy {m['train_accuracy']:.3f} in {m['seconds']:.1f}s")
