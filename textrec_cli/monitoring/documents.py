"""Which lines of a window belong together (one page, one writer, one request).

Lines of one document share a hand, a pen and a scan, so they are far from independent: a test
that counts them as independent draws fires on ordinary page-to-page variation. The drift test
resamples whole documents instead, and needs to know them:
- a record's `document` when set (reference lines, benchmark streams);
- else a run of records logged together (same source and the batch's shared latency: one
  `textrec predict --log` call with many files is one request);
- else contiguous blocks of `block` lines (a server sees one line per request).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textrec_cli.monitoring.records import PredictionRecord

DEFAULT_BLOCK = 20  # lines per assumed document when none is known (a page holds ~20 lines)


def document_ids(records: Sequence[PredictionRecord], block: int = DEFAULT_BLOCK) -> list[str]:
    """One document id per record (see the module docstring for the rules)."""
    if block < 1:
        raise ValueError("block must be positive")
    ids: list[str] = []
    run_key: tuple | None = None
    run_start = 0
    loose = 0  # records that belong to no known document or batch, numbered in blocks
    for index, record in enumerate(records):
        if record.document:
            ids.append(f"doc:{record.document}")
            run_key = None
            continue
        key = (record.source, record.latency_ms)
        if key != run_key:
            run_key, run_start = key, index
        ids.append(f"batch:{run_start}")
    # a "batch" of one record is no batch: such records fall back to contiguous blocks
    sizes: dict[str, int] = {}
    for name in ids:
        sizes[name] = sizes.get(name, 0) + 1
    for index, name in enumerate(ids):
        if name.startswith("batch:") and sizes[name] == 1:
            ids[index] = f"block:{loose // block}"
            loose += 1
    return ids


def document_sizes(ids: Sequence[str]) -> list[int]:
    """Lines per document, in first-seen order."""
    sizes: dict[str, int] = {}
    for name in ids:
        sizes[name] = sizes.get(name, 0) + 1
    return list(sizes.values())


def document_index(ids: Sequence[str]) -> list[list[int]]:
    """Positions of each document's lines, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for position, name in enumerate(ids):
        groups.setdefault(name, []).append(position)
    return list(groups.values())


def pick_documents(
    groups: dict[str, list[list[int]]], count: int, per_document: int, seed: int = 0
) -> list[int]:
    """About `count` items from documents (lists of item positions) of several groups.

    Each group gets a share of `count` in proportion to its items, spent on whole documents in a
    seeded order, a contiguous run of each: `per_document` items, or more when the group has few
    documents (one-writer collections keep enough lines to describe them). Sorted positions."""
    rng = np.random.default_rng(seed)
    total = sum(len(doc) for docs in groups.values() for doc in docs)
    picked: list[int] = []
    for name in sorted(groups):
        documents = groups[name]
        size = sum(len(doc) for doc in documents)
        quota = size if total <= count else max(1, round(count * size / total))
        cap = max(per_document, -(-quota // max(len(documents), 1)))
        taken: list[int] = []
        for number in rng.permutation(len(documents)):
            doc = documents[number]
            start = int(rng.integers(0, max(1, len(doc) - cap + 1)))
            taken += doc[start : start + cap][: quota - len(taken)]
            if len(taken) >= quota:
                break
        picked += taken
    return sorted(picked)
