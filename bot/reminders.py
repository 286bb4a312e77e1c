"""Reminders, as Rasa runs them, kept in SQL so that each fires once with several workers and
after a restart.

An action returns `ReminderScheduled` (`{"event": "reminder", "intent", "entities", "date_time",
"name", "kill_on_user_msg"}`); once the event is stored, a row lands in the `reminders` table
(a pending reminder of the same name in the same conversation is replaced, as Rasa replaces
it). `ReminderCancelled` (`{"event": "cancel_reminder", "name"?, "intent"?, "entities"?}`)
cancels the pending ones it names (by name, or by intent and entities). Every worker polls for
due reminders; the one whose UPDATE ... WHERE status = 'pending' changes the row runs it, so a
reminder fires once. Firing means: unless `kill_on_user_msg` and the customer wrote after it was
scheduled, the intent (with its entities) is triggered in the conversation, as Rasa's
trigger_external_user_uttered does, and the turn writes its replies to the outbox of the channel
the conversation was on (when that channel can send outside a request: Slack, Telegram, the
widget, callback), which delivers them. A worker that dies between claiming and firing loses that
reminder (logged as `firing`): at most once, never twice."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import and_, select, update

from bot.background import Periodic
from bot.storage.schema import reminders
from bot.tracker import State

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
BATCH = 20


def fire_time(value: Any) -> float:
    """A reminder's `date_time` (ISO 8601; naive means local time, as Rasa reads it) as a unix time."""
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def entity_map(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(e.get("entity")): e.get("value") for e in raw if isinstance(e, dict) and e.get("entity")}
    return {}


class ReminderScheduler:
    """Records reminder events (a store listener) and fires due reminders (a polling task).

    `trigger(conversation_id, intent, entities, channel)` runs the turn (whose replies go out
    through the channel's outbox) and returns its replies, or None when it did not run."""

    def __init__(self, engine: Any, trigger: Callable[..., Any],
                 *, poll_seconds: float = POLL_SECONDS, worker: str | None = None) -> None:
        self.db, self.trigger, self.poll_seconds = engine, trigger, poll_seconds
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._poller = Periodic(self.fire_due, lambda: self.poll_seconds, "reminders")

    # -- recording ------------------------------------------------------------------------------
    async def on_events(self, conversation_id: str, events: Sequence[dict[str, Any]], state: State) -> None:
        for event in events:
            if event.get("event") == "reminder":
                await self.schedule(conversation_id, event, state.latest_input_channel)
            elif event.get("event") == "cancel_reminder":
                await self.cancel(conversation_id, event)

    async def schedule(self, conversation_id: str, event: Mapping[str, Any], channel: str | None) -> None:
        try:
            at = fire_time(event.get("date_time"))
        except (TypeError, ValueError):
            log.error("conversation %s: reminder %r has no readable date_time %r; it is not scheduled",
                      conversation_id, event.get("name"), event.get("date_time"))
            return
        name = str(event.get("name") or f"reminder-{event.get('timestamp', time.time())}")
        async with self.db.begin() as conn:
            await conn.execute(update(reminders).where(and_(
                reminders.c.conversation_id == conversation_id, reminders.c.name == name,
                reminders.c.status == "pending")).values(status="cancelled"))
            await conn.execute(reminders.insert().values(
                conversation_id=conversation_id, name=name, intent=str(event.get("intent")),
                entities=entity_map(event.get("entities")), fire_at=at,
                scheduled_at=float(event.get("timestamp") or time.time()),
                kill_on_user_msg=bool(event.get("kill_on_user_msg", True)), channel=channel, status="pending"))

    async def cancel(self, conversation_id: str, event: Mapping[str, Any]) -> int:
        where = [reminders.c.conversation_id == conversation_id, reminders.c.status == "pending"]
        if event.get("name"):
            where.append(reminders.c.name == str(event["name"]))
        elif event.get("intent"):
            where.append(reminders.c.intent == str(event["intent"]))
        async with self.db.begin() as conn:
            rows = (await conn.execute(select(reminders.c.id, reminders.c.entities).where(and_(*where)))).all()
            wanted = entity_map(event.get("entities"))
            ids = [r.id for r in rows if not wanted or all(r.entities.get(k) == v for k, v in wanted.items())]
            if ids:
                await conn.execute(update(reminders).where(reminders.c.id.in_(ids)).values(status="cancelled"))
        return len(ids)

    # -- firing ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()

    async def fire_due(self, now: float | None = None) -> int:
        """Fire the reminders due at `now` that this worker claims; returns how many it fired."""
        now = time.time() if now is None else now
        async with self.db.connect() as conn:
            due = (await conn.execute(select(reminders).where(and_(
                reminders.c.status == "pending", reminders.c.fire_at <= now)).order_by(reminders.c.fire_at)
                .limit(BATCH))).mappings().all()
        fired = 0
        for row in due:
            if not await self._claim(row["id"]):
                continue  # another worker has it
            fired += await self._fire(dict(row))
        return fired

    async def _claim(self, reminder_id: int) -> bool:
        async with self.db.begin() as conn:
            result = await conn.execute(update(reminders).where(and_(
                reminders.c.id == reminder_id, reminders.c.status == "pending")).values(
                status="firing", worker=self.worker))
        return bool(result.rowcount)

    async def _fire(self, row: dict[str, Any]) -> int:
        status = "fired"
        try:
            replies = await self.trigger(row["conversation_id"], row["intent"], row["entities"], row["channel"],
                                         kill_after=row["scheduled_at"] if row["kill_on_user_msg"] else None)
            if replies is None:
                status = "killed"  # the customer wrote after it was scheduled
        except Exception:
            status = "failed"
            log.exception("reminder %s of conversation %s failed", row["name"], row["conversation_id"])
        async with self.db.begin() as conn:
            await conn.execute(update(reminders).where(reminders.c.id == row["id"]).values(status=status))
        log.info("reminder %s of conversation %s: %s", row["name"], row["conversation_id"], status)
        return int(status == "fired")


def payload(intent: str, entities: Mapping[str, Any]) -> str:
    return f"/{intent}" + (json.dumps(dict(entities)) if entities else "")
