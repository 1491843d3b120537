"""The setting of the model: temperature, discount, horizon and inference method, validated once.

Every model-based family (tabular, lqr, irl, mppi) reads the same four quantities under the same
names (DESIGN.md: "one name for alpha everywhere: `temperature`"):

    temperature  alpha > 0 and finite: p(e_t = 1 | s_t, a_t) = exp(r(s_t, a_t) / alpha)
    discount     gamma in (0, 1]: every step the system drops, with probability 1 - gamma, into an
                 absorbing state of reward 0. gamma = 1 is no discount: a finite horizon, or an
                 infinite one whose every policy ends in a zero-reward absorbing state (soft value
                 iteration, the stationary soft Riccati recursion). Where a quantity is a
                 geometric sum over an unbounded horizon with nothing else to end it (a
                 discounted occupancy, AIRL's generator, maximum-entropy IRL without a horizon,
                 EM planning's geometric prior over horizons) gamma must be < 1: the one checker
                 takes that as an option (`_core.check_discount(..., geometric=True)`, one
                 message, `_core.discount_domain`).
    horizon      H >= 0 decisions (a Python int, static under `jax.jit`; 0 is `infer`'s edge case,
                 the evidence of the terminal value alone: families that need a step ask for
                 H >= 1 with `check_horizon`), or None for the infinite horizon.
    method       "exact" (sum-product: optimistic posterior dynamics and start state) or
                 "variational" (the soft Bellman backup with the true dynamics).

`Setting` is an equinox Module: temperature and discount are arrays and may be traced (under
`jax.jit`, `jax.vmap`, `jax.grad`), horizon and method are static. A concrete bad value raises a
ValueError naming the field when the Setting is made; a traced one cannot be seen by Python, so
`Setting` puts the check into the computation (`equinox.error_if`): running it raises instead of
returning NaN. Hence every function that takes a temperature may be vmapped over it.

Learners (soft Q-learning, SAC, MPO) keep their conventional `gamma` and `alpha` in their configs
and check gamma with the same checker (`name="gamma"`); REPS's and MPO's `eta` / `epsilon` are
E-step quantities, not the setting.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import (
    TEMPERATURE_DOMAIN,
    check_discount,
    check_int,
    check_method,
    check_temperature,
    discount_domain,
    float_dtype,
    is_concrete,
)

TRACED = "(checked on a traced value)"


def check_horizon(horizon, low: int = 1, infinite: bool = False) -> int | None:
    """H, a Python int >= low; None too (the infinite horizon) if `infinite`."""
    if horizon is None and infinite:
        return None
    name = "horizon (or None for the infinite horizon)" if infinite else "horizon"
    return check_int(name, horizon, low)


def checked_when_run(temperature, discount, geometric: bool = False):
    """(temperature, discount), each checked when the computation runs if it is traced.

    Under `jax.jit`, `jax.vmap` or `jax.grad` Python cannot see a traced value, so the
    ValueError of the concrete checks cannot be raised, and temperature 0 would give NaN.
    `equinox.error_if` puts the check into the computation instead: running it raises a runtime
    error with the message (`equinox.EquinoxRuntimeError` under `equinox.filter_jit`, JAX's
    runtime error under `jax.jit`; EQX_ON_ERROR=nan in the environment returns NaN instead).
    Concrete values were checked already and cost nothing.
    """
    if not is_concrete(temperature):
        bad = ~((temperature > 0) & jnp.isfinite(temperature))
        temperature = eqx.error_if(temperature, bad, f"{TEMPERATURE_DOMAIN} {TRACED}")
    if not is_concrete(discount):
        above = discount >= 1 if geometric else discount > 1
        bad = ~(discount > 0) | above
        discount = eqx.error_if(discount, bad, f"{discount_domain('discount', geometric)} {TRACED}")
    return temperature, discount


class Setting(eqx.Module):
    """Temperature, discount, horizon and inference method of one inference call, validated.

    Setting(temperature=1.0, discount=1.0, horizon=None, method="exact", *, dtype=None,
    geometric=False) checks every field (module docstring): a ValueError naming the field for a
    concrete bad value, a check that runs with the computation for a traced one. `dtype` is the
    model's floating dtype (None: the values' own, JAX's default float for Python numbers);
    `geometric=True` asks for discount < 1.

    Attributes:
        temperature: () alpha > 0.
        discount: () gamma in (0, 1].
        horizon: H >= 0 (static), or None for the infinite horizon.
        method: "exact" or "variational" (static).
    """

    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    horizon: int | None = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        temperature=1.0,
        discount=1.0,
        horizon=None,
        method="exact",
        *,
        dtype=None,
        geometric=False,
    ):
        dtype = float_dtype(temperature, discount) if dtype is None else dtype
        self.method = check_method(method)
        self.horizon = check_horizon(horizon, 0, infinite=True)
        self.temperature, self.discount = checked_when_run(
            check_temperature(temperature, dtype),
            check_discount(discount, dtype, geometric=geometric),
            geometric,
        )

    @classmethod
    def unchecked(cls, temperature, discount, horizon=None, method: str = "exact") -> Setting:
        """A Setting of values a family has already checked (e.g. rebuilt inside its own jitted
        function): no checks, no conversion, no second `error_if` in the computation."""
        setting = object.__new__(cls)
        for name, value in zip(
            ("temperature", "discount", "horizon", "method"),
            (temperature, discount, horizon, method),
            strict=True,
        ):
            object.__setattr__(setting, name, value)
        return setting

    @property
    def exact(self) -> bool:
        """Whether the method is "exact" (static)."""
        return self.method == "exact"

    @property
    def infinite(self) -> bool:
        """Whether the horizon is infinite (horizon None)."""
        return self.horizon is None


__all__ = ["Setting", "check_horizon", "checked_when_run"]
