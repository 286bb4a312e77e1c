"""Small builders the OpenAPI description is written with: references, JSON bodies, operations,
and the error answers every route shares (`{"error": str, "status": int}`)."""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]

# status -> (component name, when it is answered)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed: not JSON, a missing or wrongly typed field, a value out of "
                        "range, text the bot cannot store (NUL bytes, lone surrogates), a number JSON cannot "
                        "carry (NaN, Infinity, 1e400) or nesting deeper than the server reads."),
    401: ("Unauthorized", "No valid credentials: the API token (when `server.api_token` is set), the console's "
                          "session cookie, or a channel's signature or secret."),
    403: ("Forbidden", "Authenticated but not allowed: a missing or wrong CSRF header, a role that may not do "
                       "this, or a browser origin that is not allowed."),
    404: ("NotFound", "Nothing of that name: conversation, knowledge entry, agent, intent or action."),
    405: ("MethodNotAllowed", "The path exists but not with this method; the `Allow` header lists the methods "
                              "it has."),
    409: ("Conflict", "The request does not fit the current state: another agent has the conversation, or a "
                      "message id already names another message of the conversation (a retry must send the same "
                      "text)."),
    413: ("PayloadTooLarge", "The body is over the server's limit (256 KiB), or a message over "
                            "`engine.max_message_chars` (4,000 characters unless configured)."),
    429: ("TooManyRequests", "Too many requests (failed logins, or messages of one conversation or client "
                             "address); `Retry-After` says how many seconds to wait."),
    503: ("Unavailable", "The models are still loading or a store (the database, Redis) does not answer; "
                         "nothing was stored. Send it again after `Retry-After` seconds."),
}
RETRY_AFTER = {"description": "Seconds to wait before sending the request again.", "schema": {"type": "integer"}}
ALLOW = {"description": "The methods the path has.", "schema": {"type": "string"}}

TOKEN_SECURITY: list[Spec] = [{"apiToken": []}, {"apiTokenQuery": []}, {}]
CONSOLE_READ: list[Spec] = [{"consoleSession": []}]
CONSOLE_WRITE: list[Spec] = [{"consoleSession": [], "csrfToken": []}]
OPEN: list[Spec] = [{}]


def ref(name: str) -> Spec:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Spec) -> Spec:
    """`schema` or null (OpenAPI 3.1: a JSON Schema union)."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: Spec, *, required: tuple[str, ...] = (), closed: bool = False, **extra: Any) -> Spec:
    schema: Spec = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def text(min_length: int = 1, max_length: int | None = None, **extra: Any) -> Spec:
    schema: Spec = {"type": "string", "minLength": min_length, **extra}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def json_body(schema: Spec, *, description: str | None = None, required: bool = True) -> Spec:
    body: Spec = {"required": required, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def answer(description: str, schema: Spec | None = None, *, media: str = "application/json",
           headers: Spec | None = None) -> Spec:
    response: Spec = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    if headers:
        response["headers"] = headers
    return response


def errors(*statuses: int) -> Spec:
    return {str(s): {"$ref": f"#/components/responses/{ERRORS[s][0]}"} for s in statuses}


def operation(operation_id: str, summary: str, *, tags: list[str], responses: Spec, description: str | None = None,
              parameters: list[Spec] | None = None, body: Spec | None = None,
              security: list[Spec] | None = None) -> Spec:
    op: Spec = {"operationId": operation_id, "summary": summary, "tags": tags}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    op["responses"] = responses
    if security is not None:
        op["security"] = security
    return op


def path_param(name: str, description: str, schema: Spec) -> Spec:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def query_param(name: str, description: str, schema: Spec) -> Spec:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def header_param(name: str, description: str, schema: Spec, *, required: bool = False) -> Spec:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def error_responses() -> Spec:
    """components.responses: one per error status, each with the status fixed in its body."""
    out: Spec = {}
    for status, (name, when) in ERRORS.items():
        schema = {"allOf": [ref("Error"), {"type": "object", "properties": {"status": {"const": status}}}]}
        headers: Spec = {}
        if status in (429, 503):
            headers["Retry-After"] = RETRY_AFTER
        if status == 405:
            headers["Allow"] = ALLOW
        out[name] = answer(when, schema, headers=headers or None)
    return out


ERROR_SCHEMA = obj({
    "error": {"type": "string", "description": "What went wrong, in words meant for a person."},
    "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status, repeated."},
}, required=("error", "status"))
