"""Maximum a posteriori policy optimisation (MPO; Abdolmaleki et al. 2018), the EM view of
control as inference learned from samples, for a Gaussian policy (Box actions) or a categorical
one (Discrete actions), on the harness of `sac` (replay, twin critics, Polyak targets, the loop).

One `mpo_update` on a minibatch (s, a, r, s', d) of B transitions, with pi_old the target actor
and Q' the target critics:

    critic (1-step expected SARSA on pi_old, twin critics; not retrace):
        y = r + gamma (1 - d) E_{a' ~ pi_old(.|s')} min_i Q'_i(s', a')
        L_Q = 1/2 sum_i mean_b (Q_i(s, a) - y)^2
        Gaussian: the expectation is the mean over N samples a'_j; categorical: the exact sum.
    E-step (the optimality posterior under a KL bound epsilon):
        q(a|s) ∝ pi_old(a|s) exp(Q(s, a) / eta),   Q = min_i Q_i of the critics just updated
        Gaussian: over N actions a_bj ~ pi_old(.|s_b) per state, q_bj = softmax_j(Q_bj / eta);
        categorical: over all actions, q_ba = pi_old(a|s_b) exp(Q_ba / eta) / Z_b.
        eta is solved, not learned: the minimiser of the dual g(eta) = eta epsilon +
        eta mean_b log E_{pi_old} exp(Q / eta) on this minibatch, by bisection
        (`policy_search.solve_temperature`), so that mean_b KL(q_b || pi_old) = epsilon when the
        bound binds. (The paper takes gradient steps on the same dual; solving it gives the
        exact E-step at a cost of ~50 evaluations of the dual per update.) A minibatch whose
        Q-values are all equal cannot meet the bound: eta is the solver's finite lower limit and
        `temperature_active` is logged as 0.
    M-step (`mpo_losses`): weighted maximum likelihood of the online actor under the KL bounds to
        pi_old: Gaussian decoupled (epsilon_mean on the mean, epsilon_covariance on the diagonal
        covariance), categorical one (epsilon_mean); one Adam step of the actor on the
        Lagrangian, one Adam step (dual_learning_rate) of the log-multipliers on theirs, then
        log alpha projected onto [-18, 18].
    targets: Q' <- tau Q + (1 - tau) Q',  pi_old <- tau pi + (1 - tau) pi_old  (Polyak).

The Gaussian is the tanh-squashed actor of SAC (`networks.TanhGaussianActor`): a = scale tanh(u)
+ offset keeps actions in the box; the weights, the likelihood and the KLs are those of u (the
squashing is a fixed bijection). It explores by sampling the online actor (the uniform box before
learning_starts, as SAC); the deterministic policy is the mean action.

Logged per update: critic_loss, actor_loss (the policy Lagrangian), temperature (eta), kl_estep
(mean_b KL(q_b || pi_old)), temperature_active, entropy (of pi_old's action, from the E-step's
samples; categorical: exact), and kl_mean, kl_covariance, multiplier_mean,
multiplier_covariance (Gaussian) or kl_policy, multiplier_policy (categorical); the KLs of the
M-step are those of the actor before its step.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._core import check_int, check_positive
from ..policy_search import estep_weights, solve_temperature, weights_kl
from .common import (
    AgentConfig,
    dataclasses_replace,
    gradient_step,
    key_data,
    observe_with,
    optimiser,
    optimiser_init,
    polyak,
    repeat_updates,
    twin_q_loss,
)
from .discrete import chosen_q
from .mpo_losses import (
    categorical_mstep_loss,
    gaussian_mstep_loss,
    multiplier_loss,
    project_multipliers,
)
from .networks import (
    CategoricalActor,
    DiscreteTwinCritic,
    TanhGaussianActor,
    TwinCritic,
    tanh_gaussian_log_prob,
)
from .replay import ReplayBuffer, buffer_init, buffer_sample

POLICIES = ("gaussian", "categorical")
BISECTION_STEPS = 50  # on log eta over a bracket 27.6 wide: far below float32 resolution


@dataclasses.dataclass(frozen=True, kw_only=True)
class MPOConfig(AgentConfig):
    """Hyperparameters of MPO (module docstring); the shared ones as `common.AgentConfig`.

    Attributes:
        policy: "gaussian" (a Box action space) or "categorical" (a Discrete one).
        num_samples: N, actions sampled per state for the E-step and the critic's target
            (Gaussian; the categorical E-step sums over all actions); at least 2.
        epsilon: the E-step's KL bound, mean_b KL(q(.|s_b) || pi_old(.|s_b)) <= epsilon.
        epsilon_mean: the M-step's bound on the Gaussian mean's KL (categorical: on the KL).
        epsilon_covariance: the M-step's bound on the Gaussian covariance's KL.
        initial_multiplier: alpha of every M-step bound at the start; large (the policy starts
            held to pi_old and the multipliers fall until their bounds bind), as Acme's MPO.
        dual_learning_rate: Adam step size of the log-multipliers.
    """

    algorithm: ClassVar[str] = "mpo"

    policy: str = "gaussian"
    num_samples: int = 20
    epsilon: float = 0.1
    epsilon_mean: float = 0.01
    epsilon_covariance: float = 1e-4
    initial_multiplier: float = 10.0
    dual_learning_rate: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        if self.policy not in POLICIES:
            raise ValueError(
                f"policy must be 'gaussian' (Box actions) or 'categorical' (Discrete actions), "
                f"got {self.policy!r}."
            )
        check_int("num_samples", self.num_samples, 2)
        for name in ("epsilon", "epsilon_mean", "epsilon_covariance"):
            check_positive(f"{name} (a KL bound)", getattr(self, name))  # finite: inf gave NaN
        check_positive("initial_multiplier", self.initial_multiplier)
        check_positive("dual_learning_rate", self.dual_learning_rate)


class MPOState(eqx.Module):
    """Everything a run carries: online and target actor and critics, the log-multipliers of
    the M-step bounds ((2,) Gaussian: mean, covariance; (1,) categorical), optimiser states,
    buffer, RNG key data, step; num_actions is 0 for a Gaussian policy."""

    actor: TanhGaussianActor | CategoricalActor
    target_actor: TanhGaussianActor | CategoricalActor
    critic: TwinCritic | DiscreteTwinCritic
    target_critic: TwinCritic | DiscreteTwinCritic
    log_multipliers: Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    dual_opt: optax.OptState
    buffer: ReplayBuffer
    key: Array
    step: Array
    num_actions: int = eqx.field(static=True)


def mpo_init(config: MPOConfig, obs_dim: int, key, *, low=None, high=None, num_actions=None):
    """Fresh networks (targets = copies of the online ones), optimisers, multipliers and an
    empty buffer. A Gaussian policy needs the action box (low, high) (m,), a categorical one
    num_actions; ValueError naming `policy` when the action space does not fit it."""
    gaussian = config.policy == "gaussian"
    if gaussian and (low is None or high is None or num_actions is not None):
        raise ValueError(
            "policy: 'gaussian' needs a Box action space (low, high); for a Discrete one use "
            "MPOConfig(policy='categorical')."
        )
    if not gaussian and (num_actions is None or low is not None):
        raise ValueError(
            "policy: 'categorical' needs a Discrete action space (num_actions); for a Box one "
            "use MPOConfig(policy='gaussian')."
        )
    k_actor, k_critic, k_run = jax.random.split(key_data(key), 3)
    if gaussian:
        actor = TanhGaussianActor(obs_dim, low, high, config.hidden, k_actor)
        m = actor.scale.shape[0]
        critic = TwinCritic(obs_dim, m, config.hidden, k_critic)
        buffer, count, num_actions = buffer_init(config.buffer_size, obs_dim, m), 2, 0
    else:
        num_actions = check_int("num_actions", num_actions, 2)
        actor = CategoricalActor(obs_dim, num_actions, config.hidden, k_actor)
        critic = DiscreteTwinCritic(obs_dim, num_actions, config.hidden, k_critic)
        buffer, count = buffer_init(config.buffer_size, obs_dim, None), 1
    log_multipliers = jnp.full(count, jnp.log(config.initial_multiplier), jnp.float32)
    opt = optimiser(config)
    return MPOState(
        actor=actor,
        target_actor=jax.tree_util.tree_map(jnp.copy, actor),  # own buffers (donation)
        critic=critic,
        target_critic=jax.tree_util.tree_map(jnp.copy, critic),
        log_multipliers=log_multipliers,
        actor_opt=optimiser_init(opt, actor),
        critic_opt=optimiser_init(opt, critic),
        dual_opt=optax.adam(config.dual_learning_rate).init(log_multipliers),
        buffer=buffer,
        key=k_run,
        step=jnp.zeros((), jnp.int32),
        num_actions=num_actions,
    )


# ----------------------------------------------------------------------------- pieces


def sample_gaussian_actions(actor: TanhGaussianActor, obs, key, num_samples: int):
    """N samples per state of a tanh-Gaussian actor: (u (B, N, m), a (B, N, m), mean (B, m),
    log_std (B, m)), u ~ N(mean, exp(log_std)^2) and a = scale tanh(u) + offset."""
    mean, log_std = jax.vmap(actor.distribution)(obs)
    eps = jax.random.normal(key, (obs.shape[0], num_samples, mean.shape[-1]), mean.dtype)
    u = mean[:, None] + jnp.exp(log_std)[:, None] * eps
    return u, jax.vmap(jax.vmap(actor.squash))(u), mean, log_std


def min_q_of_samples(critic, obs, actions) -> Array:
    """min_i Q_i(s_b, a_bj) (B, N) for obs (B, d) and actions (B, N, m)."""
    q1, q2 = jax.vmap(jax.vmap(critic, in_axes=(None, 0)))(obs, actions)
    return jnp.minimum(q1, q2)


def mpo_estep(q_values, epsilon, log_prior=None):
    """The E-step on Q-values (B, N) of sampled actions (log_prior None) or (B, A) of all
    actions (log_prior = log pi_old (B, A)): (weights (B, N), eta, mean_b KL(q_b || pi_old),
    active), eta solving the dual (module docstring)."""
    solution = solve_temperature(q_values, epsilon, log_prior, iterations=BISECTION_STEPS)
    weights = estep_weights(q_values, solution.temperature, log_prior)
    kl = jnp.mean(weights_kl(weights, log_prior))
    return weights, solution.temperature, kl, solution.active


def _critic_step(state: MPOState, config: MPOConfig, batch, key, opt):
    """The expected-SARSA twin-critic step (module docstring): (loss, critic, critic_opt)."""
    obs, action, reward, next_obs, terminated = batch
    if state.num_actions:
        pi_next = jnp.exp(jax.vmap(state.target_actor.log_probs)(next_obs))
        q1_next, q2_next = jax.vmap(state.target_critic)(next_obs)
        v_next = jnp.sum(pi_next * jnp.minimum(q1_next, q2_next), axis=-1)
    else:
        _, a_next, _, _ = sample_gaussian_actions(
            state.target_actor, next_obs, key, config.num_samples
        )
        v_next = jnp.mean(min_q_of_samples(state.target_critic, next_obs, a_next), axis=-1)
    target = reward + config.gamma * (1 - terminated) * v_next

    def objective(critic):
        if state.num_actions:
            q1, q2 = jax.vmap(critic)(obs)
            return twin_q_loss(chosen_q(q1, action), chosen_q(q2, action), target)
        q1, q2 = jax.vmap(critic)(obs, action)
        return twin_q_loss(q1, q2, target)

    return gradient_step(opt, objective, state.critic, state.critic_opt)


def _policy_objective(state: MPOState, config: MPOConfig, critic, obs, key):
    """(E-step metrics, actor -> (Lagrangian, KLs), the bounds (k,)) for the M-step."""
    multipliers = jnp.exp(state.log_multipliers)
    if state.num_actions:
        q1, q2 = jax.vmap(critic)(obs)
        old_log_pi = jax.vmap(state.target_actor.log_probs)(obs)
        weights, eta, kl_q, active = mpo_estep(jnp.minimum(q1, q2), config.epsilon, old_log_pi)
        entropy = -jnp.mean(jnp.sum(jnp.exp(old_log_pi) * old_log_pi, axis=-1))

        def objective(actor):
            log_pi = jax.vmap(actor.log_probs)(obs)
            loss, kl = categorical_mstep_loss(log_pi, old_log_pi, weights, multipliers)
            return loss, kl[None]

        bounds = jnp.array([config.epsilon_mean], jnp.float32)
    else:
        u, a, old_mean, old_log_std = sample_gaussian_actions(
            state.target_actor, obs, key, config.num_samples
        )
        weights, eta, kl_q, active = mpo_estep(min_q_of_samples(critic, obs, a), config.epsilon)
        log_prob = jax.vmap(  # log pi_old(a) of the samples, squashing included
            jax.vmap(tanh_gaussian_log_prob, in_axes=(0, None, None, None)),
            in_axes=(0, 0, 0, None),
        )(u, old_mean, old_log_std, state.target_actor.scale)
        entropy = -jnp.mean(log_prob)

        def objective(actor):
            mean, log_std = jax.vmap(actor.distribution)(obs)
            old = (old_mean, old_log_std)
            loss, kls = gaussian_mstep_loss(mean, log_std, old, u, weights, multipliers)
            return loss, jnp.stack(kls)

        bounds = jnp.array([config.epsilon_mean, config.epsilon_covariance], jnp.float32)
    return (eta, kl_q, active, entropy), objective, bounds


def mpo_update(state: MPOState, config: MPOConfig) -> tuple[MPOState, dict]:
    """One update on a sampled minibatch: critic, E-step, M-step (actor and multipliers), then
    the Polyak targets (module docstring)."""
    opt = optimiser(config)
    key, k_batch, k_critic, k_policy = jax.random.split(state.key, 4)
    batch = buffer_sample(state.buffer, k_batch, config.batch_size)
    q_loss, critic, critic_opt = _critic_step(state, config, batch, k_critic, opt)
    (eta, kl_q, active, entropy), objective, bounds = _policy_objective(
        state, config, critic, batch[0], k_policy
    )
    (pi_loss, kls), actor, actor_opt = gradient_step(
        opt, objective, state.actor, state.actor_opt, has_aux=True
    )
    dual = optax.adam(config.dual_learning_rate)
    grad = jax.grad(multiplier_loss)(state.log_multipliers, kls, bounds)
    updates, dual_opt = dual.update(grad, state.dual_opt, state.log_multipliers)
    log_multipliers = project_multipliers(optax.apply_updates(state.log_multipliers, updates))
    new = dataclasses_replace(
        state,
        actor=actor,
        target_actor=polyak(actor, state.target_actor, config.tau),
        critic=critic,
        target_critic=polyak(critic, state.target_critic, config.tau),
        log_multipliers=log_multipliers,
        actor_opt=actor_opt,
        critic_opt=critic_opt,
        dual_opt=dual_opt,
        key=key,
    )
    alpha = jnp.exp(state.log_multipliers)
    metrics = {
        "critic_loss": q_loss,
        "actor_loss": pi_loss,
        "temperature": eta.astype(jnp.float32),
        "kl_estep": kl_q.astype(jnp.float32),
        "temperature_active": active.astype(jnp.float32),
        "entropy": entropy,
    }
    names = ("policy",) if state.num_actions else ("mean", "covariance")
    for i, name in enumerate(names):
        metrics[f"kl_{name}"] = kls[i]
        metrics[f"multiplier_{name}"] = alpha[i]
    return new, metrics


def mpo_update_many(state: MPOState, config: MPOConfig, num: int) -> tuple[MPOState, dict]:
    """`num` updates in one `lax.scan`; returns the metrics of the last."""
    return repeat_updates(mpo_update, state, config, num)


def mpo_act_many(state: MPOState, obs, config: MPOConfig, deterministic: bool = False):
    """Actions for n observations (n, d): uniform before learning_starts, then samples of the
    online actor (deterministic: its mean action, or its most probable action); (actions (n, m)
    or (n,), state). The draws of `sac.act_many` and `discrete_agent.discrete_act_many`."""
    obs = jnp.asarray(obs, jnp.float32)
    if deterministic:
        if state.num_actions:
            return jnp.argmax(jax.vmap(state.actor.log_probs)(obs), axis=-1), state
        return jax.vmap(state.actor.deterministic)(obs), state
    key, k_pi, k_uniform = jax.random.split(state.key, 3)
    if state.num_actions:
        sampled = jax.random.categorical(k_pi, jax.vmap(state.actor.log_probs)(obs))
        uniform = jax.random.randint(k_uniform, sampled.shape, 0, state.num_actions)
    else:
        scale, offset = state.actor.scale, state.actor.offset
        shape = (obs.shape[0], *scale.shape)
        eps = jax.random.normal(k_pi, shape, scale.dtype)
        sampled, _ = jax.vmap(state.actor.sample_from_noise)(obs, eps)
        low = offset - scale
        uniform = jax.random.uniform(k_uniform, shape, scale.dtype, low, low + 2 * scale)
    action = jnp.where(state.step < config.learning_starts, uniform, sampled)
    return action, dataclasses_replace(state, key=key)


def mpo_observe_many(state: MPOState, config: MPOConfig, transitions, next_obs_for_action):
    """Store one step of n environments, learn once past learning_starts, act (as
    `sac.observe_many`)."""
    return observe_with(mpo_act_many, mpo_update, state, config, transitions, next_obs_for_action)
