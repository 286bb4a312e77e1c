"""Rasa's `tracker_store:` and `lock_store:` sections of endpoints.yml, read as Rasa reads them
(rasa/core/tracker_store.py's create_tracker_store, rasa/core/lock_store.py's LockStore.create)
and turned into our settings: the database URL and the Redis lock store's URL and key prefix.

```yaml
tracker_store:                # Rasa's SQLTrackerStore arguments
  type: SQL                   # the only type Switchboard keeps conversations in
  dialect: postgresql         # sqlite (default), postgresql, mysql / mariadb: our async driver is used
  url: db.internal            # the host, ":port" allowed; a whole URL ("postgresql://...") is taken as is
  port: 5432
  db: switchboard             # SQLite: a file, relative to the project
  username: bot
  password: ${DB_PASSWORD}
  query: {ssl: require}       # passed to the driver
lock_store:
  type: redis                 # or in_memory (one process)
  url: redis.internal         # the host; a whole redis:// URL is taken as is
  port: 6379
  db: 1                       # Rasa's default for the lock store
  password: ${REDIS_PASSWORD}
  use_ssl: true
  key_prefix: shop            # alphanumeric, as Rasa wants it
```
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError
from bot.storage.dialects import SCHEMES

log = logging.getLogger(__name__)
#: Rasa's dialect names (the backend part of a SQLAlchemy URL) -> our backend
DIALECTS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql",
            "mariadb": "mysql"}
SQL_KEYS = {"type", "store_type", "dialect", "url", "port", "db", "username", "password", "query", "login_db"}
REDIS_KEYS = {"type", "store_type", "url", "port", "db", "username", "password", "use_ssl", "ssl_keyfile",
              "ssl_certfile", "ssl_ca_certs", "key_prefix", "socket_timeout"}
LOCK_PREFIX = "switchboard:lock:"
RASA_LOCK_DB = 1  # rasa.core.lock_store.RedisLockStore's default database


def _kind(section: dict[str, Any], default: str) -> str:
    kind = section.get("type", section.get("store_type"))  # Rasa's EndpointConfig takes either
    return default if kind is None else str(kind).strip().lower()


def tracker_store_url(section: dict[str, Any], project: Path) -> str | None:
    """The database URL that endpoints.yml's `tracker_store:` names, or None (the default)."""
    kind = _kind(section, "sql")
    if kind != "sql":
        raise ConfigError(f"endpoints.yml tracker_store: type {section.get('type', section.get('store_type'))!r} is "
                          "not supported; Switchboard keeps conversations in SQL: type: sql with dialect sqlite, "
                          "postgresql or mysql (MariaDB), or set SWITCHBOARD_DATABASE_URL")
    _ignored("tracker_store", section, SQL_KEYS)
    if section.get("login_db"):
        raise ConfigError("endpoints.yml tracker_store: login_db is not supported; create the database "
                          f"{section.get('db')!r} first (Switchboard creates its tables)")
    host = section.get("url")
    if isinstance(host, str) and "://" in host:  # a whole URL, as Rasa takes it
        return _async_driver(host)
    if not host and not section.get("db") and not section.get("dialect"):
        return None  # `type: sql` alone: the default SQLite file
    dialect = DIALECTS.get(str(section.get("dialect") or "sqlite").split("+")[0].lower())
    if dialect is None:
        raise ConfigError(f"endpoints.yml tracker_store: dialect {section.get('dialect')!r} is not supported; "
                          "use sqlite, postgresql or mysql (MariaDB)")
    query = section.get("query") or {}
    if not isinstance(query, dict):
        raise ConfigError("endpoints.yml tracker_store: query must be a mapping")
    if dialect == "sqlite":
        path = Path(str(section.get("db") or "rasa.db")).expanduser()
        return f"{SCHEMES['sqlite']}:///{path if path.is_absolute() else project / path}"
    port = section.get("port")
    if host:  # "host" or "host:port", as Rasa splits it
        parsed = urlsplit(f"scheme://{host}")
        host, port = parsed.hostname or host, parsed.port or port
    return URL.create(SCHEMES[dialect], username=_text(section.get("username")),
                      password=_text(section.get("password")), host=_text(host) or "localhost",
                      port=_port("tracker_store", port), database=_text(section.get("db")),
                      query={str(k): str(v) for k, v in query.items()}).render_as_string(hide_password=False)


def lock_store(section: dict[str, Any]) -> tuple[str | None, str]:
    """(the Redis URL, the key prefix) that endpoints.yml's `lock_store:` names; a URL of None
    means locks in this process (`in_memory`, Rasa's default)."""
    url = section.get("url")
    kind = _kind(section, "redis" if isinstance(url, str) and url.startswith(("redis", "unix")) else "in_memory")
    if kind == "in_memory":
        return None, LOCK_PREFIX
    if kind != "redis":
        raise ConfigError(f"endpoints.yml lock_store: type {section.get('type', section.get('store_type'))!r} is "
                          "not supported; use in_memory (one process) or redis (several workers)")
    _ignored("lock_store", section, REDIS_KEYS)
    prefix = _prefix(section.get("key_prefix"))
    if isinstance(url, str) and "://" in url:
        return url, prefix
    host, port = _text(url) or "localhost", section.get("port") or 6379
    if ":" in host and not host.startswith("["):
        host, _, given = host.partition(":")
        port = given or port
    user, password = _text(section.get("username")), _text(section.get("password"))
    auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@" if password else \
        (f"{quote(user, safe='')}@" if user else "")
    options = {k: section[k] for k in ("ssl_keyfile", "ssl_certfile", "ssl_ca_certs", "socket_timeout")
               if section.get(k) not in (None, "")}
    scheme = "rediss" if _flag(section.get("use_ssl")) else "redis"
    db = section.get("db", RASA_LOCK_DB)
    return (f"{scheme}://{auth}{host}:{_port('lock_store', port)}/{int(db)}"
            + (f"?{urlencode(options)}" if options else "")), prefix


def _async_driver(url: str) -> str:
    """A whole URL as Rasa users write it (a sync driver) with our async driver of that backend."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"endpoints.yml tracker_store: url is not a database URL: {exc}") from None
    backend = DIALECTS.get(parsed.get_backend_name())
    if backend is None:
        raise ConfigError(f"endpoints.yml tracker_store: {parsed.get_backend_name()!r} databases are not "
                          "supported; use sqlite, postgresql or mysql (MariaDB)")
    return parsed.set(drivername=SCHEMES[backend]).render_as_string(hide_password=False)


def _prefix(value: Any) -> str:
    if value in (None, ""):
        return LOCK_PREFIX
    if not isinstance(value, str) or not value.isalnum():
        log.warning("endpoints.yml lock_store: key_prefix %r is not alphanumeric; ignored, as Rasa ignores it", value)
        return LOCK_PREFIX
    return f"{value}:{LOCK_PREFIX}"


def _ignored(name: str, section: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        log.warning("endpoints.yml %s: %s not used by Switchboard", name, ", ".join(unknown))


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _port(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"endpoints.yml {name}: port must be a number, got {value!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"endpoints.yml {name}: port {port} is out of range")
    return port
