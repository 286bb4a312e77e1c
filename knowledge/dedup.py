"""Duplicate removal for knowledge entries.

- `drop_exact`: the same question and answer (after normalisation, ignoring case).
- `drop_near`: questions within a cosine threshold of each other (on L2-normalised embeddings)
  whose answers say the same thing (equal after normalisation, or token Jaccard >= 0.8).

Both keep the newest entry (`created_at`; a missing or unreadable one counts as oldest; on a tie
the later one in input order) and return survivors in their input order.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from knowledge.base import Entry
from knowledge.clean import normalise

if TYPE_CHECKING:
    import numpy as np

ANSWER_JACCARD = 0.8
EXACT_SEARCH_UP_TO = 10_000  # above this, candidate pairs come from a clustered (IVF-style) search
NPROBE = 4  # clusters each entry is compared with in the clustered search
BLOCK_CELLS = 4_000_000  # similarity-matrix cells computed at once in the clustered search


def recency(entry: Entry) -> tuple[int, float]:
    """Sort key: entries without a readable `created_at` sort first (oldest)."""
    if not entry.created_at:
        return (0, 0.0)
    try:
        stamp = datetime.fromisoformat(entry.created_at.strip().replace("Z", "+00:00"))
    except ValueError:
        return (0, 0.0)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return (1, stamp.timestamp())


def _key(text: str) -> str:
    return normalise(text).casefold()


def drop_exact(entries: Sequence[Entry]) -> tuple[list[Entry], int]:
    """Entries without exact duplicates (same question and answer), and how many were dropped."""
    best: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        key = (_key(entry.question), _key(entry.answer))
        j = best.get(key)
        if j is None or recency(entry) >= recency(entries[j]):
            best[key] = i
    keep = sorted(best.values())
    return [entries[i] for i in keep], len(entries) - len(keep)


Triplets = tuple["np.ndarray", "np.ndarray", "np.ndarray"]  # rows, cols, similarities


def _top_k_per_row(rows: "np.ndarray", cols: "np.ndarray", sims: "np.ndarray", k: int) -> Triplets:
    import numpy as np

    order = np.lexsort((-sims, rows))  # by row, best first
    rows, cols, sims = rows[order], cols[order], sims[order]
    top = np.arange(len(rows)) - np.searchsorted(rows, rows) < k  # rank within the row's run
    return rows[top], cols[top], sims[top]


def _exact_candidates(x: "np.ndarray", threshold: float, k: int) -> Triplets:
    import faiss
    import numpy as np

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    scores, ids = index.search(x, min(k + 1, len(x)))
    return np.repeat(np.arange(len(x)), ids.shape[1]), ids.ravel(), scores.ravel()


def _clustered_candidates(x: "np.ndarray", threshold: float, k: int) -> Triplets:
    """Pairs at or above `threshold` among the entries of each entry's NPROBE closest k-means
    clusters: an IVF search (faiss k-means and assignment) whose per-cluster scans are dense
    matrix products, so 100k entries take seconds even on two cores."""
    import faiss
    import numpy as np

    n, dim = x.shape
    nlist = max(8, int(np.sqrt(n)))
    kmeans = faiss.Kmeans(dim, nlist, niter=10, seed=1, spherical=True, min_points_per_centroid=16,
                          max_points_per_centroid=64)
    kmeans.train(x)
    _, probes = kmeans.index.search(x, NPROBE)
    primary, flat = probes[:, 0], probes.ravel()
    # each entry is a member of its closest cluster and a query of its NPROBE closest ones
    members_of = np.split(np.argsort(primary, kind="stable"), np.cumsum(np.bincount(primary, minlength=nlist))[:-1])
    queries_of = np.split(np.argsort(flat, kind="stable") // NPROBE, np.cumsum(np.bincount(flat, minlength=nlist))[:-1])
    rows, cols, sims = [], [], []
    for members, queries in zip(members_of, queries_of):
        if not len(members):
            continue
        block = x[members].T
        step = max(1, BLOCK_CELLS // len(members))  # bound the similarity block's memory
        for start in range(0, len(queries), step):
            chunk = queries[start : start + step]
            scores = x[chunk] @ block
            r, c = np.nonzero(scores >= threshold)
            found = _top_k_per_row(chunk[r], members[c], scores[r, c], k + 1)
            rows.append(found[0])
            cols.append(found[1])
            sims.append(found[2])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def similar_pairs(x: "np.ndarray", threshold: float, k: int = 10) -> tuple["np.ndarray", "np.ndarray"]:
    """(i, j) index pairs, i != j, where j is one of i's k nearest neighbours with cosine >= threshold."""
    finder = _exact_candidates if len(x) <= EXACT_SEARCH_UP_TO else _clustered_candidates
    rows, cols, sims = finder(x, threshold, k)
    ok = (cols >= 0) & (rows != cols) & (sims >= threshold)
    rows, cols, _ = _top_k_per_row(rows[ok], cols[ok], sims[ok], k)
    return rows, cols


def _answer_key(text: str) -> tuple[str, frozenset[str]]:
    key = _key(text)
    return key, frozenset(re.findall(r"\w+", key))


def _same_answer(a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]]) -> bool:
    if a[0] == b[0]:
        return True
    union = len(a[1] | b[1])
    return union > 0 and len(a[1] & b[1]) / union >= ANSWER_JACCARD


def drop_near(
    entries: Sequence[Entry], vectors: "np.ndarray", *, threshold: float = 0.95, k: int = 10
) -> tuple[list[Entry], "np.ndarray", int]:
    """Drop entries whose question is within cosine `threshold` of a newer entry's question (among
    its `k` nearest) and whose answer says the same. `vectors` are the L2-normalised question
    embeddings, one row per entry. Returns the kept entries, their vectors and the number dropped."""
    import numpy as np

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(entries):
        raise ValueError(f"drop_near needs one vector per entry: {len(entries)} entries, vectors of shape {x.shape}")
    if len(entries) < 2:
        return list(entries), x.copy(), 0
    rows, cols = similar_pairs(x, threshold, k)
    neighbours: dict[int, set[int]] = {}
    for i, j in zip(rows.tolist(), cols.tolist()):  # cosine is symmetric: use both directions
        neighbours.setdefault(i, set()).add(j)
        neighbours.setdefault(j, set()).add(i)
    answers = {i: _answer_key(entries[i].answer) for i in neighbours}
    newest_first = sorted(neighbours, key=lambda i: (recency(entries[i]), i), reverse=True)
    kept = np.ones(len(entries), dtype=bool)
    decided: set[int] = set()
    for i in newest_first:
        if any(j in decided and kept[j] and _same_answer(answers[i], answers[j]) for j in neighbours[i]):
            kept[i] = False
        decided.add(i)
    keep = np.flatnonzero(kept)
    return [entries[i] for i in keep.tolist()], x[keep], int(len(entries) - len(keep))
