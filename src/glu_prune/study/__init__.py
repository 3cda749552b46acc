"""Studies: a plan as data, evaluation jobs in worker processes, the whole-study runner."""

from .experiment import EXPERIMENT_CONFIG
from .plan import PLANS, load_plan
from .run import run_study

__all__ = ["EXPERIMENT_CONFIG", "PLANS", "load_plan", "run_study"]
