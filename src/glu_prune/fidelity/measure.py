"""Next-token distributions of a pruned model against the unpruned model, window by window.

The unpruned model's final hidden states are computed once per window and kept (window x hidden
numbers, never window x vocabulary: a 262k vocabulary makes full logits huge); each pruned model
is compared against them through the output layer, which pruning leaves untouched (checked), in
chunks of positions. Both models run in the run's dtype; log-softmax is taken in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def body(model):
    """The transformer under the language-model head (its output: the final, normed hidden states)."""
    return model.base_model


def head_logits(model, hidden):
    """The model's own output layer on final hidden states, with Gemma's logit soft-capping."""
    import torch

    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def head_checksum(model) -> tuple:
    """Shape and float64 sum of the output layer: equal for the unpruned model and its pruned copies."""
    import torch

    weight = model.get_output_embeddings().weight
    with torch.no_grad():
        return tuple(weight.shape), float(weight.detach().double().sum())


def batches(windows: list[list[int]], size: int):
    """Consecutive windows of equal length, at most `size` at a time: (first index, id tensor)."""
    import torch

    i = 0
    while i < len(windows):
        j = i + 1
        while j < len(windows) and j - i < size and len(windows[j]) == len(windows[i]):
            j += 1
        yield i, torch.tensor(windows[i:j])
        i = j


@dataclass
class Reference:
    """The unpruned model's final hidden states per window, and what they are compared on."""

    windows: list[list[int]]
    hidden: list  # one [len - 1, hidden] tensor per window (the last position predicts nothing scored)
    checksum: tuple


def reference(model, windows: list[list[int]], batch_size: int, progress=None) -> Reference:
    import torch

    device = model.device
    hidden = []
    with torch.inference_mode():
        for _, ids in batches(windows, batch_size):
            states = body(model)(input_ids=ids.to(device)).last_hidden_state[:, :-1]
            hidden += [s.clone() for s in states]
            if progress:
                progress(len(ids))
    return Reference(windows, hidden, head_checksum(model))


def window_stats(model, ref: Reference, index: int, states, chunk: int) -> dict:
    """Per-token KL(P_unpruned || P_pruned), top-1 agreement and both log-likelihoods of one window."""
    import torch

    targets = torch.tensor(ref.windows[index][1:], device=states.device)
    base = ref.hidden[index].to(states.device)
    out = {"kl": [], "agree": [], "nll_unpruned": [], "nll_pruned": []}
    for lo in range(0, len(targets), chunk):
        hi = min(lo + chunk, len(targets))
        lp = torch.log_softmax(head_logits(model, base[lo:hi]).float(), dim=-1)
        lq = torch.log_softmax(head_logits(model, states[lo:hi]).float(), dim=-1)
        out["kl"].append((lp.exp() * (lp - lq)).sum(-1))
        out["agree"].append(lp.argmax(-1) == lq.argmax(-1))
        t = targets[lo:hi, None]
        out["nll_unpruned"].append(-lp.gather(-1, t)[:, 0])
        out["nll_pruned"].append(-lq.gather(-1, t)[:, 0])
    return {k: torch.cat(v).double().cpu().numpy() for k, v in out.items()}


def compare(model, ref: Reference, batch_size: int, chunk: int, progress=None) -> dict:
    """Per-window sums and all per-token KLs of a pruned model against the reference.

    Raises:
        RuntimeError: the model's output layer differs from the unpruned model's (not its pruned copy).
    """
    import torch

    if head_checksum(model) != ref.checksum:
        raise RuntimeError("the pruned model's output layer differs from the unpruned model's")
    sums = {k: np.zeros(len(ref.windows)) for k in ("tokens", "kl", "agree", "nll_unpruned", "nll_pruned")}
    kls = []
    with torch.inference_mode():
        for first, ids in batches(ref.windows, batch_size):
            states = body(model)(input_ids=ids.to(model.device)).last_hidden_state[:, :-1]
            for offset, s in enumerate(states):
                w = window_stats(model, ref, first + offset, s, chunk)
                kls.append(w["kl"])
                sums["tokens"][first + offset] = len(w["kl"])
                for key in ("kl", "agree", "nll_unpruned", "nll_pruned"):
                    sums[key][first + offset] = w[key].sum()
            if progress:
                progress(len(ids))
    return {"per_window": sums, "kl_tokens": np.concatenate(kls)}
