"""Studies: a typed plan (one or several models), evaluation jobs in worker processes, the whole-study
runner with one progress bar, and the study's design as the notebooks know it (EXPERIMENT_CONFIG)."""

from .experiment import EXPERIMENT_CONFIG
from .plan import PLANS, ModelPlan, StudyPlan, load_plan, parse_plan
from .run import run_study

__all__ = ["EXPERIMENT_CONFIG", "PLANS", "ModelPlan", "StudyPlan", "load_plan", "parse_plan", "run_study"]
