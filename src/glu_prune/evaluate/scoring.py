"""One forward pass over a batch of packed rows (packing.py): the transformer body under a
tree-shaped attention mask, then the output layer only where a next-token log-probability is
scored (never at every position of a long shared context: with Gemma's 262,144-token vocabulary
the output layer costs more than the body).

Only model types whose masks and output heads are known here take this path; `unsupported`
says why another model cannot, and the back end scores its requests the stock way.
"""

from __future__ import annotations

from .packing import Row

# Decoder types whose base model takes a ready 4D mask (or, with per-layer attention types, a dict
# of them) and explicit position ids, and whose causal-LM head is the output layer followed only by
# Gemma's optional final soft-capping. Checked against lm-eval's HF back end by the equality tests.
KNOWN_TYPES = ("llama", "mistral", "qwen2", "gemma", "gemma3_text")
MASK_FORMS = ("sdpa", "eager")  # attention implementations that read a dense 4D mask
LOGPROB_BYTES = 1 << 28  # float32 log-probabilities computed at once (bounded memory for big vocabularies)


def attention_ratio(config) -> float:
    """Roughly how many attention scores cost as much as one token's MLP and projections (the
    packing cost model): about the GLU width, since a token's GLU does 3 x hidden x width
    multiply-adds and one score 2 x hidden (query-key and value), plus the softmax."""
    return float(getattr(config, "intermediate_size", None) or 4 * config.hidden_size)


def unsupported(model) -> str | None:
    """Why `model` cannot take the shared-context path (None: it can)."""
    config = model.config
    if config.model_type not in KNOWN_TYPES:
        return f"model type {config.model_type!r}"
    impl = getattr(config, "_attn_implementation", None)
    if impl not in MASK_FORMS:
        return f"attention implementation {impl!r}"
    if getattr(config, "use_bidirectional_attention", False):
        return "bidirectional attention"
    return None


def layer_windows(config) -> dict[str, int | None] | int | None:
    """The sliding window each layer attends within, as transformers applies it: per layer type
    where the config has layer types (Qwen2, Gemma3), one for all layers in Mistral, else none."""
    types = getattr(config, "layer_types", None)
    if types:
        return {t: (config.sliding_window if t == "sliding_attention" else None) for t in set(types)}
    return getattr(config, "sliding_window", None) if config.model_type == "mistral" else None


def tree_mask(positions, ends, window: int | None, impl: str, dtype):
    """[batch, 1, L, L] mask: token q sees token k when k is q or one of its ancestors in the row's
    prefix tree (k <= q < ends[k]), and within `window` positions if the layer slides. Padding
    sees itself only, so no attention row is empty (an empty one would make NaNs)."""
    import torch

    length = positions.shape[1]
    idx = torch.arange(length, device=positions.device)
    allowed = (idx[None, None, :] <= idx[None, :, None]) & (idx[None, :, None] < ends[:, None, :])
    if window is not None:
        allowed &= (positions[:, :, None] - positions[:, None, :]) < window
    allowed = allowed[:, None]
    if impl == "eager":  # additive, as transformers' own eager masks
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
            ~allowed, torch.finfo(dtype).min
        )
    return allowed


def _inputs(rows: list[Row], pad_id: int, device):
    import torch

    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    ends = torch.arange(1, length + 1, dtype=torch.long).repeat(len(rows), 1)  # padding: itself only
    for i, row in enumerate(rows):
        n = len(row)
        ids[i, :n] = torch.tensor(row.tokens)
        positions[i, :n] = torch.tensor(row.positions)
        ends[i, :n] = torch.tensor(row.ends)
    return ids.to(device), positions.to(device), ends.to(device)


def _masks(model, positions, ends):
    impl, dtype = model.config._attn_implementation, model.dtype
    windows = layer_windows(model.config)
    if isinstance(windows, dict):
        return {t: tree_mask(positions, ends, w, impl, dtype) for t, w in windows.items()}
    return tree_mask(positions, ends, windows, impl, dtype)


def score_rows(model, rows: list[Row], pad_id: int) -> list[tuple[float, bool]]:
    """(sum of log-probabilities, greedy?) for every target of `rows`, in row and target order."""
    import torch

    device = model.device
    ids, positions, ends = _inputs(rows, pad_id, device)
    nodes: dict[tuple[int, int], int] = {}  # (row, index) -> scored node (answer letters share one)
    queries = [
        (nodes.setdefault((i, j), len(nodes)), token)
        for i, row in enumerate(rows)
        for t in row.targets
        for j, token in zip(t.indices, t.tokens, strict=True)
    ]
    with torch.no_grad():
        hidden = model.base_model(
            input_ids=ids,
            attention_mask=_masks(model, positions, ends),
            position_ids=positions,
            use_cache=False,
        ).last_hidden_state
        where = torch.tensor(list(nodes), device=hidden.device).reshape(-1, 2)
        head_device = model.get_output_embeddings().weight.device  # may differ when split over devices
        logprobs, greedy = _next_token_scores(
            model,
            hidden[where[:, 0], where[:, 1]].to(head_device),
            torch.tensor([n for n, _ in queries], device=head_device),
            torch.tensor([tok for _, tok in queries], device=head_device),
        )
    out, k = [], 0
    for row in rows:
        for t in row.targets:
            n = len(t.tokens)
            out.append((float(logprobs[k : k + n].sum()), bool(greedy[k : k + n].all())))
            k += n
    return out


def _next_token_scores(model, hidden, node, token):
    """Float32 log-probability of `token` after each query's `node` (a row of `hidden`), and
    whether it is the argmax, computed in chunks of nodes so that at most LOGPROB_BYTES of
    log-probabilities exist at once."""
    import torch

    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)
    chunk = max(1, LOGPROB_BYTES // (4 * head.out_features))
    logprobs = torch.empty(len(node), dtype=torch.float32, device=hidden.device)
    greedy = torch.empty(len(node), dtype=torch.bool, device=hidden.device)
    for s in range(0, hidden.shape[0], chunk):
        logits = head(hidden[s : s + chunk]).float()
        if cap is not None:  # Gemma 2/3: as their causal-LM forward does
            logits = torch.tanh(logits / cap) * cap
        lp = torch.log_softmax(logits, dim=-1)
        mine = (node >= s) & (node < s + chunk)
        rows, wanted = node[mine] - s, token[mine]
        logprobs[mine] = lp[rows, wanted]
        greedy[mine] = lp.argmax(dim=-1)[rows] == wanted
    return logprobs, greedy
