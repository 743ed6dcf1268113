"""Evaluation of pose predictions: errors raw and snapped to the walkable map side by side,
report files and plots, the nearest-neighbour retrieval baseline, ``camposer evaluate``."""

from .report import EvaluationReport, evaluate_predictions, write_report

__all__ = ["EvaluationReport", "evaluate_predictions", "write_report"]
