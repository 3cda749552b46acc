"""Notebook facade: the functions and tables the notebooks call. No logic lives here.

Everything is implemented in the `glu_prune` package (src/glu_prune); this file only re-exports it
so that notebooks read `from utils import ...` as in the original study.
"""

from glu_prune.architecture import architecture_table  # noqa: F401
from glu_prune.experiment import EXPERIMENT_CONFIG  # noqa: F401
from glu_prune.export import save_pruned  # noqa: F401
from glu_prune.models import ModelSpec, load_config, load_model  # noqa: F401
from glu_prune.pruning import METHODS, PruneConfig, load_pruned, prune  # noqa: F401
from glu_prune.suites import BENCHMARKS_BASE, BENCHMARKS_INSTRUCT  # noqa: F401
from glu_prune.evaluation import consolidate_results, run_robust_evaluation  # noqa: F401
from glu_prune.comparison import compare_methods  # noqa: F401
from glu_prune.workloads import BENCHMARKS_CARBON  # noqa: F401
from glu_prune.energy import calibrate_idle_power  # noqa: F401
from glu_prune.profile_run import run_carbon_profiling  # noqa: F401
from glu_prune.profile_results import consolidate_profiles  # noqa: F401
from glu_prune.analysis import CAPABILITY_GROUPS, PRIMARY_METRICS, Thresholds, decision_matrix, load_results, normalise_to_baseline  # noqa: F401,E501
from glu_prune.figures import draw_figures  # noqa: F401
from glu_prune.publish import build_model_card, push  # noqa: F401
