"""Entity shapes on the demo shop (bot/nlu/tagging.py entity_shapes): does the trained model give
exactly the e-mail address a customer typed, with its shapes and without them? Side by side on
the same model and messages, one forward pass each.

The messages are written for this benchmark (16 phrasings of a login problem or of an order with
an address, times 4 addresses); none is in the shop's data/. Writes OUT/entity_shapes.json and .md.

    python bench/entity_shapes.py --project bot/templates/shop --out bench/results
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PHRASINGS = [
    "hi, my email is {e} and I can't log in", "password reset please, the account is under {e}",
    "can you reset my password? email: {e}", "return the ceramic vase from order NW-10234, and my email is {e}",
    "I forgot my password. My email is {e}", "my order NW-10001 hasn't arrived and my email is {e}",
    "i cant login to {e}", "reset password for {e} thanks", "the login email is {e}, please help",
    "locked out of my account ({e})", "send the reset link to {e} please",
    "{e} is my account and the password is not working", "hello, I registered as {e} but can't sign in",
    "my e-mail address: {e}", "it's {e}", "use {e} for the reset",
]
ADDRESSES = ["jo@example.com", "m.kowalski+shop@mail.example.org", "ana_lopez@example.es", "t.nguyen@example.co.uk"]


def measure(project: Path) -> dict[str, object]:
    from bot.nlu.transformer import TransformerClassifier

    classifier = TransformerClassifier(project / ".switchboard" / "models" / "nlu", quantize="int8")
    shapes = classifier.shapes
    cases = [(p.format(e=address), address) for p in PHRASINGS for address in ADDRESSES]
    rows: dict[str, object] = {"messages": len(cases), "shapes": sorted(shapes)}
    for name, used in (("without shapes", {}), ("with shapes", shapes)):
        classifier.shapes = used
        predictions = classifier.predict([text for text, _ in cases])
        values = [[e["value"] for e in p.entities if e["entity"] == "email"] for p in predictions]
        rows[name] = {
            "exact": sum(v == [gold] for v, (_, gold) in zip(values, cases)),
            "found": sum(bool(v) for v in values),
            "wrong": [{"message": text, "email": v} for v, (text, gold) in zip(values, cases) if v != [gold]],
        }
    return rows


def markdown(rows: dict[str, object], command: str) -> str:
    lines = ["# Entity shapes: the shop's e-mail addresses", "", f"Command: `{command}`. "
             f"{rows['messages']} messages written for this benchmark; shaped labels: "
             f"{', '.join(str(s) for s in rows['shapes']) or 'none'}.", "",
             "| decoding | exact address | an address found |", "|---|---|---|"]
    for name in ("without shapes", "with shapes"):
        r = rows[name]
        assert isinstance(r, dict)
        lines.append(f"| {name} | {r['exact']}/{rows['messages']} | {r['found']}/{rows['messages']} |")
    for name in ("without shapes", "with shapes"):
        r = rows[name]
        assert isinstance(r, dict)
        lines += ["", f"Not exact, {name}:", ""] + [f"- {w['message']!r} -> {w['email']}" for w in r["wrong"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("bot/templates/shop"))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rows = measure(args.project)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "entity_shapes.json").write_text(json.dumps(rows, indent=2) + "\n")
    command = f"python bench/entity_shapes.py --project {args.project} --out {args.out}"
    (args.out / "entity_shapes.md").write_text(markdown(rows, command))
    print(markdown(rows, command))


if __name__ == "__main__":
    main()
