"""Does the demo shop answer only what it knows? Before and after, side by side in one run.

Both versions (the baseline commit, checked out in a git worktree and trained with its own code
and data, and this tree) answer the same questions through their real engine, in process, each
message in a fresh conversation (training/evaluate.py's `turn`), generator off and embedded:

- the shop's held-out questions (its tests/: intent examples, and questions its support logs
  answer), each right or wrong as `switchboard evaluate` counts it; asking for a person is
  right only when handed over;
- foreign questions from ../shared/data (bench/foreign_sets.py, the data sets' test splits:
  SGD services and payments, BANKING77's bank-only questions, airline tweets): any answer
  counts against the bot, per route and per source.

With the generator on, the foreign questions are a uniform sample of all of them
(`--generation-sample`, each source in its share of the whole): the embedded model needs seconds
per answer. The generator-off run's answers to the same sample are reported beside it. Writes OUT/answer_quality.json and .md. Measures only."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SWITCHBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
BASELINE = "a3861a9"  # main before the honest-answers work (issue 12)
SHOP = Path("bot") / "templates" / "shop"
WORKTREES = Path(tempfile.gettempdir()) / "switchboard-bench"


# -- the driver: runs inside one version's tree ---------------------------------------------
def drive(tree: Path, questions: Path, generator: str, out: Path) -> None:
    """Ask every question of `questions` through the engine of the tree at `tree`."""
    sys.path.insert(0, str(tree))
    spec = importlib.util.spec_from_file_location("answer_quality_turns", REPO / "training" / "evaluate.py")
    assert spec is not None and spec.loader is not None
    turns = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = turns
    spec.loader.exec_module(turns)  # this tree's `turn`, on the other tree's engine
    from bot.runtime import Runtime
    from bot.settings import load_settings

    items = json.loads(questions.read_text())

    async def run() -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["SHOP_DATABASE_URL"] = f"sqlite+aiosqlite:///{Path(tmp) / 'shop.db'}"
            settings = load_settings(tree / SHOP)
            settings = dataclasses.replace(settings, database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bot.db'}")
            runtime = Runtime.create(settings)
            await runtime.start()
            if runtime.generator is not None:
                await runtime.generator.warm_up()
            rows = []
            try:
                for item in items:
                    o = await turns.turn(runtime, item["text"])
                    if item["set"] == "logs":  # the answer as this version's index holds it (normalised)
                        entry = runtime.knowledge.get(item["expected"]) if runtime.knowledge is not None else None
                        item = {**item, "expected_answer": entry.answer if entry is not None else None}
                    rows.append({**item, "route": o.route, "intent": o.intent, "confidence": round(o.confidence, 4),
                                 "log": o.log, "log_answer": o.log_answer, "reply": (o.answer or "")[:240],
                                 "ms": round(o.ms, 1)})
            finally:
                await runtime.close()
            return rows

    started = time.perf_counter()
    rows = asyncio.run(run())
    out.write_text(json.dumps({"generator": generator, "seconds": round(time.perf_counter() - started, 1),
                               "rows": rows}))


# -- the parent: builds the versions, asks, scores -------------------------------------------
def worktree(rev: str) -> Path:
    """The baseline's source, checked out once per machine, its shop trained with its own code."""
    path = WORKTREES / rev
    if not (path / ".git").exists():
        WORKTREES.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), rev], check=True)
    return path


def train(tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-m", "bot.cli", "--project", str(tree / SHOP), "train"], cwd=tree, env=env,
                   check=True)


def questions(per_source: int | None, split: str = "test", *, generation_sample: int | None = None) -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    import csv

    import foreign_sets
    from training.data import load_nlu

    tests = REPO / SHOP / "tests"
    items: list[dict[str, Any]] = []
    for path in sorted(tests.glob("held_out*.yml")):
        items += [{"set": "intents", "source": path.name, "expected": e.label, "text": e.text}
                  for e in load_nlu([path]).examples]
    for path in sorted(tests.glob("held_out_logs*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            items += [{"set": "logs", "source": path.name, "expected": row["log_id"], "text": row["text"]}
                      for row in csv.DictReader(fh)]
    foreign = (foreign_sets.uniform_sample(SHARED, split, size=generation_sample) if generation_sample
               else foreign_sets.sample(SHARED, split, per_source=per_source))
    for source, texts in foreign.items():
        items += [{"set": "foreign", "source": source, "text": t} for t in texts]
    if not generation_sample:  # reported on their own, never counted as foreign (bench/foreign_sets.py)
        items += [{"set": "generic", "source": "sgd_payments_generic", "text": t}
                  for t in foreign_sets.generic_payments(SHARED, split)]
    return items


def ask(tree: Path, items: list[dict[str, Any]], generator: str, work: Path, name: str) -> dict[str, Any]:
    qfile, out = work / f"{name}.questions.json", work / f"{name}.answers.json"
    qfile.write_text(json.dumps(items))
    env = {**os.environ, "SWITCHBOARD_GENERATOR": generator, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--drive", str(tree), "--questions", str(qfile),
                    "--generator", generator, "--answers", str(out)], env=env, cwd=tree, check=True)
    return dict(json.loads(out.read_text()))


