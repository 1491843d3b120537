"""What every agent does: the shared hyperparameters and their checks, the Adam optimiser, the
rule of what trains and the gradient step that follows it, tree replacement, Polyak averaging,
the twin-Q squared error, the repeated-update scan and the store-learn-act step. `sac` and
`discrete_agent` build on these; nothing here knows either.

What trains: the weights and biases of the networks' layers and free `networks.Parameter`s
(`trainable`), nothing else. A network may carry other float arrays, which are data: the tanh-
Gaussian actor's action box (scale, offset) comes from the environment and must never move. Every
optimiser state is made on the trainable part (`optimiser_init`) and every gradient step
differentiates and updates only that part (`gradient_step`). The temperature log alpha is a
parameter of its own with its own optimiser, stepped only when it is learned; target networks follow
by Polyak averaging, never by an optimiser.

    Polyak:        Q' <- tau Q + (1 - tau) Q'
    twin-Q error:  L_Q = 1/2 sum_i mean_b (Q_i(s_b, a_b) - y_b)^2      (y held fixed)
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._core import check_discount, check_int, check_positive, dataclasses_replace, key_data  # noqa: F401
from .networks import Parameter
from .replay import buffer_add_many


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """The hyperparameters every agent has (defaults: rl-zoo's Pendulum-v1 SAC settings, with
    1e-3 learning rate; each agent's config may change them).

    Attributes:
        learning_rate: Adam step size of every network (and of the temperature).
        batch_size, buffer_size: minibatch and replay capacity (batch <= buffer).
        learning_starts: uniform random actions and no updates before this many steps.
        gamma: discount; tau: Polyak rate of the target critics.
        hidden: widths of the hidden layers of every network.
        gradient_steps: updates per step of the environments (`train.train`).
    """

    learning_rate: float = 1e-3
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    gamma: float = 0.99
    tau: float = 0.005
    hidden: tuple = (256, 256)
    gradient_steps: int = 1

    def __post_init__(self):
        check_learning_settings(self)


def check_learning_settings(config) -> None:
    """The settings every agent shares: ValueError naming the one that is out of range."""
    check_positive("learning_rate", config.learning_rate)
    for name in ("batch_size", "buffer_size", "gradient_steps"):
        check_int(name, getattr(config, name), 1)
    check_int("learning_starts", config.learning_starts, 0)
    if config.batch_size > config.buffer_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) must not exceed buffer_size ({config.buffer_size})."
        )
    # the learners' discount keeps its conventional name; the one domain (engine.Setting)
    check_discount(config.gamma, None, name="gamma")
    if not 0 < config.tau <= 1:
        raise ValueError(f"tau must lie in (0, 1], got {config.tau}.")
    if not config.hidden or not all(isinstance(h, int) and h > 0 for h in config.hidden):
        raise ValueError(f"hidden must be a tuple of positive ints, got {config.hidden!r}.")


def optimiser(config) -> optax.GradientTransformation:
    """Adam with the config's learning rate (one for every network and the temperature)."""
    return optax.adam(config.learning_rate)


TRAINABLE_LAYERS = (eqx.nn.Linear, Parameter)


def trainable(tree):
    """The filter spec of the parameters that train: True at the floating arrays inside the
    networks' layers and free parameters (`TRAINABLE_LAYERS`), False at every other leaf (an
    action box, constants, counters). Use it with `eqx.filter` / `eqx.partition`."""

    def spec(node):
        if isinstance(node, TRAINABLE_LAYERS):
            return jax.tree_util.tree_map(eqx.is_inexact_array, node)
        return False

    return jax.tree_util.tree_map(
        spec, tree, is_leaf=lambda node: isinstance(node, TRAINABLE_LAYERS)
    )


def optimiser_init(opt: optax.GradientTransformation, module) -> optax.OptState:
    """The optimiser state of a network's trainable part (`trainable`)."""
    return opt.init(eqx.filter(module, trainable(module)))


def gradient_step(opt: optax.GradientTransformation, objective, module, opt_state, has_aux=False):
    """One optimiser step on objective(module) (a scalar, or (scalar, aux) with has_aux) over
    the trainable part of `module` only; every other leaf is held fixed (no gradient flows to
    it and the optimiser never sees it). Returns (value, new module, new opt_state), value as
    `eqx.filter_value_and_grad` gives it."""
    params, fixed = eqx.partition(module, trainable(module))

    def on_params(p):
        return objective(eqx.combine(p, fixed))

    value, grads = eqx.filter_value_and_grad(on_params, has_aux=has_aux)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return value, eqx.apply_updates(module, updates), opt_state


def polyak(online, target, tau):
    """tau * online + (1 - tau) * target for every floating leaf of two trees of one structure
    (arrays, dicts of tables, equinox networks); other leaves are taken from `online`."""
    return jax.tree_util.tree_map(
        lambda q, t: tau * q + (1 - tau) * t if eqx.is_inexact_array(q) else q, online, target
    )


def twin_q_loss(q1, q2, target) -> Array:
    """1/2 sum_i mean_b (Q_i(s_b, a_b) - y_b)^2 for the two critics' values q1, q2 (B,) of the
    taken actions and targets y (B,), through which no gradient flows."""
    y = jax.lax.stop_gradient(target)
    return 0.5 * (jnp.mean((q1 - y) ** 2) + jnp.mean((q2 - y) ** 2))


def repeat_updates(update_fn, state, config, num: int):
    """`num` calls of update_fn(state, config) -> (state, metrics) in one `lax.scan`; returns the
    metrics of the last."""

    def body(s, _):
        return update_fn(s, config)

    state, metrics = jax.lax.scan(body, state, None, length=num)
    return state, jax.tree_util.tree_map(lambda x: x[-1], metrics)


def observe_with(act_fn, update_fn, state, config, transitions, next_obs_for_action):
    """The store-learn-act step shared by the agents (`sac.observe_many`): store the n
    transitions (each part with a leading axis n), advance the step count by n, make
    `config.gradient_steps` updates once learning_starts is reached (NaN metrics before), then
    act on `next_obs_for_action` (n, d).

    act_fn(state, obs (n, d), config) -> (actions, state); update_fn(state, config) ->
    (state, metrics). Returns (state, actions, metrics).
    """
    n = transitions[2].shape[0]
    buffer = buffer_add_many(state.buffer, *transitions)
    state = dataclasses_replace(state, buffer=buffer, step=state.step + n)

    def learn(s):
        return repeat_updates(update_fn, s, config, config.gradient_steps)

    def skip(s):
        metrics = jax.eval_shape(lambda: learn(s)[1])
        return s, jax.tree_util.tree_map(lambda x: jnp.full(x.shape, jnp.nan, x.dtype), metrics)

    state, metrics = jax.lax.cond(state.step >= config.learning_starts, learn, skip, state)
    action, state = act_fn(state, next_obs_for_action, config)
    return state, action, metrics
