"""Agent logins: argon2id passwords, SQL-backed sessions in an HttpOnly SameSite=Strict cookie,
a CSRF token on every state-changing request, and a limit on failed logins."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import defaultdict, deque
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from bot.errors import BadRequest, Forbidden, TooManyRequests, Unauthorized

if TYPE_CHECKING:
    from bot.storage.console import ConsoleStore, Session

COOKIE = "switchboard_console"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    from argon2 import PasswordHasher

    return PasswordHasher().check_needs_rehash(stored)


# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY: list[str] = []


def dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password("not a password of anyone"))
    return _DUMMY[0]


def check_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise BadRequest("an agent name is 1-64 letters, digits or ._-@")
    return name


def check_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


class LoginLimiter:
    """At most `attempts` failed logins per client address, and per agent name, in `window`
    seconds; a success clears the address's count. In this worker's memory: with N workers an
    attacker gets N times the attempts, still far too few to guess an argon2-hashed password."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return deque()
        return times

    def check(self, address: str, name: str) -> None:
        now = time.monotonic()
        for key in (f"addr:{address}", f"name:{name}"):
            times = self._recent(key, now)
            if len(times) >= self.attempts:
                wait = max(1, int(times[0] + self.window - now) + 1)
                raise TooManyRequests(f"too many failed logins; try again in {wait} seconds", retry_after=wait)

    def failed(self, address: str, name: str) -> None:
        now = time.monotonic()
        for key in (f"addr:{address}", f"name:{name}"):
            self._failures[key].append(now)

    def succeeded(self, address: str) -> None:
        self._failures.pop(f"addr:{address}", None)


async def login(
    store: "ConsoleStore", limiter: LoginLimiter, address: str, name: str, password: str
) -> "tuple[Session, str]":
    """Check a name and password; returns the new session and its cookie token."""
    limiter.check(address, name)
    found = await store.credentials(name)
    stored = found[1] if found else dummy_hash()
    ok = await asyncio.to_thread(verify_password, stored, password)
    if not ok or found is None:
        limiter.failed(address, name)
        raise Unauthorized("wrong name or password")
    limiter.succeeded(address)
    agent = found[0]
    if needs_rehash(stored):  # the hashing parameters were raised since this password was set
        await store.set_password_hash(name, await asyncio.to_thread(hash_password, password))
    token, csrf = await store.open_session(agent.name, SESSION_TTL)
    from bot.storage.console import Session

    return Session(agent, csrf), token


def client_address(remote: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The address a login came from. Behind trusted proxies, the last X-Forwarded-For hop that is
    not one of them (earlier hops are the client's own claim); otherwise the connection's peer."""
    address = remote or "unknown"
    if address not in trusted or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted:
            return hop
    return address


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), path="/console",
                        httponly=True, samesite="Strict", secure=_https(request))


def clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/console", secure=_https(request), httponly=True, samesite="Strict")


def _https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


async def session_of(request: web.Request, store: "ConsoleStore", *, admin: bool = False) -> "Session":
    """The request's session; for unsafe methods its CSRF token must come along in the header.
    Raises 401 without a live session, 403 on a missing or wrong token or a missing role."""
    token = request.cookies.get(COOKIE)
    session = await store.session(token) if token else None
    if session is None:
        raise Unauthorized("log in to the console first")
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header")
    if admin and not session.agent.admin:
        raise Forbidden("only an admin can do this")
    return session
