"""Reporting: measured results read back, normalised to the unpruned model, grouped, decided on,
drawn as figures, and published with a model card."""

from .analysis import group_retention, normalise_to_baseline, performance_summary, ratio_with_stderr
from .compare_models import compare_models
from .decision import Thresholds, decision_matrix
from .figures import FigureReport, draw_figures, show_figures
from .metrics import CAPABILITY_GROUPS, CHANCE, PRIMARY_METRICS, Metric, group_of, headline
from .model_card import build_model_card, eval_results
from .publish import push
from .results import ResultSet, load_results

__all__ = [
    "CAPABILITY_GROUPS",
    "CHANCE",
    "PRIMARY_METRICS",
    "FigureReport",
    "Metric",
    "ResultSet",
    "Thresholds",
    "build_model_card",
    "compare_models",
    "decision_matrix",
    "draw_figures",
    "eval_results",
    "group_of",
    "group_retention",
    "headline",
    "load_results",
    "normalise_to_baseline",
    "performance_summary",
    "push",
    "ratio_with_stderr",
    "show_figures",
]
