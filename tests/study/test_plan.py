"""Study plans: the shipped plans parse into typed parts; every bad edit of a plan is refused in one
line naming its field, with exit 2 and nothing written; the design the notebooks read
(EXPERIMENT_CONFIG) follows the plans."""

from __future__ import annotations

import json
import warnings

import pytest

from glu_prune.cli import main
from glu_prune.errors import UserError
from glu_prune.store import CheckpointStore
from glu_prune.study import EXPERIMENT_CONFIG, load_plan, parse_plan
from glu_prune.study.console import Console
from glu_prune.study.experiment import experiment_config
from glu_prune.study.plan import shipped_plan


def quick() -> dict:
    return json.loads(json.dumps(shipped_plan("quick").parts[0].to_dict()))


def test_shipped_plans_parse_into_their_numbers():
    default, full, smoke = (load_plan(n) for n in ("default", "full", "quick"))
    (part,) = default.parts
    assert part.model == "default" and part.name == "smollm2-135m-instruct" and part.lanes == 2
    assert part.sweep.levels == (0, 20, 40, 60) and part.comparison.levels == (40,)
    assert part.comparison.methods == ("maw", "vow", "pon", "l2", "random", "data")
    assert part.tasks["piqa"].limit == 64 and part.prune_options.calibration_samples == 32
    assert part.fidelity.settings().max_windows == 6 and part.spot is None
    smol, gemma = full.parts
    assert (smol.model, gemma.model) == ("default", "gemma-3-270m")
    assert [c.divisor for c in smol.profile.configs()] == [None, 128]
    assert smol.spot.tasks == ("mmlu", "ifeval") and smol.spot.levels == (0, 20, 40, 60)
    assert smol.tasks["ifeval"].limit == 150 and smol.tasks["mmlu"].limit == 570  # 10 per subject
    assert smol.tasks["arc_challenge"].limit is None and smol.tasks["lambada_openai"].limit == 1000
    assert smol.unpruned_only.tasks == ("gsm8k",) and gemma.spot.tasks == ("mmlu",)
    assert smol.sweep.levels == gemma.sweep.levels == (0, 10, 20, 30, 40, 50, 60)
    assert smol.comparison.seeds == (0, 1, 2) and smol.comparison.levels == (10, 20, 40)
    assert smoke.parts[0].profile.configs()[0].idle_seconds == 1.0
    for plan in (default, full, smoke):  # the normalised form a run dir holds parses back to the same plan
        assert parse_plan(plan.to_dict()).parts == plan.parts


def test_plan_methods_give_configs_settings_and_task_specs():
    part = shipped_plan("full").parts[0]
    assert part.config("maw", 0) is None
    cfg = part.config("data", 40, seed=3)
    assert (cfg.method, cfg.pct, cfg.seed, cfg.calibration_samples, cfg.calibration_seq_len) == (
        "data",
        40.0,
        3,
        64,
        256,
    )
    assert part.config("maw", 40) == part.config("maw", 40.0)  # one identity whatever the JSON number
    (mmlu,) = part.task_specs(["mmlu"])
    assert (mmlu.name, mmlu.num_fewshot, mmlu.limit) == ("mmlu", 5, 570)
    assert part.settings().offline is True and part.sweep_view == "smollm2-135m-instruct_offline"


