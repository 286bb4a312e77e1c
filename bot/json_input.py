"""Strict JSON for what arrives from outside (HTTP bodies, socket.io payloads, webhooks).

A document passes only when everything in it can be stored and hashed as it is: no NUL
character (PostgreSQL's text and jsonb refuse it), no lone surrogate (not Unicode: it cannot be
encoded as UTF-8, so neither hashed nor stored), no NaN or infinite number (not JSON: PostgreSQL
refuses it, and Python's json reads `1e400` as infinity), no integer wider than 64 bits, and no
nesting deeper than MAX_DEPTH levels (json.loads itself fails with RecursionError near 1,000).
Anything else raises BadRequest naming where in the document the problem is."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from bot.errors import BadRequest

MAX_DEPTH = 64
MAX_INT = 2**63 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SHOWN = 40  # characters of a key shown in an error


def loads(raw: bytes | str, *, what: str = "the request body", at: str = "") -> Any:
    """Parse `raw` as JSON and check it (see `check`); BadRequest for anything else."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    except ValueError:  # Python reads at most 4,300 digits into an int
        raise BadRequest(f"{what} holds a number with too many digits") from None
    check(value, what=what, at=at)
    return value


def check(value: Any, *, what: str = "the request body", at: str = "") -> None:
    """Raise BadRequest for the first unstorable thing in `value` (a parsed JSON document),
    naming its place: `metadata.scores[2]` (under `at`, when given), or `what` for the whole."""
    stack: list[tuple[Any, str, int]] = [(value, at, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            _check_str(item, path, what)
        elif isinstance(item, float):
            if not math.isfinite(item):
                kind = "NaN" if math.isnan(item) else "infinite (or beyond a float's range, like 1e400)"
                raise BadRequest(f"{_place(path, what)} is {kind}; numbers must be finite")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                raise BadRequest(f"{_place(path, what)} is an integer wider than 64 bits")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise BadRequest(f"{what} is nested too deeply at {_place(path, what)} "
                                 f"(more than {MAX_DEPTH} levels)")
            if isinstance(item, dict):
                for key, child in item.items():
                    key = str(key)
                    found = _UNSTORABLE.search(key)
                    if found is not None:
                        raise BadRequest(f"a key in {_place(path, what)} ({_show(key)}) {_problem(found.group())}")
                    stack.append((child, _join(path, key), depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def storable_text(text: str) -> str:
    """`text` without the characters no store keeps (NUL, lone surrogates): for text we make from
    another's output (a generator's answer), where refusing the whole would serve no one."""
    return _UNSTORABLE.sub("", text)


def check_text(value: str, name: str) -> None:
    """One string from outside that is no JSON document: a URL path segment, a query or form value."""
    _check_str(value, "", name)


def _check_str(text: str, path: str, what: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is not None:
        raise BadRequest(f"{_place(path, what)} {_problem(found.group())}")


def _problem(char: str) -> str:
    if char == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored; remove it"
    return (f"contains a lone surrogate (\\u{ord(char):04x}), which is not Unicode text; "
            "send valid UTF-8 (surrogates only in pairs)")


def _place(path: str, what: str) -> str:
    if len(path) > 120:
        path = path[:117] + "..."
    return f"'{path}'" if path else what


def _join(path: str, key: str) -> str:
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_show(key)}]"


def _show(key: str) -> str:
    """A key as JSON (escapes keep an error message itself valid UTF-8), shortened."""
    shown = json.dumps(key[:_SHOWN])
    return shown if len(key) <= _SHOWN else shown[:-1] + '..."'
