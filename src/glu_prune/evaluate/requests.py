"""lm-eval's own requests of a task, built once as strings, so that several back ends (or dtypes)
can score exactly the same ones: the equality tests and the throughput benchmark use this."""

from __future__ import annotations

from ..tasks import task_manager
from .identity import FEWSHOT_SEED


def task_requests(task: str, limit: int, num_fewshot: int, lm, chat: bool, gen_tokens: int | None = None):
    """{request type: [lm-eval Instance]} of an offline task, as `simple_evaluate` would build
    them (few-shot seed, chat template with multi-turn few-shot); `lm` only formats chat templates.
    `gen_tokens` caps generation requests (recorded by the callers that use it)."""
    from lm_eval.tasks import get_task_dict

    [obj] = get_task_dict([task], task_manager(True)).values()
    obj.set_config(key="num_fewshot", value=num_fewshot)
    obj.set_fewshot_seed(seed=FEWSHOT_SEED)
    obj.build_all_requests(
        limit=limit,
        apply_chat_template=chat,
        fewshot_as_multiturn=chat,
        chat_template=lm.apply_chat_template if chat else None,
        tokenizer_name=lm.tokenizer_name if chat else "",
    )
    by_type: dict = {}
    for inst in obj.instances:
        if inst.request_type == "generate_until" and gen_tokens is not None:
            inst.arguments = (inst.arguments[0], {**inst.arguments[1], "max_gen_toks": gen_tokens})
        by_type.setdefault(inst.request_type, []).append(inst)
    return by_type
