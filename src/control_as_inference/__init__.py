"""control-as-inference: optimal control as probabilistic inference (Levine 2018), in JAX.

    import control_as_inference as cai
    post = cai.infer(cai.TabularMDP(transitions, reward), horizon=20, temperature=0.5)
    cai.lqr.soft_lqr(...); cai.mppi.mppi_step(...); cai.envs.from_gymnasium("FrozenLake-v1")

The flat names below (the tabular model, inference and inverse RL), the engine (`cai.engine`),
the families as attributes (`FAMILIES`: `cai.tabular`, `cai.envs`, `cai.lqr`, ...) and
`cai.plotting` are loaded on first use (PEP 562), so `import control_as_inference` does not
import JAX until something needs it.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the subpackage that defines it
_EXPORTS = {
    "ConvergenceWarning": "engine",
    "Demonstrations": "irl",
    "IRLResult": "irl",
    "Posterior": "tabular",
    "SoftValueSolution": "tabular",
    "Successors": "tabular",
    "Summary": "tabular",
    "TabularMDP": "tabular",
    "as_demonstrations": "irl",
    "enable_compilation_cache": "compilation_cache",
    "feature_expectations": "irl",
    "expected_entropy": "tabular",
    "expected_return": "tabular",
    "expected_value": "tabular",
    "infer": "tabular",
    "infer_summary": "tabular",
    "log_prob": "tabular",
    "maxent_irl": "irl",
    "maxent_log_likelihood": "irl",
    "most_probable_trajectory": "tabular",
    "policy_log_likelihood": "irl",
    "sample": "tabular",
    "sample_policy": "tabular",
    "shard_mdp": "distributed",
    "soft_value_iteration": "tabular",
}
# The one list of the families, in the order the docs present them. It drives the lazy exports
# below, tests/test_structure.py (the import rules, the import test) and the docs (every family
# has an API page, a row in docs/api/index.md, a nav entry and a line in docs/layout.md, checked
# by tests/test_structure.py). A new family adds its folder and its name here.
FAMILIES = (
    "tabular",
    "envs",
    "lqr",
    "mppi",
    "agents",
    "policy_search",
    "irl",
    "kl",
    "pomdp",
    "distributed",
)
# what every family may import and which imports no family: the engine (public)
FOUNDATIONS = ("engine",)
_SUBPACKAGES = (*FOUNDATIONS, *FAMILIES, "plotting")

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBPACKAGES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBPACKAGES})


if _TYPE_CHECKING:  # the names as static analysers and IDEs should see them
    from . import (
        agents,
        distributed,
        engine,
        envs,
        irl,
        kl,
        lqr,
        mppi,
        plotting,
        policy_search,
        pomdp,
        tabular,
    )
    from .distributed import shard_mdp
    from .engine import ConvergenceWarning
    from .irl import (
        Demonstrations,
        IRLResult,
        as_demonstrations,
        feature_expectations,
        maxent_irl,
        maxent_log_likelihood,
        policy_log_likelihood,
    )
    from .tabular import (
        Posterior,
        SoftValueSolution,
        Successors,
        Summary,
        TabularMDP,
        expected_entropy,
        expected_return,
        expected_value,
        infer,
        infer_summary,
        log_prob,
        most_probable_trajectory,
        sample,
        sample_policy,
        soft_value_iteration,
    )
