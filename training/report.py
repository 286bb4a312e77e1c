"""`switchboard evaluate`'s report as markdown a bot owner can read: the thresholds in use, how
often each kind of question was answered right (or, for foreign questions, answered at all, per
route), with and without the generator, and the messages behind every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RUN_TITLES = {"generator_off": "generator off", "generator_on": "generator on"}


def _pct(share: dict[str, Any] | None) -> str:
    if not share:
        return "-"
    return f"{share['rate']:.1%} ({share['count']}/{share['of']})"


def _cell(text: Any, width: int = 90) -> str:
    return str(text if text is not None else "").replace("|", "/").replace("\n", " ")[:width]


def evaluate_markdown(report: dict[str, Any]) -> str:
    project, tests = Path(report["project"]), Path(report["tests"])
    shown = tests.relative_to(project) if tests.is_relative_to(project) else tests  # no machine paths in a report
    lines = [f"# Evaluation of {project.name}", "", f"Test sets: `{shown}` of the project. Each message is one turn "
             "of the real engine in a fresh conversation.", ""]
    t = report.get("thresholds")
    if t:
        sources = t.get("sources", {})
        lines += ["Thresholds in use: " + ", ".join(
            f"{name} {t[name]:.3f} ({sources.get(name, '?')})" for name in ("nlu", "retrieval", "min_context_score"))
            + (f", log over intent by {t['log_margin']:.3f}" if t.get("log_margin") is not None else ""), ""]
    runs = report["runs"]
    lines += ["| | " + " | ".join(RUN_TITLES.get(name, name) for name in runs) + " |",
              "|---|" + "---|" * len(runs)]
    rows = [("held-out intent questions answered right", lambda r: _pct((r.get("intents") or {}).get("answered_right"))),
            ("log questions answered with the right log", lambda r: _pct((r.get("logs") or {}).get("answered_right"))),
            ("log questions answered with a wrong answer", lambda r: _pct((r.get("logs") or {}).get("answered_wrong"))),
            ("foreign questions answered (any route)", lambda r: _pct((r.get("foreign") or {}).get("answered"))),
            ("... by an intent", lambda r: _pct(((r.get("foreign") or {}).get("by_route") or {}).get("intent"))),
            ("... by a support log", lambda r: _pct(((r.get("foreign") or {}).get("by_route") or {}).get("retrieval"))),
            ("... by generation", lambda r: _pct(((r.get("foreign") or {}).get("by_route") or {}).get("generation"))),
            ("turn latency p50 (ms)", lambda r: str(r.get("turn_ms_p50", "-")))]
    for title, get in rows:
        lines.append(f"| {title} | " + " | ".join(get(r) for r in runs.values()) + " |")
    for name, run in runs.items():
        title = RUN_TITLES.get(name, name)
        errors = (run.get("intents") or {}).get("errors") or []
        if errors:
            lines += ["", f"## Intent questions not answered right ({title})", "",
                      "| message | expected | got (confidence) | route |", "|---|---|---|---|"]
            lines += [f"| {_cell(e['text'])} | {e['expected']} | {e['intent']} ({e['confidence']}) | {e['route']}"
                      f"{' ' + e['log'] if e.get('log') else ''} |" for e in errors]
        errors = (run.get("logs") or {}).get("errors") or []
        if errors:
            lines += ["", f"## Log questions not answered with their log ({title})", "",
                      "| message | expected log | route | got |", "|---|---|---|---|"]
            lines += [f"| {_cell(e['text'])} | {e['expected']} | {e['route']} | "
                      f"{e.get('log') or e.get('intent')} |" for e in errors]
        answered = (run.get("foreign") or {}).get("answered_examples") or []
        if answered:
            lines += ["", f"## Foreign questions the bot answered ({title})", "",
                      "| message | route | intent / log | reply |", "|---|---|---|---|"]
            lines += [f"| {_cell(e['text'])} | {e['route']} | {e.get('log') or e['intent']} | {_cell(e['reply'], 70)} |"
                      for e in answered]
    return "\n".join(lines) + "\n"
