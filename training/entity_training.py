"""The entity head's training: each example's BILOU tag per word piece, the pieces' pattern
features, and the loss (the CRF's negative log-likelihood plus a count-weighted per-piece
cross-entropy); and the dev slice's entity F1 that early stopping reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from training.data import Example

if TYPE_CHECKING:
    from training.finetune import FineTuneConfig, FineTuned


def entity_f1(ft: "FineTuned", examples: Sequence[Example], max_length: int,
              edges: dict[str, dict[str, list[str]]] | None = None) -> float:
    """Micro F1 of the decoded entities against the annotations: exact span, entity, role and group
    (`edges`: bot/nlu/tagging.py edge_words)."""
    from bot.nlu.network import batch_outputs
    from bot.nlu.tagging import decode, label_of

    out = batch_outputs(ft.net, ft.tokenizer, [e.text for e in examples], max_length=max_length,
                        featurize=ft.featurize)
    assert out.tags is not None
    crf = ft.net.entity_crf.weights(ft.tags) if ft.net.entity_crf is not None else None
    right = found = wanted = 0
    for example, (pieces, scores) in zip(examples, out.tags):
        gold = {(s.start, s.end, s.label) for s in example.spans}
        got = {(d["start"], d["end"], label_of(d["entity"], d.get("role"), d.get("group")))
               for d in decode(example.text, pieces, scores, ft.tags, crf=crf, edges=edges)}
        right, found, wanted = right + len(gold & got), found + len(got), wanted + len(gold)
    return 2 * right / (found + wanted) if found + wanted else 1.0


@dataclass
class TagData:
    """What the entity head learns from: each example's tag per word piece, its pieces' pattern
    features, and the tags' loss weights."""

    targets: list[list[int]]
    features: list[np.ndarray] | None
    weights: Any  # torch tensor (tags,) or None
    rules: Any = None  # the CRF's BILOU constraints as torch tensors (transitions, start, end), or None


def tag_data(tokenizer: Any, examples: Sequence[Example], tags: list[str], max_length: int, featurize: Any,
             balance: float) -> TagData:
    import torch

    from bot.nlu.crf import constraints
    from bot.nlu.tagging import IGNORE, token_targets
    from training.finetune import class_weights

    encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length,
                        return_offsets_mapping=True)
    offsets = [[(int(a), int(b)) for a, b in o] for o in encoded["offset_mapping"]]
    targets = [token_targets(o, e.spans, tags) for e, o in zip(examples, offsets)]
    features = [featurize(e.text, o) for e, o in zip(examples, offsets)] if featurize is not None else None
    flat = np.array([t for row in targets for t in row if t != IGNORE], dtype=np.int64)
    c = constraints(tags)
    rules = tuple(torch.from_numpy(x) for x in (c.transitions, c.start, c.end))
    return TagData(targets, features, class_weights(flat, len(tags), balance) if len(flat) else None, rules)


def tag_loss(net: Any, hidden: Any, rows: list[int], data: TagData, config: "FineTuneConfig") -> Any:
    """The CRF's negative log-likelihood of the gold tags (when the head has a CRF), plus the
    count-weighted per-piece cross-entropy (`entity_class_balance`)."""
    import torch

    from bot.nlu.crf import crf_nll
    from bot.nlu.tagging import IGNORE

    width = hidden.shape[1]
    padded = torch.tensor([(data.targets[i] + [IGNORE] * width)[:width] for i in rows])
    features = None
    if data.features is not None:
        block = np.zeros((len(rows), width, net.tagging.features), np.float32)
        for j, i in enumerate(rows):
            n = min(width, len(data.features[i]))
            block[j, :n] = data.features[i][:n]
        features = torch.from_numpy(block)
    logits = net.tag_logits(hidden, features)
    loss = logits.sum() * 0.0
    if config.entity_class_balance > 0 or net.entity_crf is None:
        weights = data.weights if config.entity_class_balance > 0 else None
        loss = loss + torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), padded.reshape(-1),
                                                        weight=weights, ignore_index=IGNORE)
    if net.entity_crf is not None:
        crf, rules = net.entity_crf, data.rules
        loss = loss + crf_nll(logits, padded, padded != IGNORE, crf.transitions + rules[0], crf.start + rules[1],
                              crf.end + rules[2])
    return loss
