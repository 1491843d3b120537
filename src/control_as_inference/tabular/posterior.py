"""The result of `infer`: what it keeps, and every other message derived on access.

A posterior always keeps the values V (H+1, S), the start distribution and the evidence; of the
(H, S, A) messages and the marginals it keeps what `infer(..., keep=...)` asked for (by default
all of them, as before `keep` existed). An attribute that was not kept is recomputed when read,
bit for bit what `infer` would have kept: reading one runs `infer(..., keep=None)` again from the
kept V_H, temperature and discount (the same compiled program on the same inputs; the backward
and forward passes, with every (H, S, A) array for the time of the call) and returns that field.

Each reading recomputes (nothing is cached: the posterior is immutable): read a derived attribute
once, outside loops. Read inside `jax.jit` or `jax.vmap`, or on a posterior batched by
`jax.vmap(infer)` (derived over its batch axes), the recomputation is compiled into another
program, which XLA may round differently (within an ulp or so, measured in float64 and float32).
Why not recompute only what is asked (one backward step per t over the stored V, say)? The same
step compiled into a different loop rounds differently on XLA-CPU (float32, dense and successor
lists: tests/tabular/test_posterior_memory.py was written against that first attempt).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..engine import Setting
from .mdp import TabularMDP
from .passes import MARGINALS, MESSAGES, Spec, backward_kept, evidence, forward_kept

KEPT = (*MESSAGES, *MARGINALS)


class Posterior(eqx.Module):
    """The trajectory posterior p(tau | e_{0:H-1} = 1) (exact) or its variational approximation.

    The first eight attributes are stored; the last five are kept by `infer` (its `keep`) or
    derived on access (module docstring).

    Attributes:
        v: (H+1, S) soft values V_t(s); v[H] is the terminal value.
        log_evidence: () exact: log p(e_{0:H-1} = 1) = log sum_s p0(s) exp(V_0(s)/temperature);
            variational: the lower bound sum_s p0(s) V_0(s) / temperature.
        log_initial: (S,) log of the posterior start distribution
            (exact: p0(s) exp(V_0(s)/temperature) normalised; variational: log p0).
        kept: the kept (H, S, A) messages and marginals by name (`infer`'s `keep`).
        mdp: the model inferred in.
        temperature: () the temperature alpha.
        discount: () the discount gamma.
        method: "exact" or "variational".
        q: (H, S, A) soft Q-values Q_t(s, a), reward units.
        log_policy: (H, S, A) log pi_t(a|s) = log p(a|s) + (Q_t - V_t)/temperature.
        log_continuation: (H, S, A) exact: log(gamma E[exp((V_{t+1} - max V_{t+1})/alpha)] + (1 -
            gamma) exp(-max V_{t+1}/alpha)), the normaliser of the posterior dynamics with V_{t+1}
            shifted by its maximum; variational: zeros.
        state_marginals: (H+1, S) p(s_t = s | e) under the posterior (exact: with the posterior
            start state and dynamics; variational: p0 and the true dynamics).
        state_action_marginals: (H, S, A) p(s_t = s, a_t = a | e).
    """

    v: Float[Array, "H1 S"]  # H1 = H + 1
    log_evidence: Float[Array, ""]
    log_initial: Float[Array, " S"]
    kept: dict[str, Array]
    mdp: TabularMDP
    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    method: str = eqx.field(static=True)

    @property
    def horizon(self) -> int:
        return self.v.shape[-2] - 1

    @property
    def setting(self) -> Setting:
        """The `engine.Setting` inferred with (temperature, discount, horizon, method)."""
        return Setting.unchecked(self.temperature, self.discount, self.horizon, self.method)

    @property
    def q(self) -> Array:
        """(H, S, A) (leading batch axes first, if any; so for every property below)."""
        return self._read("q")

    @property
    def log_policy(self) -> Array:
        return self._read("log_policy")

    @property
    def log_continuation(self) -> Array:
        return self._read("log_continuation")

    @property
    def state_marginals(self) -> Array:
        return self._read("state_marginals")

    @property
    def state_action_marginals(self) -> Array:
        return self._read("state_action_marginals")

    @property
    def policy(self) -> Array:
        """pi_t(a|s), shape (H, S, A)."""
        return jnp.exp(self.log_policy)

    def _read(self, name: str) -> Array:
        if name in self.kept:
            return self.kept[name]
        return _derived(self, name)


class InferenceArgs(eqx.Module):
    """`infer`'s arguments once checked: the `engine.Setting` (horizon and method static, part of
    the jit cache key; temperature and discount arrays of the model's dtype), V_H and keep
    (static)."""

    setting: Setting
    terminal_value: Float[Array, " S"]
    keep: tuple[str, ...] = eqx.field(static=True, default=KEPT)

    @property
    def horizon(self) -> int:
        return self.setting.horizon

    @property
    def temperature(self) -> Array:
        return self.setting.temperature

    @property
    def discount(self) -> Array:
        return self.setting.discount

    @property
    def method(self) -> str:
        return self.setting.method


def solve(mdp: TabularMDP, args: InferenceArgs) -> Posterior:
    """`infer` once its arguments are checked: the backward pass, the evidence and, if a marginal
    is kept, the forward pass (`_solve`). The model and the scalars are put into the posterior
    here, outside `jax.jit`: returned from the jitted function, the model would be copied into
    its outputs (measured: 0.29 GB at S = 1e6, K = 8)."""
    v, log_evidence, log_initial, kept = _solve(mdp, args)
    return Posterior(
        v=v,
        log_evidence=log_evidence,
        log_initial=log_initial,
        kept=kept,
        mdp=mdp,
        temperature=args.temperature,
        discount=args.discount,
        method=args.method,
    )


@jax.jit
def _solve(mdp: TabularMDP, args: InferenceArgs):
    """(v, log_evidence, log_initial, kept) of `solve`."""
    spec = Spec.of(mdp, args.temperature, args.discount, args.method)
    keep = args.keep
    marginals = "state_marginals" in keep or "state_action_marginals" in keep
    # the forward pass reads log pi (and, exact, the continuation): kept for it, then dropped
    needed = ("log_policy", "log_continuation") if marginals else ()
    names = tuple(name for name in MESSAGES if name in keep or name in needed)
    v, messages = backward_kept(mdp, spec, args.horizon, args.terminal_value, names)
    log_evidence, log_initial = evidence(mdp, spec, v[0])
    kept = {name: x for name, x in messages.items() if name in keep}
    if marginals:
        joint = "state_action_marginals" in keep
        p, sa_marginals = forward_kept(mdp, spec, v, log_initial, messages, joint)
        if "state_marginals" in keep:
            kept["state_marginals"] = p
        if joint:
            kept["state_action_marginals"] = sa_marginals
    return v, log_evidence, log_initial, kept


def _derived(post: Posterior, name: str) -> Array:
    """Posterior attribute `name` from `solve` run again keeping everything, over any leading
    batch axes. Not jitted here: called on concrete arrays it runs the very executable of
    `infer(..., keep=None)`, so its bits are those `infer` would have kept."""
    if name == "log_continuation" and post.method != "exact":
        mdp = post.mdp
        shape = (*post.v.shape[:-2], post.horizon, mdp.num_states, mdp.num_actions)
        return jnp.zeros(shape, post.v.dtype)

    def derive(post: Posterior) -> Array:
        setting = Setting.unchecked(post.temperature, post.discount, post.horizon, post.method)
        args = InferenceArgs(setting, post.v[-1], KEPT)
        return solve(post.mdp, args).kept[name]

    for _ in range(post.v.ndim - 2):
        derive = jax.vmap(derive)
    return derive(post)
