"""The `switchboard` command. Each command works on the bot project in the current directory,
or the one --project names."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path

from bot.errors import ConfigError

TEMPLATE = Path(__file__).parent / "templates" / "shop"


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    return _settings_for(args.project)


def _settings_for(project: str | Path, **overrides: object):  # type: ignore[no-untyped-def]
    from bot.settings import load_settings

    settings = load_settings(project, **overrides)
    os.environ.setdefault("SHOP_DATABASE_URL", f"sqlite+aiosqlite:///{settings.state_dir / 'shop.db'}")
    return settings


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and any(target.iterdir()) and not args.force:
        print(f"{target} is not empty; pass --force to write the template into it anyway", file=sys.stderr)
        return 2
    shutil.copytree(TEMPLATE, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".switchboard"))
    print(f"Wrote the shop bot template to {target}.\nNext: cd {target} && switchboard train && switchboard run")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from training.incremental import requested
    from training.project import train_project

    if args.what == "nlu":
        from training.commands import train_nlu_command

        return train_nlu_command(args)
    settings = _settings(args)
    from bot.dialogue.validate import validate_project

    report = validate_project(settings.project)  # the same findings as `switchboard data validate`
    for line in report.lines():
        print(line, file=sys.stderr)
    if not report.ok:
        raise ConfigError(f"{len(report.errors)} errors in the project's data (above); nothing was trained")
    incremental = requested(args.finetune, args.epoch_fraction, settings.nlu_model_dir)
    for step in train_project(settings, force=args.force, incremental=incremental):
        print(f"{step.name}: {'trained' if step.trained else 'skipped'} ({step.detail}) [data {step.data_hash}]")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from bot.nlu.encoder import Encoder
    from bot.nlu.projection import query_encoder
    from training.project import build_index_step

    settings = _settings(args)
    # the project's own index is built with the encoder it retrieves with (`train`: the NLU model
    # through its retrieval map, or the fine-tuned retrieval encoder)
    encoder = Encoder(threads=settings.torch_threads) if args.out else query_encoder(settings)
    step = build_index_step(
        settings,
        encoder,
        logs=[Path(p) for p in args.logs] if args.logs else None,
        out=Path(args.out) if args.out else None,
        force=args.force,
    )
    print(f"index: {'built' if step.trained else 'skipped'} ({step.detail})")
    if step.trained and not args.out:
        print("the routes were calibrated on the previous index: run `switchboard train` to calibrate them again")
    if not args.out:  # the project's own index: record its entries in the project's database too
        imported = asyncio.run(_import_index(settings))
        print(f"database: {'entries recorded' if imported else 'already up to date'} ({settings.database_url.split('://')[0]})")
    return 0


async def _import_index(settings) -> bool:  # type: ignore[no-untyped-def]
    from bot.storage.sql import SQLTrackerStore
    from knowledge.index import KnowledgeBase
    from knowledge.store import KnowledgeStore

    store = SQLTrackerStore(settings.database_url)
    try:
        await store.start()
        kb = KnowledgeBase.load(settings.knowledge_dir, encoder=None)  # type: ignore[arg-type]
        return await KnowledgeStore(store.engine).import_build(kb.entries, kb.manifest["data_hash"])
    finally:
        await store.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_run(args: argparse.Namespace) -> int:
    from bot.worker import listening_socket, serve

    settings = _settings_for(args.project, workers=args.workers)
    if not _loopback(args.host) and not settings.api_token:
        print(
            f"refusing to listen on {args.host} without an API token: set SWITCHBOARD_API_TOKEN "
            "(or server.api_token in switchboard.yml), or bind 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    if settings.workers > 1 and not settings.lock_store_url:
        print(f"{settings.workers} workers need conversation locks they share: set SWITCHBOARD_LOCK_STORE_URL "
              "(redis://host:6379/0, or lock_store.url in endpoints.yml)", file=sys.stderr)
        return 2
    try:
        sock = listening_socket(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(f"Switchboard on http://{args.host}:{args.port} (project {settings.project}{workers})", flush=True)
    if settings.workers == 1:
        asyncio.run(serve(settings, sock))
        return 0
    from bot.supervisor import Supervisor

    return Supervisor(settings.project, sock, settings.workers, verbose=args.verbose).run()


async def _shell(settings, sender: str) -> None:  # type: ignore[no-untyped-def]
    from bot.engine import UserMessage
    from bot.runtime import Runtime

    runtime = Runtime.create(settings)
    await runtime.start()
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a message (/stop or Ctrl-D to quit).")
    try:
        while True:
            try:
                text = await asyncio.to_thread(input, "you> " if interactive else "")
            except EOFError:
                break
            if text.strip() in ("/stop", "/quit"):
                break
            if not text.strip():
                continue
            result = await runtime.require_engine().handle(UserMessage(text, sender, "shell"))
            for reply in result.replies:
                line = reply.get("text") or json.dumps(reply)
                buttons = " ".join(f"[{b.get('title')}: {b.get('payload')}]" for b in reply.get("buttons", []))
                print(f"bot> {line}" + (f"\n     {buttons}" if buttons else ""), flush=True)
    finally:
        await runtime.close()


def cmd_shell(args: argparse.Namespace) -> int:
    asyncio.run(_shell(_settings(args), args.sender or f"shell-{uuid.uuid4().hex[:8]}"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import dataclasses
    import tempfile

    from bot.runtime import Runtime
    from training.evaluate import evaluate_project
    from training.report import evaluate_markdown

    settings = _settings(args)
    tests = Path(args.tests) if args.tests else settings.project / "tests"
    if not tests.is_dir():
        raise ConfigError(f"no test directory {tests}: put held_out*.yml, held_out_logs*.csv and out_of_scope*.txt there")
    foreign = [Path(p) for p in args.foreign or []]
    for path in foreign:
        if not path.is_file():
            raise ConfigError(f"foreign file {path} does not exist")

    async def run(database: str) -> dict:  # type: ignore[type-arg]
        # a throwaway database: the evaluation's conversations never reach the bot's own
        runtime = Runtime.create(dataclasses.replace(settings, database_url=database, lock_store_url=None))
        await runtime.start()
        try:
            return await evaluate_project(runtime, tests, foreign_files=foreign, generator=not args.no_generator)
        finally:
            await runtime.close()

    with tempfile.TemporaryDirectory(prefix="switchboard-evaluate-") as tmp:
        report = asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'evaluate.db'}"))
    text = json.dumps(report, indent=2)
    markdown = evaluate_markdown(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


def cmd_evaluate_retrieval(args: argparse.Namespace) -> int:
    """`evaluate retrieval`: score a knowledge index on a labelled `text,label` CSV."""
    from bot.nlu.encoder import Encoder
    from knowledge.index import KnowledgeBase
    from training.data import load_csv
    from training.evaluate_retrieval import calibrate_threshold, evaluate_retrieval, index_calibration_set, plot_sweep

    if not args.index or not args.data or not args.out:
        raise ConfigError("evaluate retrieval needs --index DIR, --data TEST.csv and --out DIR")
    encoder = Encoder(threads=int(os.environ.get("SWITCHBOARD_TORCH_THREADS", "1")))
    kb = KnowledgeBase.load(Path(args.index), encoder)
    examples = load_csv(Path(args.data)).examples
    threshold, source = args.threshold, "--threshold"
    if threshold is None and kb.manifest.get("threshold") is not None:
        threshold, source = float(kb.manifest["threshold"]), "index manifest"
    if threshold is None:
        questions, intents, ids, vectors = index_calibration_set(kb, encoder)
        threshold = calibrate_threshold(kb, questions, intents, ids=ids, vectors=vectors)
        source = "leave-one-out on the index"
    report = evaluate_retrieval(kb, [e.text for e in examples], [e.label for e in examples],
                                threshold=threshold, encoder=encoder)
    report["threshold_source"] = source
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot_sweep(report["sweep"], out / "threshold_sweep.png", threshold=threshold)
    print(json.dumps({k: v for k, v in report.items() if k != "sweep"}, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.what == "nlu":
        from training.commands import evaluate_nlu_command

        return evaluate_nlu_command(args)
    return cmd_evaluate_retrieval(args) if args.what == "retrieval" else cmd_evaluate(args)


def cmd_run_actions(args: argparse.Namespace) -> int:
    _settings(args)
    argv = [sys.executable, "-m", "rasa_sdk", "--actions", args.actions, "--port", str(args.port)]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from bot.channels.telegram import set_webhook_command

    return set_webhook_command(_settings(args), args.url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard customer-service bot")
    parser.add_argument("--project", default=".", help="the bot project directory (default: current directory)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="write the demo shop bot as a new project into DIR")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true", help="write into a non-empty directory")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("train", help="train the NLU model and build the knowledge index (skipped when data is unchanged)")
    p.add_argument("what", nargs="?", choices=["project", "nlu"], default="project",
                   help="project (default): the project's NLU model and index; nlu: a model from --data files")
    p.add_argument("--force", action="store_true", help="retrain even when the data hash is unchanged")
    p.add_argument("--data", nargs="+", help="nlu: training files (Rasa nlu.yml, CSV text,label, JSONL)")
    p.add_argument("--sentiment", help="nlu: a CSV text,label with negative/neutral/positive")
    p.add_argument("--out", help="nlu: the model directory to write")
    p.add_argument("--epochs", type=int, help="nlu: epochs for large data (small data trains longer)")
    p.add_argument("--threads", type=int, help="nlu: torch threads (default: the machine's cores, up to 4)")
    p.add_argument("--seed", type=int, help="nlu: random seed (default 13)")
    p.add_argument("--keep", type=float, default=0.97,
                   help="nlu: the out-of-scope threshold keeps at least this share of dev in-scope accuracy")
    p.add_argument("--finetune", nargs="?", const="", metavar="MODEL_DIR",
                   help="go on training the NLU model in MODEL_DIR (default: the one trained before) on the new "
                        "data, as Rasa's --finetune: new examples only, no new labels")
    p.add_argument("--epoch-fraction", type=float, default=1.0,
                   help="with --finetune: this share of a full training's epochs (default 1.0, as in Rasa)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("index", help="build the FAISS index of past support logs")
    p.add_argument("--logs", nargs="+", help="JSONL or CSV files with question and answer (default: data/support_logs*)")
    p.add_argument("--out", help="output directory (default: .switchboard/models/knowledge)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("run", help="serve the bot's HTTP API and channels")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5005)
    p.add_argument("--workers", type=int, default=None,
                   help="serving processes on the port, each with its own models (default: SWITCHBOARD_WORKERS "
                        "or 1); more than one needs a Redis lock store")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("shell", help="chat with the bot in the terminal")
    p.add_argument("--sender", help="conversation id (default: a new one)")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("evaluate", help="measure the trained bot on the project's held-out tests/")
    p.add_argument("what", nargs="?", choices=["project", "retrieval", "nlu"], default="project",
                   help="project (default): the bot on tests/; retrieval: a knowledge index on --data; "
                        "nlu: an NLU model (--model) on --data")
    p.add_argument("--tests", help="directory with held_out*.yml, held_out_logs*.csv, out_of_scope*.txt (default: tests/)")
    p.add_argument("--foreign", nargs="+", help="project: more questions the bot must not answer (.txt, one per line)")
    p.add_argument("--no-generator", action="store_true", help="project: only the run with the generator off")
    p.add_argument("--out", help="write the full JSON report here, and its markdown beside it (retrieval: a directory)")
    p.add_argument("--index", help="retrieval: the knowledge index directory")
    p.add_argument("--data", help="retrieval: a CSV with text,label (label = the intent)")
    p.add_argument("--threshold", type=float, help="retrieval: score threshold (default: manifest, else calibrated)")
    p.add_argument("--model", help="nlu: the trained model directory")
    p.add_argument("--oos", help="nlu: out-of-scope test messages (.txt, one per line, or an NLU file)")
    p.add_argument("--sentiment", help="nlu: a sentiment test CSV text,label")
    p.add_argument("--cross-validation", type=int, metavar="K",
                   help="nlu: train and test K times on stratified folds of --data instead of using --model")
    p.add_argument("--epochs", type=int, help="nlu cross-validation: epochs for large data")
    p.add_argument("--threads", type=int, help="nlu cross-validation: torch threads for training")
    p.add_argument("--seed", type=int, help="nlu cross-validation: random seed (default 13)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("run-actions", help="start a rasa-sdk action server for the project's actions")
    p.add_argument("--actions", default="actions", help="the Python package holding the actions")
    p.add_argument("--port", type=int, default=5055)
    p.set_defaults(func=cmd_run_actions)

    p = sub.add_parser("telegram", help="Telegram channel helpers")
    p = p.add_subparsers(dest="telegram_command", required=True).add_parser(
        "set-webhook", help="register the webhook URL and secret token (credentials.yml) with Telegram")
    p.add_argument("--url", help="https://<host>/webhooks/telegram/webhook (default: telegram.webhook_url)")
    p.set_defaults(func=cmd_telegram_set_webhook)

    from bot.console.commands import add_parsers
    from bot.dialogue.commands import add_parsers as add_dialogue_parsers

    add_parsers(sub, _settings)
    add_dialogue_parsers(sub, _project_option)
    for command in sub.choices.values():  # `switchboard train --project DIR`, as Rasa users type it
        _project_option(command)
    return parser


def _project_option(parser: argparse.ArgumentParser) -> None:
    """`--project` after the subcommand too; it wins over one given before it."""
    if any("--project" in action.option_strings for action in parser._actions):
        return
    parser.add_argument("--project", default=argparse.SUPPRESS, help="the bot project directory")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        for noisy in ("faiss.loader", "sentence_transformers", "httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
