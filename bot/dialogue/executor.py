"""Running one predicted action: a response, one of Rasa's default actions, a form, or a custom
action (in process or on a rasa-sdk action server). The result is the events the action
returns and the messages it says; the engine records the action and applies both.

As Rasa's action_for_name_or_text, a default action or a form that the domain also lists under
`actions:` is the project's own custom action (financial-demo's action_session_start and
action_restart run on its action server)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from bot import events as ev
from bot.actions.base import ActionRunner
from bot.dialogue import two_stage
from bot.dialogue.forms import FormAction
from bot.dialogue.slots import REQUESTED_SLOT
from bot.dialogue.story import Event
from bot.domain import DEFAULT_ACTIONS, DEFAULT_RESPONSE, Domain
from bot.errors import ActionError, ActionRejected, BadRequest
from bot.json_input import check
from bot.nlu.response_selector import chosen
from bot.policies.base import Conversation
from bot.tracker import State, apply, tracker_json

log = logging.getLogger(__name__)
REPLY_KEYS = ("text", "buttons", "image", "custom", "attachment")


@dataclass
class Outcome:
    events: list[Event] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rejected: bool = False
    error: str | None = None  # a custom action that failed (the engine escalates)
    ms: float = 0.0


@dataclass
class Context:
    """The conversation an action runs in."""

    conversation_id: str
    state: State  # the stored state, before this turn
    window: list[Event]  # the stored events the tracker loaded
    turn: list[Event]  # this turn's events so far
    conversation: Conversation
    input_channel: str | None = None

    @property
    def events(self) -> list[Event]:
        return [*self.window, *self.turn]


class Executor:
    def __init__(self, domain: Domain, runner: ActionRunner,
                 render: Callable[[str, dict[str, Any], str | None], list[dict[str, Any]]] | None = None, *,
                 fallback_action: str = "action_default_fallback") -> None:
        self.domain, self.runner, self.fallback_action = domain, runner, fallback_action
        self.render = render or (lambda name, slots, channel: domain.render(name, slots, channel=channel))

    def slots(self, ctx: Context, extra: Sequence[Event] = ()) -> dict[str, Any]:
        state = apply(ctx.state, [*ctx.turn, *extra], initial_slots=self.domain.initial_slots)
        return {**self.domain.initial_slots, **state.slots}

    async def run(self, name: str, ctx: Context) -> Outcome:
        started = time.perf_counter()
        outcome = await self._run(name, ctx)
        outcome.ms = round((time.perf_counter() - started) * 1000, 2)
        return outcome

    async def _run(self, name: str, ctx: Context) -> Outcome:
        if name in self.domain.actions and (name in self.domain.forms or name in DEFAULT_ACTIONS):
            outcome = await self._custom(name, ctx)
            if name == "action_session_start":
                outcome.events = _without_trailing_listen(outcome.events)
            return outcome
        if name in self.domain.forms:
            form = FormAction(self.domain.forms[name], known=self.domain.has_action,
                              run=lambda action, extra: self._nested(action, ctx, extra))
            try:
                done = await form.run(ctx.conversation, self.slots(ctx))
            except ActionError as exc:  # its validator or ask action failed: the engine escalates
                return Outcome(error=str(exc))
            return Outcome(done.events, done.messages, rejected=done.rejected)
        if name in (two_stage.NAME, two_stage.ASK_AFFIRMATION, two_stage.ASK_REPHRASE):
            loop = two_stage.TwoStageFallback(self, self._custom)
            return await (loop.run(ctx) if name == two_stage.NAME else loop.ask(ctx, name == two_stage.ASK_AFFIRMATION))
        default = DEFAULTS.get(name)
        if default is not None:
            return default(self, ctx)
        if name in self.domain.responses:
            return Outcome(messages=self.render(name, self.slots(ctx), ctx.input_channel))
        if self.domain.is_retrieval_action(name):
            return self._retrieved(name, ctx)
        return await self._custom(name, ctx)

    def _retrieved(self, name: str, ctx: Context) -> Outcome:
        """Rasa's retrieval action (`utter_faq`): the response the ResponseSelector chose for the
        latest message (`utter_faq/ask_hours`); nothing said when it chose none."""
        latest = next((e for e in reversed(ctx.events) if e.get("event") == "user"), None)
        full = chosen((latest or {}).get("parse_data") or {}, name[len("utter_"):])
        response = f"utter_{full}" if full else None
        if response is None or response not in self.domain.responses:
            log.warning("%s: the latest message has no response selected for it (%s)", name, response)
            return Outcome()
        return Outcome(messages=self.render(response, self.slots(ctx), ctx.input_channel))

    async def _nested(self, name: str, ctx: Context, extra: Sequence[Event]) -> tuple[list[Event], list[dict[str, Any]]]:
        """An action a form runs (its validator, an ask action), with the form's events so far."""
        if name in self.domain.responses:
            return [], self.render(name, self.slots(ctx, extra), ctx.input_channel)
        inner = Context(ctx.conversation_id, ctx.state, ctx.window, [*ctx.turn, *extra], ctx.conversation,
                        ctx.input_channel)
        outcome = await self._custom(name, inner)
        if outcome.error:
            raise ActionError(outcome.error, action=name)
        return outcome.events, outcome.messages

    async def _custom(self, name: str, ctx: Context) -> Outcome:
        state = apply(ctx.state, ctx.turn, initial_slots=self.domain.initial_slots)
        body = tracker_json(ctx.conversation_id, state, ctx.events, initial_slots=self.domain.initial_slots)
        try:
            result = await self.runner.run(name, body, self.domain.as_dict())
        except ActionRejected as exc:
            log.info("action %s rejected: %s", name, exc)
            return Outcome(rejected=True)
        except ActionError as exc:
            log.warning("action %s failed: %s", name, exc)
            return Outcome(error=str(exc))
        messages: list[dict[str, Any]] = []
        slots = {**self.domain.initial_slots, **state.slots}
        for response in result.responses:  # uttered before the action's events are applied
            if not _storable(response, f"a response of action {name!r}"):
                continue
            template = response.get("response") or response.get("template")
            if template and template in self.domain.responses:
                messages += self.render(template, slots, ctx.input_channel)
            else:
                messages.append({k: response[k] for k in REPLY_KEYS if response.get(k)})
        events: list[Event] = []
        for raw in result.events:
            if not _storable(raw, f"an event of action {name!r}"):
                continue
            try:
                events.append(ev.validate(raw))
            except Exception as exc:  # a bad event from an action is dropped, loudly
                log.error("action %s returned an invalid event %r: %s", name, raw, exc)
        return Outcome(events, messages)


