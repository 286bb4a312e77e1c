"""`switchboard test` with the project's actions running: a test story replayed (teacher forced,
training/story_tests.replay_story) while the engine's own executor runs each of the story's
actions, its forms and their validators, on the project's action server, and
action_extract_slots fills slots from each user message, as in a conversation.

`rasa test` runs no action ("During evaluation, we don't run action server"); with an action
server named in endpoints.yml, Switchboard runs them so that the test also says whether the
project's actions work with the engine: an action that fails is a failed check of its story
(kind `action_run`), and what the actions return (slots, followups, reverted turns) is what the
next predictions see, as in a live conversation. Each story is a session of its own (it starts
with action_session_start, the project's own when its domain lists one) of one test customer per
run: the same conversation id, so an action server that sets up a profile per customer (as
financial-demo's does, in about 1.6 s) does it once per run, not once per story."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Sequence

from bot import events as ev
from bot.dialogue.conversation import session_events
from bot.dialogue.executor import Context
from bot.dialogue.loop import extract
from bot.dialogue.model import DialogueModel
from bot.dialogue.story import Event, StoryBlock
from bot.tracker import State, apply
from training.story_tests import EXTRACT, Acted, Parse, Request, StoryResult, replay_story

if TYPE_CHECKING:
    from bot.engine import Engine

INPUT_CHANNEL = "switchboard-test"


def new_test_customer() -> str:
    """The test customer of one `switchboard test` run."""
    return f"switchboard-test-{uuid.uuid4().hex[:12]}"


class StoryActor:
    """Answers a replay's requests with the engine's executor, for one conversation."""

    def __init__(self, engine: "Engine", model: DialogueModel, conversation_id: str) -> None:
        self.engine, self.model, self.conversation_id = engine, model, conversation_id

    def _state(self, events: Sequence[Event]) -> State:
        """The tracker's state after `events`, what `rewind` and `undo` took back left out."""
        return apply(State(), session_events(events), initial_slots=self.engine.domain.initial_slots)

    async def __call__(self, request: Request) -> Acted:
        started = time.perf_counter()
        if request.name == EXTRACT:
            user, before = request.events[-1], self._state(request.events[:-1])
            return Acted(extract(self.engine.domain, before, user, self.model.conversation(request.events)))
        ctx = Context(self.conversation_id, self._state(request.events), list(request.events), [],
                      self.model.conversation(request.events), INPUT_CHANNEL)
        outcome = await self.engine.executor.run(request.name, ctx)
        ms = round((time.perf_counter() - started) * 1000, 2)
        if outcome.rejected:
            return Acted([{"event": "action_execution_rejected", "timestamp": time.time(), "name": request.name}],
                         ms=ms)
        said = [ev.bot(m.get("text"), data={k: v for k, v in m.items() if k != "text"}) for m in outcome.messages]
        return Acted([*said, *outcome.events], outcome.error, ms)


async def act_story(block: StoryBlock, events: Sequence[Event], *, parse: Parse,
                    model: DialogueModel, forms: frozenset[str], engine: "Engine",
                    conversation_id: str) -> StoryResult:
    """Replay one test story, its actions run by `engine` in a new session of `conversation_id`."""
    actor = StoryActor(engine, model, conversation_id)
    replay = replay_story(block, events, parse=parse, model=model, forms=forms, acting=True)
    try:
        request = next(replay)
        while True:
            request = replay.send(await actor(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
