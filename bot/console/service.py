"""What agents do to a conversation: take it, reply through the customer's own channel, hand it
back to the bot, close it, and correct the bot. Every change is an event in the conversation's
tracker, appended under the conversation's lock, so a customer message arriving at the same
moment is ordered before or after it, never lost. What the customer should see (a reply, "a
person has joined") goes to the outbox in the same append; the dispatcher delivers it, retries
it, and the console shows what stays undelivered, with a resend."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from bot import events as ev
from bot.console.live import LiveHub
from bot.console.transcript import approved_id, handoff_of, items, queue_item
from bot.errors import BadRequest, Conflict, NotFound
from bot.storage.base import Outgoing
from bot.storage.console import Agent, ConsoleStore, Correction
from bot.storage.outbox import Delivery, OutboxStore
from bot.tracker import State

if TYPE_CHECKING:
    from bot.channels.base import OutputChannel
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
MAX_TRANSCRIPT_EVENTS = 2000
# what the customer is told when a person joins, leaves or closes (domain response, or this text)
NOTICES = {
    "agent": ("utter_agent_joined", "{agent} from our team has joined the chat."),
    "bot": ("utter_handed_back", "You're back with the assistant. Ask me anything, or ask for a person again."),
    "closed": ("utter_conversation_closed", "Our team has closed this conversation. Thanks for getting in touch!"),
}


class Console:
    def __init__(self, runtime: "Runtime", outputs: "dict[str, OutputChannel]", hub: LiveHub,
                 store: ConsoleStore, outbox: OutboxStore) -> None:
        self.runtime, self.outputs, self.hub, self.store, self.outbox = runtime, outputs, hub, store, outbox

    # -- reading -----------------------------------------------------------------------------

    async def queue(self) -> list[dict[str, Any]]:
        rows = [queue_item(cid, state) for cid, state in await self.runtime.store.queue()]
        return [row for row in rows if row is not None]

    async def conversation(self, cid: str) -> dict[str, Any]:
        state = await self._state(cid)
        events = (await self.runtime.store.events(cid))[-MAX_TRANSCRIPT_EVENTS:]
        corrections = {c.message_id: c.intent for c in await self.store.corrections(cid)}
        return {
            "id": cid,
            "channel": state.latest_input_channel,
            "handoff": handoff_of(state),
            "items": items(events, corrections=corrections, approved=self._approved, question_of=self._question,
                           deliveries=await self.outbox.of_conversation(cid)),
            "intents": list(self.runtime.domain.intents),
        }

    async def transcript(self, cid: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Items of some new events, with the delivery of what was pushed."""
        pushed = any("delivery_id" in (e.get("metadata") or {}) for e in events)
        deliveries = await self.outbox.of_conversation(cid) if pushed else {}
        return items(events, approved=self._approved, question_of=self._question, deliveries=deliveries)

    async def delivery_changed(self, delivery: Delivery) -> None:
        """A dispatcher listener: the open consoles show whether a message arrived."""
        await self.hub.publish("delivery", {"conversation_id": delivery.conversation_id, **delivery.as_dict()})

    # -- handoff -----------------------------------------------------------------------------

    async def take(self, cid: str, agent: Agent) -> dict[str, Any]:
        async with self.runtime.locks.lock(cid):
            state = await self._state(cid)
            holder = state.handoff.get("agent") if state.handoff.get("status") == "agent" else None
            if holder == agent.name:
                return handoff_of(state)
            if holder is not None and not agent.admin:
                raise Conflict(f"{holder} has this conversation; an admin can take it over")
            new = [ev.handoff("agent", agent=agent.name)]
            outbox = await self._notify_customer(cid, state, "agent", {"agent": agent.name}, new)
            return handoff_of(await self._append(cid, new, outbox))

    async def hand_back(self, cid: str, agent: Agent) -> dict[str, Any]:
        return await self._finish(cid, agent, "bot")

    async def close(self, cid: str, agent: Agent) -> dict[str, Any]:
        return await self._finish(cid, agent, "closed")

    async def _finish(self, cid: str, agent: Agent, status: str) -> dict[str, Any]:
        async with self.runtime.locks.lock(cid):
            state = await self._state(cid)
            current = state.handoff.get("status")
            if current not in ("pending", "agent"):
                raise Conflict(f"the conversation is not with a person (it is {current})")
            self._require_holder(state, agent, allow_pending=True)
            new = [ev.handoff(status, agent=agent.name)]
            outbox = await self._notify_customer(cid, state, status, {"agent": agent.name}, new)
            return handoff_of(await self._append(cid, new, outbox))

    async def reply(self, cid: str, agent: Agent, text: str) -> dict[str, Any]:
        limit = self.runtime.settings.max_message_chars
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("'text' must be a non-empty string")
        if len(text) > limit:
            raise BadRequest(f"'text' is {len(text)} characters; the limit is {limit}")
        async with self.runtime.locks.lock(cid):
            state = await self._state(cid)
            self._require_holder(state, agent, allow_pending=False)
            event = ev.agent_uttered(text.strip(), agent=agent.name)
            outbox = self._push(state, {"text": text.strip(), "agent": agent.name}, event)
            await self._append(cid, [event], outbox)  # delivered by the dispatcher right after it is stored
        return (await self.transcript(cid, [event]))[0]

    # -- corrections -------------------------------------------------------------------------

    async def relabel(self, cid: str, agent: Agent, message_id: str, intent: str) -> dict[str, Any]:
        known = set(self.runtime.domain.intents)
        if intent not in known:
            raise BadRequest(f"unknown intent {intent!r}; the domain has: {', '.join(sorted(known))}")
        event = await self._event(cid, "user", message_id)
        predicted = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        await self.store.correct(Correction(cid, message_id, event.get("text") or "", predicted, intent, agent.name))
        await self.hub.publish("annotation", {"conversation_id": cid, "message_id": message_id,
                                              "corrected_intent": intent})
        return {"message_id": message_id, "intent": intent, "predicted": predicted}

    async def approval(self, cid: str, message_id: str, question: str | None) -> dict[str, Any]:
        """The knowledge entry an agent's reply would become: {id, question, answer, tags}."""
        events = await self.runtime.store.events(cid)
        index = next((i for i, e in enumerate(events) if e.get("event") == "agent"
                      and (e.get("metadata") or {}).get("message_id") == message_id), None)
        if index is None:
            raise NotFound(f"conversation {cid!r} has no agent reply {message_id!r}")
        if question is None:
            question = self._question_before(events[:index])
        return {"id": approved_id(message_id), "question": question, "answer": events[index].get("text"),
                "tags": ["agent-approved"]}

    async def approved(self, cid: str, message_id: str, entry_id: str) -> None:
        await self.hub.publish("annotation", {"conversation_id": cid, "message_id": message_id,
                                              "approved_entry": entry_id})

    def _question_before(self, events: list[dict[str, Any]]) -> str:
        """The customer's last real question before a reply: not a button payload, nor the request
        for a person itself."""
        skip = set(self.runtime.settings.handoff.intents) | {"greet", "affirm", "deny", "thanks", "goodbye"}
        for event in reversed(events):
            if event.get("event") != "user":
                continue
            text = (event.get("text") or "").strip()
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if text and not text.startswith("/") and intent not in skip:
                return text
        raise BadRequest("no customer question precedes this reply; send 'question' with the approval")

    # -- helpers -----------------------------------------------------------------------------

    async def _state(self, cid: str) -> State:
        if not await self.runtime.store.exists(cid):
            raise NotFound(f"no conversation {cid!r}")
        return (await self.runtime.store.load(cid, window=0)).state

    async def _event(self, cid: str, kind: str, message_id: str) -> dict[str, Any]:
        for event in await self.runtime.store.events(cid):
            if event.get("event") == kind and event.get("message_id") == message_id:
                return event
        raise NotFound(f"conversation {cid!r} has no customer message {message_id!r}")

    @staticmethod
    def _require_holder(state: State, agent: Agent, *, allow_pending: bool) -> None:
        status, holder = state.handoff.get("status"), state.handoff.get("agent")
        if status == "agent" and (holder == agent.name or agent.admin):
            return
        if status == "pending" and allow_pending:
            return
        if status == "agent":
            raise Conflict(f"{holder} has this conversation")
        raise Conflict("take the conversation first")

    async def _append(self, cid: str, new: list[dict[str, Any]], outbox: list[Outgoing] | None = None) -> State:
        return await self.runtime.store.append(cid, new, initial_slots=self.runtime.domain.initial_slots,
                                               outbox=outbox or ())

    async def _notify_customer(self, cid: str, state: State, status: str, values: dict[str, Any],
                               new: list[dict[str, Any]]) -> list[Outgoing]:
        """Tell the customer a person joined, left or closed: the bot's messages, and their outbox."""
        name, text = NOTICES[status]
        domain = self.runtime.domain
        messages = domain.render(name, {**state.slots, **values}) if name in domain.responses \
            else [{"text": text.format(**values)}]
        outbox: list[Outgoing] = []
        for message in messages:
            reason = {"route": "handoff", "status": status, "agent": values.get("agent")}
            data = {k: v for k, v in message.items() if k != "text"}
            event = ev.bot(message.get("text"), data=data, metadata={"reason": reason})
            outbox += self._push(state, message, event)
            new.append(event)
        return outbox

    def _push(self, state: State, message: dict[str, Any], event: dict[str, Any]) -> list[Outgoing]:
        """The outbox message for `message`, through the channel the customer last wrote on; the
        event records its delivery id, or why it cannot be pushed (REST answers in its response)."""
        channel = state.latest_input_channel
        if channel not in self.outputs:
            event["metadata"].update(delivered=False, delivery_error=f"the {channel} channel cannot push messages; "
                                                                     "the customer sees it in the tracker")
            return []
        outgoing = Outgoing(str(channel), message)
        event["metadata"]["delivery_id"] = outgoing.delivery_id
        return [outgoing]

    def _approved(self, entry_id: str) -> bool:
        knowledge = self.runtime.knowledge
        return knowledge is not None and knowledge.get(entry_id) is not None

    def _question(self, entry_id: str) -> str | None:
        knowledge = self.runtime.knowledge
        entry = knowledge.get(entry_id) if knowledge is not None else None
        return entry.question if entry is not None else None


async def _maybe_await(value: Any) -> Any:
    """`connected` answers at once (this worker's sockets) or asks Redis (any worker's)."""
    return await value if inspect.isawaitable(value) else value