def test_a_plan_of_several_models_keeps_its_parts_in_order(tmp_path):
    first, second = quick(), quick()
    second["model"] = "llama-3.2-1b"
    plan = parse_plan({"about": "two models", "parts": [first, second]})
    assert [p.model for p in plan.parts] == ["default", "llama-3.2-1b"] and plan.about == "two models"
    assert [p.name for p in plan.parts] == ["smollm2-135m-instruct", "llama-3.2-1b"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    with pytest.raises(
        UserError, match=r"parts\[1\]\.model: meta-llama/Llama-3.2-1B needs the Hugging Face hub"
    ):
        load_plan(str(path))


def edit(path: str, value):
    """A mutation: set (or with value DELETE, remove) the key at a dotted path of a one-part plan."""

    def apply(plan):
        *parents, key = path.split(".")
        for p in parents:
            plan = plan[p]
        if value is DELETE:
            del plan[key]
        else:
            plan[key] = value

    return apply


DELETE = object()
MUTATIONS = [  # (edit, what the one line must say)
    (edit("prune_option", {"calibration_samples": 8}), "prune_option: unknown key"),
    (edit("lanes", "2"), 'lanes: expected an integer, got "2"'),
    (edit("lanes", 0), "lanes: must be >= 1, got 0"),
    (edit("offline", "yes"), "offline: expected true or false"),
    (edit("batch_size", "x"), "batch_size: expected an integer or 'auto'"),
    (edit("model", 3), "model: expected a string, got 3"),
    (edit("model", "nobody/no-such-model"), "model: nobody/no-such-model needs the Hugging Face hub"),
    (edit("model", "/no/such/dir"), "model: /no/such/dir: no such local model directory"),
    (edit("sweep", DELETE), "sweep: missing"),
    (edit("sweep.levels", "0,40"), 'sweep.levels: expected a list of numbers, got "0,40"'),
    (edit("sweep.levels", [0, 100]), "sweep.levels[1]: must be < 100, got 100"),
    (edit("sweep.levels", [0, True]), "sweep.levels[1]: expected a number, got true"),
    (edit("sweep.levels", [0, 40, 40]), "sweep.levels: 40 is listed twice"),
    (edit("sweep.levels", []), "sweep.levels: must hold at least 1 item"),
    (edit("sweep.tasks", ["wikipedia_ppl", "hellaswag"]), "sweep.tasks: 'hellaswag' has no entry"),
    (edit("tasks.piqa.limit", "4"), 'tasks.piqa.limit: expected an integer, got "4"'),
    (edit("tasks.piqa.limit", 0), "tasks.piqa.limit: must be >= 1, got 0"),
    (edit("tasks.piqa.num_fewshot", -1), "tasks.piqa.num_fewshot: must be >= 0"),
    (edit("tasks.nope", {"num_fewshot": 0, "limit": 2}), "tasks: unknown task 'nope'"),
    (
        edit("tasks.wikitext", {"num_fewshot": 0, "limit": 2}),
        "tasks: task 'wikitext' needs the Hugging Face hub",
    ),
    (edit("comparison.methods", ["maw", "data", "magic"]), "comparison.methods: unknown method 'magic'"),
    (edit("comparison.levels", [0, 40]), "comparison.levels: 0 is not above 0"),
    (edit("comparison.seeds", ["a"]), 'comparison.seeds[0]: expected an integer, got "a"'),
    (edit("comparison.data_driven", ["maw"]), "comparison.data_driven: 'maw' is not a data-driven method"),
    (
        edit("comparison.data_driven", ["vow"]),
        "comparison.data_driven: 'vow' is not among comparison.methods",
    ),
    (
        edit("comparison.choose_by.task", "piqa"),
        "comparison.choose_by.task: 'piqa' is not among comparison.tasks",
    ),
    (
        edit("comparison.choose_by.lower_is_better", "yes"),
        "comparison.choose_by.lower_is_better: expected true",
    ),
    (edit("profile.batch_sizes", "1"), 'profile.batch_sizes: expected a list of integers, got "1"'),
    (edit("profile.levels", [0, 150]), "profile.levels[1]: must be < 100, got 150"),
    (edit("profile.new_tokens", 1), "profile.new_tokens: must be >= 2"),
    (edit("profile.workloads", ["nope"]), "profile: unknown workload(s) nope"),
    (edit("profile.divisors", [None, 100]), "profile: --divisor must be one of"),
    (edit("profile.energy", "joulemeter"), "profile: --energy must be one of"),
    (edit("architecture.divisors", [100]), "architecture.divisors: 100 is not one of"),
    (edit("prune_options.calibration_samples", 0), "prune_options.calibration_samples: must be >= 1"),
    (edit("spot", {"levels": [0, 40], "tasks": ["mmlu"]}), "spot.tasks: 'mmlu' has no entry"),
    (edit("spot", {"levels": [0, 150], "tasks": ["piqa"]}), "spot.levels[1]: must be < 100, got 150"),
    (edit("spot", {"levels": [0, 40, 40], "tasks": ["piqa"]}), "spot.levels: 40 is listed twice"),
    (edit("spot", {"levels": [40], "tasks": []}), "spot.tasks: must hold at least 1 item"),
    (edit("fidelity.window", 1), "fidelity.window: must be >= 2, got 1"),
    (edit("fidelity.max_windows", 0), "fidelity.max_windows: must be >= 1, got 0"),
    (edit("fidelity.text", "x.txt"), "fidelity.text: unknown key"),
    # the model's config decides: the data method's re-fit needs more calibration tokens than neurons
    (edit("prune_options.calibration_samples", 1), "comparison.levels: data at 40 %: method data re-fits"),
]


def assert_refused(code, capsys, match, out_dir):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("glu-prune: error:") and match in lines[0], lines[0]
    assert not out_dir.exists()  # nothing written


@pytest.mark.parametrize("mutate,match", MUTATIONS, ids=[m for _, m in MUTATIONS])
def test_a_bad_plan_is_refused_in_one_line_naming_the_field(tmp_path, capsys, mutate, match):
    plan = quick()
    mutate(plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code = main(["study", "--plan", str(path), "--out", str(tmp_path / "run")])
    assert_refused(code, capsys, "study plan: " + match, tmp_path / "run")


@pytest.mark.parametrize(
    "text,match",
    [
        ("[1, 2]", "study plan: expected a JSON object, got list"),
        ("{not json", "not valid JSON"),
        (json.dumps({"parts": "x"}), 'study plan: parts: expected a list of single-model plans, got "x"'),
        (json.dumps({"parts": []}), "study plan: parts: must hold at least 1 item"),
        (json.dumps({"parts": [{}], "lanes": 2}), "study plan: parts[0].model: missing"),
        (
            json.dumps({"parts": [quick(), dict(quick(), lanes=0)]}),
            "study plan: parts[1].lanes: must be >= 1",
        ),
        (
            json.dumps({"parts": [quick(), quick()]}),
            "parts[1].model: smollm2-135m-instruct is already studied",
        ),
    ],
)
def test_a_bad_plan_of_several_models_names_the_part(tmp_path, capsys, text, match):
    path = tmp_path / "plan.json"
    path.write_text(text)
    assert_refused(
        main(["study", "--plan", str(path), "--out", str(tmp_path / "run")]), capsys, match, tmp_path / "run"
    )


def test_unknown_top_level_key_of_a_plan_of_parts(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"parts": [quick()], "lanes": 2}))
    assert_refused(
        main(["study", "--plan", str(path), "--out", str(tmp_path / "run")]),
        capsys,
        "lanes: unknown key",
        tmp_path / "run",
    )


