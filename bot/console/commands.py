"""`switchboard agents add|remove|list` and `switchboard export training-data`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Awaitable, Callable

import yaml

from bot.console import auth
from bot.errors import SwitchboardError
from bot.settings import Settings
from bot.storage.console import ConsoleStore
from bot.storage.sql import SQLTrackerStore

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_parsers(sub: Any, settings_of: SettingsOf) -> None:
    p = sub.add_parser("agents", help="the agent console's logins")
    agents = p.add_subparsers(dest="agents_command", required=True)
    add = agents.add_parser("add", help="add an agent; the password is read from standard input "
                                        "(asked twice at a terminal)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage agents")
    add.set_defaults(func=lambda a: _run(settings_of(a), _add, a))
    remove = agents.add_parser("remove", help="remove an agent and end their sessions")
    remove.add_argument("name")
    remove.set_defaults(func=lambda a: _run(settings_of(a), _remove, a))
    agents.add_parser("list", help="list the agents").set_defaults(func=lambda a: _run(settings_of(a), _list, a))

    p = sub.add_parser("export", help="export what agents taught the bot")
    export = p.add_subparsers(dest="export_command", required=True)
    data = export.add_parser("training-data", help="the agents' intent corrections as Rasa NLU data (nlu.yml)")
    data.add_argument("--out", help="write here (default: standard output); e.g. data/nlu_corrections.yml")
    data.set_defaults(func=lambda a: _run(settings_of(a), _export, a))


def _run(settings: Settings, command: Callable[[ConsoleStore, argparse.Namespace], Awaitable[int]],
         args: argparse.Namespace) -> int:
    async def main() -> int:
        tracker_store = SQLTrackerStore(settings.database_url)
        try:
            await tracker_store.start()  # migrates the schema if this database is new
            return await command(ConsoleStore(tracker_store.engine), args)
        finally:
            await tracker_store.close()

    try:
        return asyncio.run(main())
    except SwitchboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("error: the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _add(store: ConsoleStore, args: argparse.Namespace) -> int:
    name = auth.check_name(args.name)
    password = auth.check_password(_password())
    role = "admin" if args.admin else "agent"
    try:
        await store.add_agent(name, await asyncio.to_thread(auth.hash_password, password), role)
    except KeyError:
        print(f"error: an agent called {name!r} exists already", file=sys.stderr)
        return 1
    print(f"added {role} {name}")
    return 0


async def _remove(store: ConsoleStore, args: argparse.Namespace) -> int:
    if not await store.remove_agent(args.name):
        print(f"error: no agent {args.name!r}", file=sys.stderr)
        return 1
    print(f"removed {args.name}")
    return 0


async def _list(store: ConsoleStore, _args: argparse.Namespace) -> int:
    found = await store.agents()
    if not found:
        print("no agents yet: add one with `switchboard agents add NAME --admin`")
    for agent in found:
        print(f"{agent.name}\t{agent.role}\t{agent.created_at}")
    return 0


async def _export(store: ConsoleStore, args: argparse.Namespace) -> int:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for correction in await store.corrections():
        text = " ".join(correction.text.split())
        if text and text not in by_intent[correction.intent]:
            by_intent[correction.intent].append(text)
    document = render_nlu(by_intent)
    if args.out:
        Path(args.out).write_text(document, encoding="utf-8")
        total = sum(len(v) for v in by_intent.values())
        print(f"wrote {total} example(s) of {len(by_intent)} intent(s) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(document)
    return 0


def render_nlu(by_intent: dict[str, list[str]]) -> str:
    """Rasa 3 NLU YAML: one block of examples per intent."""
    nlu = [{"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)}
           for intent, texts in sorted(by_intent.items())]

    class Literal(str):
        pass

    def literal(dumper: yaml.SafeDumper, value: Literal) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")

    dumper = type("NluDumper", (yaml.SafeDumper,), {})
    dumper.add_representer(Literal, literal)
    for block in nlu:
        block["examples"] = Literal(block["examples"])
    header = "# Intent corrections made by agents in the Switchboard console.\n"
    return header + yaml.dump({"version": "3.1", "nlu": nlu}, Dumper=dumper, sort_keys=False, allow_unicode=True)
