"""paths of the agent console's API (bot/console/routes.py): a session cookie from POST
/console/api/login, and its CSRF token in the X-CSRF-Token header of every POST and DELETE. Without a
session every operation but login answers 401; the API token plays no part."""

from __future__ import annotations

from bot.server.openapi.common import (
    CONSOLE_READ, CONSOLE_WRITE, OPEN, Spec, answer, errors, json_body, obj, operation, path_param, ref, text,
)
from bot.server.openapi.schemas import CONVERSATION_ID

TAGS = ["console"]
CID = path_param("cid", "The conversation.", CONVERSATION_ID)
AGENT_NAME = text(1, 64, pattern=r"^[A-Za-z0-9._@-]{1,64}$")
PASSWORD = text(10, 1024)


def _read(operation_id: str, summary: str, ok: Spec, *, parameters: list[Spec] | None = None,
          extra: tuple[int, ...] = (), description: str | None = None) -> Spec:
    return operation(operation_id, summary, tags=TAGS, security=CONSOLE_READ, parameters=parameters,
                     description=description, responses={"200": ok, **errors(401, *extra, 503)})


def _write(operation_id: str, summary: str, status: int, ok: Spec, *, body: Spec | None = None,
           parameters: list[Spec] | None = None, extra: tuple[int, ...] = (), description: str | None = None) -> Spec:
    codes = sorted({401, 403, *extra, 503} | ({400, 413} if body is not None else set()))
    return operation(operation_id, summary, tags=TAGS, security=CONSOLE_WRITE, parameters=parameters, body=body,
                     description=description, responses={str(status): ok, **errors(*codes)})


def _conversation_paths() -> Spec:
    handoff = obj({"handoff": ref("Handoff")}, required=("handoff",))
    move = path_param("move", "take: the agent gets it (an admin may take it from another agent); handback: the "
                              "bot answers again; close: nobody answers.",
                      {"type": "string", "enum": ["take", "handback", "close"]})
    return {
        "/console/api/conversations/{cid}": {"get": _read(
            "consoleConversation", "A conversation's transcript, with the bot's reasons and deliveries",
            answer("The conversation.", ref("ConsoleConversation")), parameters=[CID], extra=(400, 404))},
        "/console/api/conversations/{cid}/{move}": {"post": _write(
            "consoleMove", "Take the conversation, hand it back to the bot, or close it", 200,
            answer("Who has it now.", handoff), parameters=[CID, move], extra=(400, 404, 409),
            description="The customer is told, through their own channel.")},
        "/console/api/conversations/{cid}/reply": {"post": _write(
            "consoleReply", "Reply to the customer through their channel", 201,
            answer("The reply's transcript line.", obj({"item": ref("TranscriptItem")}, required=("item",))),
            parameters=[CID], extra=(404, 409), description="The agent must have the conversation (take it first).",
            body=json_body(obj({"text": text(1, pattern=r"\S")}, required=("text",))))},
        "/console/api/conversations/{cid}/relabel": {"post": _write(
            "consoleRelabel", "Correct the intent of a customer message (for `switchboard export training-data`)",
            201, answer("The correction.", obj({"message_id": {"type": "string"}, "intent": {"type": "string"},
                                                "predicted": {"type": ["string", "null"]}},
                                               required=("message_id", "intent", "predicted"))),
            parameters=[CID], extra=(404,),
            body=json_body(obj({"message_id": {"type": "string"}, "intent": {"type": "string"}},
                               required=("message_id", "intent"))))},
        "/console/api/conversations/{cid}/approve": {"post": _write(
            "consoleApprove", "Make an agent's reply a knowledge-base answer", 201,
            answer("The new knowledge entry.", obj({"entry": ref("KnowledgeEntry")}, required=("entry",))),
            parameters=[CID], extra=(404,),
            description="The question is the customer's last one before the reply unless `question` is given.",
            body=json_body(obj({"message_id": {"type": "string"}, "question": {"type": ["string", "null"]}},
                               required=("message_id",))))},
        "/console/api/conversations/{cid}/resend": {"post": _write(
            "consoleResend", "Send an undelivered message again (a sent one is never sent twice)", 200,
            answer("The delivery after the attempt.", obj({"delivery": ref("Delivery"),
                                                           "delivered": {"type": "boolean"}},
                                                          required=("delivery", "delivered"))),
            parameters=[CID], extra=(404,),
            body=json_body(obj({"delivery_id": text(1)}, required=("delivery_id",))))},
    }


def console_paths() -> Spec:
    agents = obj({"agents": {"type": "array", "items": ref("Agent")}}, required=("agents",))
    me = answer("The agent and the CSRF token of the session.", ref("ConsoleMe"))
    return {
        "/console/api/login": {"post": operation(
            "consoleLogin", "Log in: sets the session cookie", tags=TAGS, security=OPEN,
            description="At most 5 failed logins per client address, and per name, in 5 minutes (429 then). The "
                        "body must be application/json (a cross-site form cannot send it).",
            body=json_body(obj({"name": text(1), "password": text(1)}, required=("name", "password"))),
            responses={"200": {**me, "headers": {"Set-Cookie": {
                "description": "switchboard_console: HttpOnly, SameSite=Strict, Path=/console.",
                "schema": {"type": "string"}}}}, **errors(400, 401, 413, 429, 503)})},
        "/console/api/logout": {"post": _write(
            "consoleLogout", "Log out: ends the session", 204, answer("Logged out."))},
        "/console/api/me": {"get": _read("consoleMe", "Who is logged in", me)},
        "/console/api/queue": {"get": _read(
            "consoleQueue", "The conversations waiting for a person or with one",
            answer("The queue.", obj({"conversations": {"type": "array", "items": ref("QueueItem")}},
                                     required=("conversations",))))},
        "/console/api/live": {"get": _read(
            "consoleLive", "Live updates (server-sent events)",
            answer("`event: conversation|delivery|annotation|session_ended` with a JSON `data:` line each, until "
                   "the console leaves or its login ends.", {"type": "string"}, media="text/event-stream"))},
        **_conversation_paths(),
        "/console/api/agents": {
            "get": _read("listAgents", "The agents (admins only)", answer("The agents.", agents), extra=(403,)),
            "post": _write(
                "addAgent", "Add an agent (admins only)", 201,
                answer("Added.", obj({"agent": ref("Agent")}, required=("agent",))), extra=(409,),
                body=json_body(obj({"name": AGENT_NAME, "password": PASSWORD,
                                    "role": {"type": "string", "enum": ["agent", "admin"]}},
                                   required=("name", "password")))),
        },
        "/console/api/agents/{name}": {"delete": _write(
            "removeAgent", "Remove an agent and end their sessions (admins only; not yourself)", 204,
            answer("Removed."), parameters=[path_param("name", "The agent.", AGENT_NAME)], extra=(404, 409))},
    }