def _storable(item: Any, what: str) -> bool:
    """An action's event or response that could not be stored (NaN, a NUL, a lone surrogate, absurd
    nesting: an action server's JSON or an action's own Python may hold them) is dropped, loudly,
    as an invalid event is: stored, it would fail the whole turn (PostgreSQL refuses them)."""
    try:
        check(item, what=what)
    except BadRequest as exc:
        log.error("%s dropped: %s", what, exc)
        return False
    return True


def _without_trailing_listen(events: list[Event]) -> list[Event]:
    """A project's own action_session_start ends with `action_listen`, as Rasa's docs ask of it
    (Rasa's processor adds none); the engine adds that listen itself, as after the default one."""
    if events and events[-1].get("event") == "action" and events[-1].get("name") == "action_listen":
        return events[:-1]
    return events


def _say(executor: Executor, ctx: Context, name: str) -> list[dict[str, Any]]:
    return executor.render(name, executor.slots(ctx), ctx.input_channel) if name in executor.domain.responses else []


def _restart(executor: Executor, ctx: Context) -> Outcome:
    return Outcome([{"event": "restart", "timestamp": time.time()}], _say(executor, ctx, "utter_restart"))


def _back(executor: Executor, ctx: Context) -> Outcome:
    rewind = {"event": "rewind", "timestamp": time.time()}
    return Outcome([rewind, dict(rewind)], _say(executor, ctx, "utter_back"))


def _fallback(executor: Executor, ctx: Context) -> Outcome:
    return Outcome([{"event": "rewind", "timestamp": time.time()}], _say(executor, ctx, DEFAULT_RESPONSE))


def _deactivate(executor: Executor, ctx: Context) -> Outcome:
    return Outcome([{"event": "active_loop", "timestamp": time.time(), "name": None},
                    ev.slot(REQUESTED_SLOT, None)])


def _session_start(executor: Executor, ctx: Context) -> Outcome:
    events: list[Event] = [ev.session_started()]
    if executor.domain.session.carry_over_slots:
        slots = executor.slots(ctx)
        events += [ev.slot(k, v) for k, v in slots.items()
                   if v != executor.domain.initial_slots.get(k) and k != REQUESTED_SLOT]
    return Outcome(events)


def _listen(executor: Executor, ctx: Context) -> Outcome:
    return Outcome()


DEFAULTS: dict[str, Callable[[Executor, Context], Outcome]] = {
    "action_listen": _listen,
    "action_restart": _restart,
    "action_back": _back,
    "action_default_fallback": _fallback,
    "action_deactivate_loop": _deactivate,
    "action_session_start": _session_start,
    "action_extract_slots": _listen,  # run by the engine after every message
}
