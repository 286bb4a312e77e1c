"""`switchboard data validate`, `switchboard data migrate`, `switchboard test` and `test nlu`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.dialogue.validate import validate_project

    report = validate_project(Path(args.project).resolve())
    for line in report.lines():
        print(line)
    print(f"{len(report.errors)} errors, {len(report.warnings)} warnings: {report.story_blocks} stories, "
          f"{report.rule_blocks} rules, {report.test_blocks} test stories")
    return 0 if report.ok else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.dialogue.migrate import migrate_project

    report = migrate_project(Path(args.project).resolve(), Path(args.out).resolve() if args.out else None)
    for note in report.notes:
        print(note)
    if report.backup is not None:
        print(f"the original files are kept in {report.backup}")
    print(f"{len(report.files_written)} files written")
    return 0


def cmd_test_nlu(args: argparse.Namespace) -> int:
    """Rasa's `rasa test nlu`: `evaluate nlu` on the project's held-out NLU file (tests/held_out*.yml,
    else data/nlu.yml, which Rasa uses by default) with the project's trained model."""
    from bot.errors import ConfigError
    from bot.settings import load_settings
    from training.commands import evaluate_nlu_command

    settings = load_settings(args.project)
    data = args.nlu
    if data is None:
        held_out = sorted((settings.project / "tests").glob("held_out*.yml"))
        data = str(held_out[0] if held_out else settings.data_dir / "nlu.yml")
    if not Path(data).exists():
        raise ConfigError(f"no NLU test data at {data}: give --nlu FILE")
    options = argparse.Namespace(data=data, oos=args.oos, sentiment=None, cross_validation=args.cross_validation,
                                 epochs=None, threads=None, seed=None,
                                 out=args.out or str(settings.project / "results" / "nlu"),
                                 model=args.model or str(settings.nlu_model_dir))
    return evaluate_nlu_command(options)


def cmd_test(args: argparse.Namespace) -> int:
    import logging

    if args.what == "nlu":
        return cmd_test_nlu(args)

    from bot.settings import load_settings
    from training.story_tests import run_test_stories

    settings = load_settings(args.project)
    logging.getLogger("bot.dialogue.model").setLevel(logging.ERROR)  # validate reports them; here: results
    summary = run_test_stories(settings, stories=[Path(p) for p in args.stories] if args.stories else None,
                           out=Path(args.out) if args.out else settings.project / "results")
    print(f"{summary['passed']} of {summary['stories']} test stories passed; report in {summary['out']}")
    for failed in summary["failed_stories"]:
        first = failed["failures"][0]
        print(f"  failed: {failed['story']} ({failed['source']}): at {first['source']} expected {first['kind']} "
              f"{first['expected']!r}, got {first['predicted']!r} ({first['policy']})", file=sys.stderr)
    return 0 if summary["failed"] == 0 else 1


def add_parsers(sub: Any, project_option: Callable[[argparse.ArgumentParser], None]) -> None:
    data = sub.add_parser("data", help="check or convert the project's Rasa data")
    commands = data.add_subparsers(dest="data_command", required=True)
    p = commands.add_parser("validate", help="list every construct that cannot be honoured, with file and line "
                                             "(exit 1 on errors)")
    project_option(p)
    p.set_defaults(func=cmd_validate)
    p = commands.add_parser("migrate", help="convert a Rasa 2 domain and data to Rasa 3, as `rasa data migrate` does")
    p.add_argument("--out", help="write the migrated project here (default: in place, originals backed up)")
    project_option(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("test", help="run the project's test stories (tests/test_*.yml) through the trained bot; "
                                    "`test nlu`: evaluate the NLU model (as `evaluate nlu`)")
    p.add_argument("what", nargs="?", choices=["core", "nlu"], default="core",
                   help="core (default): the test stories; nlu: the NLU model on --nlu")
    p.add_argument("--stories", nargs="+", help="test story files (default: the project's tests/test_*.yml)")
    p.add_argument("--out", help="results directory (default: results/, nlu: results/nlu)")
    p.add_argument("--nlu", help="nlu: the test NLU file (default: tests/held_out*.yml, else data/nlu.yml)")
    p.add_argument("--model", help="nlu: the model directory (default: the project's trained one)")
    p.add_argument("--oos", help="nlu: out-of-scope test messages (.txt or an NLU file)")
    p.add_argument("--cross-validation", type=int, metavar="K", help="nlu: K-fold cross-validation instead")
    project_option(p)
    p.set_defaults(func=cmd_test)