def score(run: dict[str, Any], handoff: set[str]) -> dict[str, Any]:
    """The rates `switchboard evaluate` reports (training/evaluate.py's rules), per version."""
    from training.evaluate import ANSWERING, Outcome, intent_right, log_right

    rows = run["rows"]
    for r in rows:
        o = Outcome(r["text"], r["route"], r["intent"], r["confidence"], r["reply"], r["log"], r["log_answer"])
        r["right"] = (intent_right(o, r["expected"], handoff) if r["set"] == "intents"
                      else log_right(o, r["expected_answer"]) if r["set"] == "logs" else not o.route in ANSWERING)
    intents = [r for r in rows if r["set"] == "intents"]
    logs = [r for r in rows if r["set"] == "logs"]
    foreign = [r for r in rows if r["set"] == "foreign"]
    generic = [r for r in rows if r["set"] == "generic"]
    held = intents + logs
    out: dict[str, Any] = {"seconds": run["seconds"], "held_out": {
        "right": _rate(sum(r["right"] for r in held), len(held)),
        "intents_right": _rate(sum(r["right"] for r in intents), len(intents)),
        "logs_right": _rate(sum(r["right"] for r in logs), len(logs)),
        "logs_answered_wrong": _rate(sum(r["route"] in ANSWERING and not r["right"] for r in logs), len(logs)),
        "person_requests_handed_over": _rate(sum(r["right"] for r in intents if r["expected"] in handoff),
                                             sum(r["expected"] in handoff for r in intents)),
    }}
    for name, files in (("held_out_set_1", ("held_out.yml", "held_out_logs.csv")),
                        ("held_out_set_2", ("held_out_2.yml", "held_out_logs_2.csv"))):
        part = [r for r in held if r["source"] in files]
        out["held_out"][name] = _rate(sum(r["right"] for r in part), len(part))
    routes = {"intent": ("rules", "loop"), "retrieval": ("retrieval",), "generation": ("generation",)}
    out["foreign"] = {"answered": _rate(sum(r["route"] in ANSWERING for r in foreign), len(foreign)),
                      "by_route": {k: _rate(sum(r["route"] in v for r in foreign), len(foreign)) for k, v in routes.items()},
                      "by_source": {s: _rate(sum(r["route"] in ANSWERING for r in foreign if r["source"] == s),
                                             sum(r["source"] == s for r in foreign))
                                    for s in sorted({r["source"] for r in foreign})}}
    out["generic_payments"] = {"answered": _rate(sum(r["route"] in ANSWERING for r in generic), len(generic)),
                               "by_intent_or_log": dict(sorted(_count(r["log"] or r["intent"] for r in generic
                                                                      if r["route"] in ANSWERING).items()))}
    out["foreign"]["answered_with_generic_payments"] = _rate(
        sum(r["route"] in ANSWERING for r in foreign + generic), len(foreign) + len(generic))
    out["examples"] = {
        "foreign_answered": [_example(r) for r in sorted(foreign, key=lambda r: -r["confidence"])
                             if r["route"] in ANSWERING][:200],
        "held_out_wrong": [_example(r) for r in held if not r["right"]][:40],
    }
    return out