def test_a_missing_model_leaves_the_run_dir_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "plan.json").write_text("the plan of an earlier run")
    plan = dict(quick(), model="nobody/no-such-model")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert main(["study", "--plan", str(path), "--out", str(run)]) == 2
    assert "model: nobody/no-such-model" in capsys.readouterr().err
    assert (run / "plan.json").read_text() == "the plan of an earlier run" and len(list(run.iterdir())) == 1


def test_experiment_config_follows_the_plans():
    full, default = shipped_plan("full").parts[0], shipped_plan("default").parts[0]
    assert EXPERIMENT_CONFIG["methods"] == full.comparison.methods
    assert EXPERIMENT_CONFIG["levels"] == full.sweep.levels == (0, 10, 20, 30, 40, 50, 60)
    assert EXPERIMENT_CONFIG["comparison_levels"] == full.comparison.levels == (10, 20, 40)
    assert EXPERIMENT_CONFIG["offline"]["comparison_tasks"] == default.comparison.tasks
    assert EXPERIMENT_CONFIG["models"]["llama-3.2-1b-instruct"] == {
        "suite": "instruct",
        "levels": (0, 10, 40, 60),
    }
    assert "ifeval" in EXPERIMENT_CONFIG["suites"]["instruct"] and set(EXPERIMENT_CONFIG["studies"]) == {
        "default",
        "quick",
        "full",
    }

    # another committed design (two models, other levels and methods) gives another config
    other = quick()
    other.update(model="llama-3.2-1b")
    other["sweep"]["levels"] = [0, 25, 50]
    two = parse_plan({"about": "two", "parts": [quick(), other]}, "full")
    config = experiment_config(
        {"full": two, "default": shipped_plan("default"), "quick": shipped_plan("quick")}
    )
    assert config["levels"] == (0, 25, 40, 50) and config["methods"] == ("maw", "data")
    assert [p["model"] for p in config["studies"]["full"]["parts"]] == ["default", "llama-3.2-1b"]


def test_console_reports_damaged_files_and_lets_other_warnings_through(tmp_path, capsys):
    said = []
    console = Console(total=2, log=said.append, progress=True)
    store = CheckpointStore(tmp_path)
    identity = {"kind": "test"}
    store.path(identity).parent.mkdir(parents=True, exist_ok=True)
    store.path(identity).write_text("{truncated")
    with pytest.warns(UserWarning, match="something else"), console.reporting_damage("the profile"):
        assert store.load(identity) is None
        warnings.warn("something else", UserWarning, stacklevel=1)
    console.finished("job-a")
    console.finished("job-b", ok=False, note="exit 1")
    console.close()
    assert "study: 100%" in capsys.readouterr().err and console.bar.n == 2  # the bar, on stderr
    assert len(console.damaged) == 1
    assert (
        console.damaged[0]["where"] == "the profile" and "damaged checkpoint" in console.damaged[0]["message"]
    )
    assert said[0].startswith("  the profile: damaged checkpoint") and said[1] == "  FAILED job-b: exit 1"
    assert (tmp_path / "damaged").is_dir()


def test_two_local_models_filed_under_one_name_are_refused(tmp_path, capsys):
    from tiny import tiny_config
    from transformers import AutoModelForCausalLM

    for folder in ("a", "b"):  # whole model dirs (weights too: a dir without them is refused first)
        AutoModelForCausalLM.from_config(tiny_config("llama")).save_pretrained(tmp_path / folder / "tiny")
    parts = [dict(quick(), model=str(tmp_path / folder / "tiny")) for folder in ("a", "b")]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"parts": parts}))
    code = main(["study", "--plan", str(path), "--out", str(tmp_path / "run")])
    assert_refused(
        code,
        capsys,
        "parts[1].model: its results would be filed as tiny, like those of parts[0]",
        tmp_path / "run",
    )
