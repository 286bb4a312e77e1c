"""Checkpoints, as Rasa's story graph joins them: a story part that ends at `- checkpoint: x` is
continued by every part that starts at `x` (when that start's `slot_was_set` conditions hold for
the slots set so far), and each path from a story that starts at no checkpoint becomes one
StoryBlock named "first > second > ...". A checkpoint that ends parts but starts none (or the
reverse) is a warning, as Rasa warns about unused checkpoints. A path never takes the same part
twice (a loop of checkpoints is followed once, with a warning), and one story makes at most
MAX_STITCHED blocks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from bot.dialogue.story import Event, Kind, StoryBlock
from bot.dialogue.yaml_lines import Finding

MAX_STITCHED = 1000


@dataclass(frozen=True)
class Segment:
    """A story (or rule) part between checkpoints, one `or:` variant of it."""

    name: str
    kind: Kind
    source: str  # where the story starts: the parts of one story share it
    variant: int | None  # 1, 2, ... when the part's `or:` steps made several variants
    starts: tuple[tuple[str, dict[str, Any], str], ...]  # (checkpoint, slot conditions, "file:line")
    ends: tuple[tuple[str, str], ...]  # (checkpoint, "file:line")
    events: tuple[Event, ...]
    step_sources: tuple[str, ...]
    condition: tuple[Event, ...] = ()
    conversation_start: bool = False
    wait_for_user_input: bool = True


def _name(parts: Sequence[Segment]) -> str:
    groups: list[list[Segment]] = []
    for seg in parts:
        if groups and groups[-1][0].source == seg.source:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    names = []
    for group in groups:
        variants = [str(seg.variant) for seg in group if seg.variant is not None]
        names.append(group[0].name + (f" (or {'.'.join(variants)})" if variants else ""))
    return " > ".join(names)


def _block(parts: Sequence[Segment]) -> StoryBlock:
    root = parts[0]
    return StoryBlock(
        name=_name(parts), kind=root.kind,
        events=tuple(e for seg in parts for e in seg.events), source=root.source,
        condition=root.condition, conversation_start=root.conversation_start,
        wait_for_user_input=parts[-1].wait_for_user_input,
        step_sources=tuple(s for seg in parts for s in seg.step_sources),
    )


def _slots_after(slots: dict[str, Any], seg: Segment) -> dict[str, Any]:
    out = dict(slots)
    for event in seg.events:
        if event.get("event") == "slot":
            out[event["name"]] = event.get("value")
    return out


def link(segments: Sequence[Segment]) -> tuple[list[StoryBlock], list[Finding]]:
    """Stitch story parts at their checkpoints into StoryBlocks (parts without checkpoints, rules
    among them, become one block each)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()

    def warn(where: str, key: str, message: str) -> None:
        if (where, key) not in seen:
            seen.add((where, key))
            findings.append(Finding("warning", where, message))

    starting: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for index, seg in enumerate(segments):
        for name, conditions, _ in seg.starts:
            starting[name].append((index, conditions))
    ended = {name for seg in segments for name, _ in seg.ends}
    for seg in segments:
        title = "rule" if seg.kind == "rule" else "story"
        for name, at in seg.ends:
            if name not in starting:
                warn(at, name, f"checkpoint '{name}' ends {title} '{seg.name}', but no story starts at it")
        for name, _, at in seg.starts:
            if name not in ended:
                warn(at, name, f"{title} '{seg.name}' starts at checkpoint '{name}', which no story ends at, "
                     "so it is never used")

    blocks: list[StoryBlock] = []
    for index, root in enumerate(segments):
        if root.starts:
            continue
        made = 0
        stack: list[tuple[list[int], dict[str, Any]]] = [([index], _slots_after({}, root))]
        while stack:
            path, slots = stack.pop()
            seg = segments[path[-1]]
            nexts: list[tuple[int, dict[str, Any]]] = []
            for name, at in seg.ends:
                for target, conditions in starting.get(name, []):
                    if target in path:
                        warn(at, f"loop:{name}", f"checkpoint '{name}' leads back into story "
                             f"'{segments[target].name}'; each stitched story follows the loop once")
                    elif all(slots.get(k) == v for k, v in conditions.items()) and target not in [t for t, _ in nexts]:
                        nexts.append((target, conditions))
            if not nexts:
                if made == MAX_STITCHED:
                    warn(root.source, "cap", f"story '{root.name}' makes over {MAX_STITCHED} stories through its "
                         f"checkpoints; only the first {MAX_STITCHED} are used")
                    break
                blocks.append(_block([segments[i] for i in path]))
                made += 1
                continue
            for target, _ in reversed(nexts):  # depth first, in file order
                stack.append(([*path, target], _slots_after(slots, segments[target])))
    return blocks, findings