def _count(keys: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[str(key)] = counts.get(str(key), 0) + 1
    return counts


def _rate(count: int, total: int) -> dict[str, Any]:
    return {"rate": round(count / total, 4) if total else 0.0, "count": int(count), "of": int(total)}


def _example(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("set", "source", "text", "expected", "route", "intent", "confidence", "log", "reply")}


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    lines = ["# Answer quality: the demo shop against questions it should and should not answer", "",
             f"{result['machine']}, {result['time']}. "
             + (f"Baseline `{result['baseline']}` (before) against this tree (after), each trained with its own code "
                f"and data; " if any(name.startswith("before") for name in runs) else "This tree only (--skip-baseline); ")
             + f"every message a fresh conversation of the real engine. "
             f"Foreign questions: {result['foreign_questions']} ({result.get('split', 'test')} splits of ../shared/data; with the generator on, a "
             f"sample of {result['foreign_questions_generation']}).", "",
             "| | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]

    def pct(v: dict[str, Any] | None) -> str:
        return f"{v['rate']:.1%} ({v['count']}/{v['of']})" if v else "-"

    rows = [("held-out questions answered right", lambda r: pct(r["held_out"]["right"])),
            ("... set 1 (dev: looked at while building)", lambda r: pct(r["held_out"]["held_out_set_1"])),
            ("... set 2 (written blind)", lambda r: pct(r["held_out"]["held_out_set_2"])),
            ("intent questions answered right", lambda r: pct(r["held_out"]["intents_right"])),
            ("log questions answered with their log", lambda r: pct(r["held_out"]["logs_right"])),
            ("log questions answered wrong", lambda r: pct(r["held_out"]["logs_answered_wrong"])),
            ("\"I want a person\" handed over", lambda r: pct(r["held_out"]["person_requests_handed_over"])),
            ("**foreign questions answered**", lambda r: pct(r["foreign"]["answered"])),
            ("... by an intent", lambda r: pct(r["foreign"]["by_route"]["intent"])),
            ("... by a support log", lambda r: pct(r["foreign"]["by_route"]["retrieval"])),
            ("... by generation", lambda r: pct(r["foreign"]["by_route"]["generation"])),
            ("... of the generator-on sample", lambda r: pct(r["foreign"].get("on_generation_sample"))),
            ("generic payment lines answered (not foreign, see below)", lambda r: pct(r.get("generic_payments", {}).get("answered"))),
            ("foreign and generic payment lines together", lambda r: pct(r["foreign"].get("answered_with_generic_payments")))]
    sources = sorted({s for r in runs.values() for s in r["foreign"]["by_source"]})
    rows += [(f"... of {s}", lambda r, s=s: pct(r["foreign"]["by_source"].get(s))) for s in sources]
    rows.append(("run time (s)", lambda r: str(r["seconds"])))
    for title, get in rows:
        lines.append(f"| {title} | " + " | ".join(get(r) for r in runs.values()) + " |")
    for name, run in runs.items():
        answered = run["examples"]["foreign_answered"]
        if answered:
            lines += ["", f"## Foreign questions answered: {name}", "", "| source | question | route | intent / log | reply |",
                      "|---|---|---|---|---|"]
            lines += [f"| {e['source']} | {_cell(e['text'])} | {e['route']} | {e['log'] or e['intent']} "
                      f"({e['confidence']}) | {_cell(e['reply'], 80)} |" for e in answered[:15]]
    lines += ["", "Generic payment lines: SGD payment-service openers that name nothing only a payment app has (\"I want "
              "to make a payment\", \"I need to make a payment of 50 bucks from my debit card\"). Said to a shop, they are "
              "about paying the shop, which its payment-methods answer takes up; they are reported here and not counted "
              "as foreign (bench/foreign_sets.py). Answered by: " + "; ".join(
                  f"{name}: " + ", ".join(f"{k} {v}" for k, v in run.get("generic_payments", {}).get("by_intent_or_log", {}).items())
                  for name, run in runs.items() if "generic_payments" in run) + "."]
    after = [n for n in runs if n.startswith("after")]
    for name in after:
        wrong = runs[name]["examples"]["held_out_wrong"]
        if wrong:
            lines += ["", f"## Held-out questions not answered right: {name}", "",
                      "| question | expected | route | got |", "|---|---|---|---|"]
            lines += [f"| {_cell(e['text'])} | {e['expected']} | {e['route']} | {e['log'] or e['intent']} |"
                      for e in wrong]
    return "\n".join(lines) + "\n"


def _cell(text: Any, width: int = 90) -> str:
    return str(text or "").replace("|", "/").replace("\n", " ")[:width]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--per-source", type=int, default=None, help="foreign questions per source (default: all)")
    parser.add_argument("--generation-sample", type=int, default=500,
                        help="foreign questions with the generator on: a uniform sample of all sources")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="the foreign questions' split: test to report, train to study failures")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generator", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive, args.questions, args.generator, args.answers)
        return
    items = questions(args.per_source, args.split)
    sample = [i for i in questions(None, args.split, generation_sample=args.generation_sample) if i["set"] == "foreign"]
    in_domain = [i for i in items if i["set"] != "foreign"]
    from bot.settings import load_settings
    from training.evaluate import ANSWERING

    handoff = set(load_settings(REPO / SHOP).handoff.intents)
    trees = [("after", REPO)] + ([] if args.skip_baseline else [("before", worktree(args.baseline))])
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "baseline": args.baseline,
        "split": args.split,
        "foreign_questions": sum(i["set"] == "foreign" for i in items), "foreign_questions_generation": len(sample),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="answer-quality-") as tmp:
        for label, tree in trees:
            train(tree)
            modes = [("none", items)] + ([] if args.skip_generation else [("embedded", in_domain + sample)])
            for generator, asked in modes:
                name = f"{label}, generator {'off' if generator == 'none' else 'embedded'}"
                print(f"{name}: {len(asked)} questions", flush=True)
                answers = ask(tree, asked, generator, Path(tmp), name.replace(", ", "-").replace(" ", "_"))
                result["runs"][name] = score(answers, handoff)
                # the generator-on sample, generator off too: a like-for-like row
                asked_on = {i["text"] for i in sample}
                rows = [r for r in answers["rows"] if r["set"] == "foreign" and r["text"] in asked_on]
                result["runs"][name]["foreign"]["on_generation_sample"] = _rate(
                    sum(r["route"] in ANSWERING for r in rows), len(rows))
    order = ["before, generator off", "after, generator off", "before, generator embedded", "after, generator embedded"]
    result["runs"] = {k: result["runs"][k] for k in order if k in result["runs"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "answer_quality.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "answer_quality.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
