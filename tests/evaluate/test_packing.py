"""Prefix-tree packing and its attention mask, on hand-made token requests (no model)."""

from __future__ import annotations

import pytest
import torch

from glu_prune.evaluate.packing import batches, pack
from glu_prune.evaluate.scoring import _inputs, tree_mask

RATIO = 1000.0  # cost model: a token costs as much as 1000 attention scores


def ancestors(row, q):
    """The nodes q sees, walked from the subtree ends the way the mask reads them."""
    return [k for k in range(len(row)) if k <= q < row.ends[k]]


def test_choices_of_one_context_share_it_and_keep_their_positions():
    context = [5, 6, 7]
    requests = [(context, [10, 11]), (context, [20, 21, 22]), (context, [30])]
    [row] = pack(requests, max_tokens=64, ratio=RATIO)
    # the context once, then each continuation[:-1] after it (the one-token choice adds no token)
    assert sorted(row.tokens) == sorted([5, 6, 7, 10, 20, 21])
    by_request = {t.requests[0]: t for t in row.targets}
    for i, (ctx, cont) in enumerate(requests):
        t = by_request[i]
        assert t.tokens == cont
        # each scored node is at the position lm-eval's own input gives it, and sees exactly the
        # tokens before it in that input (its ancestors in the tree, in order)
        lm_eval_input = ctx + cont[:-1]
        for offset, node in enumerate(t.indices):
            position = len(ctx) - 1 + offset
            assert row.positions[node] == position
            assert [row.tokens[k] for k in ancestors(row, node)] == lm_eval_input[: position + 1]


def test_partial_contexts_share_their_common_prefix():
    """WinoGrande: two contexts that differ after a common prefix, one shared continuation."""
    a, b = [1, 2, 3, 4, 40], [1, 2, 3, 4, 50]
    [row] = pack([(a, [9, 8]), (b, [9, 8])], max_tokens=64, ratio=RATIO)
    assert len(row) == 4 + 2 * 2  # the prefix once, then each context's tail + continuation[:-1]
    for t, ctx in zip(sorted(row.targets, key=lambda t: t.requests), (a, b), strict=True):
        assert [row.tokens[k] for k in ancestors(row, t.indices[-1])] == ctx + [9]


def test_unrelated_requests_get_rows_of_their_own_and_duplicates_one_target():
    rows = pack([([1, 2], [3]), ([7, 8], [9]), ([1, 2], [3])], max_tokens=64, ratio=RATIO)
    assert len(rows) == 2
    assert sorted(t.requests for r in rows for t in r.targets) == [[0, 2], [1]]


def test_rows_stop_growing_when_sharing_costs_more_than_it_saves():
    prefix = [1, 2]  # a short shared prefix: saves 2 tokens per request, costs attention
    requests = [(prefix + [100 + i] * 30, [7]) for i in range(6)]
    assert len(pack(requests, max_tokens=10_000, ratio=1e6)) == 1  # attention ~free: share
    # at 1000, a row of 62 tokens grows by 30 for (92^2 - 62^2) / 1000 = 4.6 more, dearer than
    # the 2 shared tokens it saves: pairs
    assert [len(r) for r in pack(requests, max_tokens=10_000, ratio=RATIO)] == [62, 62, 62]
    assert len(pack(requests, max_tokens=10_000, ratio=20.0)) == 6  # attention dear: one row each
    assert max(len(r) for r in pack(requests, max_tokens=40, ratio=1e6)) <= 40


def test_one_token_choices_of_an_over_long_context_share_its_row():
    """5-shot MMLU: a context longer than a row's budget is still computed once for its choices."""
    context = list(range(1, 51))
    requests = [(context, [letter]) for letter in (65, 66, 67, 68)]
    [row] = pack(requests, max_tokens=40, ratio=RATIO)
    assert row.tokens == context and sorted(t.tokens[0] for t in row.targets) == [65, 66, 67, 68]
    # multi-token answers join the over-long row while it grows by at most max_tokens // 8 (5)
    longer = [(context, [69, 70]), (context, [71, 72, 73]), (context, [74, 75, 76, 77])]
    [row] = pack([*requests, *longer[:2]], max_tokens=40, ratio=RATIO)
    assert len(row) == 50 + 1 + 2 and len(row.targets) == 6
    rows = pack([*requests, *longer], max_tokens=40, ratio=RATIO)
    assert [len(r) for r in rows] == [53, 53] and sum(len(r.targets) for r in rows) == 7  # 56 > 55
    # a row within its budget keeps it: no slack for a context that fits
    short = list(range(1, 39))
    assert (
        len(pack([(short, [65, 66]), (short, [67, 68]), (short, [69, 70])], max_tokens=40, ratio=RATIO)) == 2
    )


def test_batches_bound_rows_and_padded_tokens():
    rows = pack([([i, 1, 2, 3], [4]) for i in range(10)], max_tokens=64, ratio=RATIO)
    out = batches(rows, max_rows=4, max_tokens=12)
    assert [len(b) for b in out] == [3, 3, 3, 1]
    assert all(len(b) * max(len(r) for r in b) <= 12 for b in out)


def test_mask_is_the_tree_and_padding_sees_only_itself():
    rows = pack([([5, 6], [7, 8]), ([5, 6], [9, 10])], max_tokens=64, ratio=RATIO)
    rows.append(pack([([1], [2])], max_tokens=64, ratio=RATIO)[0])
    ids, positions, ends = _inputs(rows, pad_id=0, device="cpu")
    mask = tree_mask(positions, ends, None, "sdpa", torch.float32)[:, 0]
    for b, row in enumerate(rows):
        for q in range(ids.shape[1]):
            seen = mask[b, q].nonzero().flatten().tolist()
            assert seen == (ancestors(row, q) if q < len(row) else [q])
    windowed = tree_mask(positions, ends, 2, "sdpa", torch.float32)[:, 0]
    assert windowed[0].sum(-1).max() <= 2  # at most the last 2 positions
    eager = tree_mask(positions, ends, None, "eager", torch.float32)
    assert torch.equal(eager == 0, mask[:, None])


def test_requests_need_a_context_and_a_continuation():
    with pytest.raises(ValueError):
        pack([([], [1])], max_tokens=8, ratio=RATIO)
