"""Widget presence across workers (bot/channels/presence.py) on a private redis-server: who is
connected where, a dead worker's sockets not counting, a Redis restart healed by the next beat,
and an outage that never raises."""

from __future__ import annotations

import asyncio

import pytest

from bench.private_servers import PrivateRedis
from bot.channels import presence as module
from bot.channels.presence import RedisPresence


async def test_a_session_is_connected_while_a_living_worker_has_its_socket(private_redis: PrivateRedis) -> None:
    a, b = (RedisPresence(private_redis.url(), "t:", host) for host in ("host-a", "host-b"))
    try:
        assert await b.connected("s1") is False
        await a.join("s1", "sid-1")
        assert await b.connected("s1") is True  # asked on another worker
        await a.leave("s1", "sid-1")
        assert await b.connected("s1") is False
    finally:
        await a.close()
        await b.close()


async def test_a_dead_workers_sockets_stop_counting(private_redis: PrivateRedis) -> None:
    a, b = (RedisPresence(private_redis.url(), "t:", host) for host in ("host-a", "host-b"))
    try:
        await a.join("s2", "sid-2")
        await a.client.delete("t:worker:host-a")  # its heartbeat expired: killed without a goodbye
        assert await b.connected("s2") is False
        assert await b.client.smembers("t:session:s2") == set()  # pruned
    finally:
        await a.close()
        await b.close()


async def test_the_next_beat_restores_what_a_redis_restart_lost(private_redis: PrivateRedis,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "BEAT_S", 0.05)
    a = RedisPresence(private_redis.url(), "t:", "host-a")
    try:
        await a.start()
        await a.join("s3", "sid-3")
        await asyncio.to_thread(private_redis.restart)  # empty again
        for _ in range(200):
            if await a.connected("s3"):
                break
            await asyncio.sleep(0.05)
        assert await a.connected("s3") is True
    finally:
        await a.close()


async def test_an_outage_never_raises(private_redis: PrivateRedis) -> None:
    a = RedisPresence(private_redis.url(), "t:", "host-a")
    try:
        await asyncio.to_thread(private_redis.stop)
        await a.join("s4", "sid-4")
        assert await a.connected("s4") is None  # cannot say
        await a.leave("s4", "sid-4")
    finally:
        await a.close()
