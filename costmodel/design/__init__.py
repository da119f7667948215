"""Network design by mathematical programming: DeepMAD's entropy objective (Shen et al., CVPR 2023).

:func:`score_graph` scores an existing network; :func:`design` solves a design problem (a relaxation by
SLSQP, then an integer search) and confirms the result with the analyzer. See docs/designer.md.
"""

from .entropy import (
    DesignError,
    Score,
    Stage,
    default_alphas,
    depth_penalty,
    effectiveness,
    score_graph,
    stage_entropies,
)
from .solver import Budget, InfeasibleError, Problem, Result, design, roofline_latency, solve_budgets
from .space import FAMILIES, Design, evaluate_design, spec_yaml

__all__ = [
    "FAMILIES",
    "Budget",
    "Design",
    "DesignError",
    "InfeasibleError",
    "Problem",
    "Result",
    "Score",
    "Stage",
    "default_alphas",
    "depth_penalty",
    "design",
    "effectiveness",
    "evaluate_design",
    "roofline_latency",
    "score_graph",
    "spec_yaml",
    "stage_entropies",
    "solve_budgets",
]
