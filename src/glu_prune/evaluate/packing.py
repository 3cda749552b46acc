"""Prefix-sharing packing of log-likelihood requests (pure data, no model).

lm-eval scores a request by running its context + continuation[:-1] through the model. Requests
whose inputs share a prefix (the answer choices of one multiple-choice document; the few-shot
examples and chat-template header that documents share) are stored as a prefix tree: each shared
token once, in a row whose attention mask lets a token see exactly its ancestors in the tree, at
the position it has in its own request. Every scored token therefore sees what lm-eval's own
back end shows it.

Rows are filled by a cost model: a row of L tokens costs about L + L^2 / ratio (the MLP and
projections per token, plus attention over all L tokens, which a dense mask computes even where it
is masked off). A request joins the current row only when that costs less than computing its
shared prefix again in a row of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Target:
    """One distinct (context, continuation): the row indices whose next-token log-probabilities
    score `tokens`, and the requests that asked for it."""

    requests: list[int]
    indices: list[int]
    tokens: list[int]


@dataclass
class Row:
    """Prefix-tree nodes in depth-first order: a node's descendants follow it contiguously, up to
    `ends[node]`, so node q may attend to node k exactly when k <= q < ends[k]."""

    tokens: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)


def _cost(length: int, ratio: float) -> float:
    return length + length * length / ratio


def _common_prefix(a: tuple, b: tuple) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def pack(requests: list[tuple[list[int], list[int]]], max_tokens: int, ratio: float) -> list[Row]:
    """Rows for (context tokens, continuation tokens) pairs, which must fit untruncated; a row
    holds at most `max_tokens` tokens unless its first request alone is longer: then the other
    choices of its context still join it while the row grows by at most `max_tokens` // 8 (the
    one-token choices of 5-shot MMLU add nothing; a few multi-token answers add a few tokens),
    instead of each computing the long context again."""
    distinct: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for i, (context, continuation) in enumerate(requests):
        if not context or not continuation:
            raise ValueError("a request needs a non-empty context and continuation")
        distinct.setdefault((tuple(context), tuple(continuation)), []).append(i)
    keyed = sorted(((c + k[:-1], c, k) for c, k in distinct), key=lambda x: (x[0], x[2]))
    rows: list[Row] = []
    row, path, previous, limit = Row(), [], (), max_tokens
    for sequence, context, continuation in keyed:
        shared = _common_prefix(previous, sequence) if row.targets else 0
        extra = len(sequence) - shared
        join = _cost(len(row) + extra, ratio) - _cost(len(row), ratio) <= _cost(len(sequence), ratio)
        if row.targets and (shared == 0 or not join or (extra > 0 and len(row) + extra > limit)):
            rows.append(_finish(row))
            row, path, shared = Row(), [], 0
        if not row.targets:  # a row's budget, set by its first request
            limit = max_tokens if len(sequence) <= max_tokens else len(sequence) + max_tokens // 8
        path = path[:shared]
        for depth in range(shared, len(sequence)):
            row.tokens.append(sequence[depth])
            row.positions.append(depth)
            row.ends.append(path[-1] if path else -1)  # the parent, until _finish
            path.append(len(row.tokens) - 1)
        c, k = len(context), len(continuation)
        row.targets.append(
            Target(distinct[(context, continuation)], path[c - 1 : c + k - 1], list(continuation))
        )
        previous = sequence
    if row.targets:
        rows.append(_finish(row))
    return rows


def _finish(row: Row) -> Row:
    """Turn parent links into subtree ends (children come after their parent)."""
    parents, ends = row.ends, [i + 1 for i in range(len(row))]
    for q in range(len(row) - 1, -1, -1):
        if parents[q] >= 0:
            ends[parents[q]] = max(ends[parents[q]], ends[q])
    row.ends = ends
    return row


def batches(rows: list[Row], max_rows: int, max_tokens: int) -> list[list[Row]]:
    """Rows, longest first, in batches of at most `max_rows` rows and `max_tokens` padded tokens
    (one over-long row still gets a batch of its own)."""
    ordered = sorted(rows, key=len, reverse=True)
    out: list[list[Row]] = []
    for row in ordered:
        if out and len(out[-1]) < max_rows and len(out[-1][0]) * (len(out[-1]) + 1) <= max_tokens:
            out[-1].append(row)
        else:
            out.append([row])
    return out
