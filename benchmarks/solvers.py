"""The solver layer against equinox's solver libraries, in one process (issue 29 item 3).

    python benchmarks/solvers.py [--states 100000] [--repeats 3]

1. Soft value iteration on successor lists (S states, A = 4, K = 5, float64, gamma = 0.9,
   temperature 1): `cai.soft_value_iteration` (engine.fixed_point), the hand-written
   `lax.while_loop` it replaced, and optimistix's `fixed_point` with `FixedPointIteration`
   (max norm, rtol = atol = 10 eps: the same stop test) on the same backup.
2. Policy evaluation (I - gamma P_pi) v = r_pi, a linear solve on the same model: engine's
   `bicgstab` against lineax's `BiCGStab` (rtol 1e-10) through a `FunctionLinearOperator`.

Prints the time per solve (best of --repeats, compiled), iterations, the ratios and the load.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import optimistix as optx  # noqa: E402

import control_as_inference as cai  # noqa: E402
from control_as_inference import engine  # noqa: E402
from control_as_inference.tabular import Spec, backup  # noqa: E402


def random_model(num_states, num_actions=4, k=5, seed=0):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, num_states, (num_states, num_actions, k))
    prob = rng.dirichlet(np.ones(k), (num_states, num_actions))
    reward = rng.normal(size=(num_states, num_actions))
    return cai.TabularMDP(cai.Successors(index, prob), reward)


def best_of(fn, repeats):
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def soft_vi_solvers(num_states, temperature, discount):
    """Each solver is jitted with the model as its argument (not a constant folded into it)."""
    tol = 10 * float(jnp.finfo(jnp.float64).eps)
    v0 = jnp.zeros(num_states)

    def stepper(mdp):
        spec = Spec.of(mdp, jnp.asarray(temperature), jnp.asarray(discount), "variational")
        return lambda v: backup(mdp, spec, v, mdp.reward)[1]

    @jax.jit
    def hand(mdp):  # the loop soft_value_iteration had before the engine (13dec84^)
        def not_done(carry):
            _, i, residual, scale = carry
            return (i < 100_000) & (residual > tol * (1 + scale))

        step = stepper(mdp)

        def body(carry):
            v, i, _, _ = carry
            v_new = step(v)
            return v_new, i + 1, jnp.max(jnp.abs(v_new - v)), jnp.max(jnp.abs(v_new))

        init = (v0, jnp.asarray(0), jnp.asarray(jnp.inf), jnp.asarray(0.0))
        v, i, _, _ = jax.lax.while_loop(not_done, body, init)
        return v, i

    @jax.jit
    def ours(mdp):
        sol = cai.soft_value_iteration(mdp, temperature, discount)
        return sol.v, sol.iterations

    solver = optx.FixedPointIteration(rtol=tol, atol=tol, norm=optx.max_norm)

    @jax.jit
    def optimistix(mdp):
        step = stepper(mdp)
        sol = optx.fixed_point(lambda v, _: step(v), solver, v0, max_steps=100_000, throw=False)
        return sol.value, sol.stats["num_steps"]

    return {
        "engine (soft_value_iteration)": ours,
        "hand-written loop": hand,
        "optimistix": optimistix,
    }


def linear_problem(mdp, discount):
    """(weight (S, A, K), index (S, A, K), r_pi (S,)) of the uniform policy."""
    pi = jnp.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions)
    weight = discount * pi[:, :, None] * mdp.transitions.prob
    return weight, mdp.transitions.index, jnp.sum(pi * mdp.reward, axis=1)


def matvec_of(weight, index):
    return lambda v: v - jnp.sum(weight * v[index], axis=(1, 2))


def linear_solvers(rtol=1e-10):
    @jax.jit
    def ours(weight, index, r_pi):
        x0 = jnp.zeros_like(r_pi)
        result = engine.bicgstab(matvec_of(weight, index), r_pi, x0, rtol, 10_000)
        return result.solution, result.iterations

    @jax.jit
    def lineax(weight, index, r_pi):
        structure = jax.ShapeDtypeStruct(r_pi.shape, r_pi.dtype)
        operator = lx.FunctionLinearOperator(matvec_of(weight, index), structure)
        solver = lx.BiCGStab(rtol=rtol, atol=0.0, max_steps=10_000)
        sol = lx.linear_solve(operator, r_pi, solver, throw=False)
        return sol.value, sol.stats["num_steps"]

    return {"engine.bicgstab": ours, "lineax BiCGStab": lineax}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mdp = random_model(args.states)
    print(f"S = {args.states}, A = 4, K = 5, float64; load {os.getloadavg()}")
    print("soft value iteration (gamma 0.9, temperature 1):")
    solvers = soft_vi_solvers(args.states, 1.0, 0.9)
    times, values = {}, {}
    for name, fn in solvers.items():
        times[name] = best_of(lambda fn=fn: fn(mdp), args.repeats)
        values[name], iterations = fn(mdp)
        print(f"  {name:32s} {times[name] * 1e3:9.1f} ms  {int(iterations)} iterations")
    base = "engine (soft_value_iteration)"
    for name in solvers:
        gap = float(jnp.max(jnp.abs(values[name] - values[base])))
        print(f"  {name:32s} time / engine {times[name] / times[base]:.2f}  max|dV| {gap:.1e}")
    print("policy evaluation (I - gamma P_pi) v = r_pi, rtol 1e-10:")
    problem = linear_problem(mdp, 0.9)
    r_pi = problem[2]
    times = {}
    for name, fn in linear_solvers().items():
        times[name] = best_of(lambda fn=fn: fn(*problem), args.repeats)
        x, iterations = fn(*problem)
        residual = matvec_of(*problem[:2])(x) - r_pi
        residual = float(jnp.linalg.norm(residual) / jnp.linalg.norm(r_pi))
        print(
            f"  {name:32s} {times[name] * 1e3:9.1f} ms  {int(iterations)} iterations  "
            f"relative residual {residual:.1e}"
        )
    base = "engine.bicgstab"
    for name in times:
        print(f"  {name:32s} time / engine {times[name] / times[base]:.2f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
