"""First-exit KL control: our solver against scipy.sparse.linalg and soft value iteration.

Random successor-list models: S states, K = 8 successors drawn uniformly with Dirichlet(1)
probabilities, 1% of the states terminal (final cost 0), interior costs uniform in [0.01, 0.1]
(so rho(G P_NN) is about 0.94 and a plain fixed point needs hundreds of sweeps). Every route
solves (I - G P_NN) z_N = G P_NT z_T; each answer is checked in float64 by its unscaled relative
residual ||(I - G P_NN) z_N - G P_NT z_T||_2 / ||G P_NT z_T||_2 computed with scipy's CSR matrix.

    ours      kl.first_exit (log-space warm-up sweeps, then certified rounds of BiCGSTAB on the
              scaled system, each with its error estimate), jitted
    spsolve   scipy.sparse.linalg.spsolve (SuperLU) where it fits (S = 1e4 only: LU of a random
              graph fills in)
    bicgstab, gmres   scipy.sparse.linalg with rtol 1e-10, mat-vecs counted by a LinearOperator
    soft VI   cai.soft_value_iteration of kl.to_tabular(lmdp) (temperature 1, discount 1), our
              tabular engine, to its tolerance 1e-13 (the residual it reaches is reported)

Mat-vec: our jitted K-gather product against a scipy CSR mat-vec with the same S x S matrix.
Times are the median of --repeats runs after a first (compiling) call. Each scipy route is also
timed with the assembly of its matrix from the successor lists (`system`: CSR of G P, the
interior block, b), and the last lines give ours / the fastest scipy route with assembly, with
the machine's load average (os.getloadavg) before and after.

    python benchmarks/kl.py                 # S = 1e4, 1e5, 1e6 (a few minutes)
    python benchmarks/kl.py --sizes 10000   # quick
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

from _threads import limit_threads


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated S")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-svi", action="store_true", help="skip soft value iteration")
    parser.add_argument("--spsolve-max", type=int, default=10_000, help="largest S for spsolve")
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:
    limit_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

jax.config.update("jax_enable_x64", True)

import control_as_inference as cai  # noqa: E402
from control_as_inference import kl  # noqa: E402
from control_as_inference.kl import _kernels  # noqa: E402

K = 8


def model(num_states: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, num_states, size=(num_states, K))
    prob = rng.dirichlet(np.ones(K), size=num_states)
    terminal = np.zeros(num_states, bool)
    terminal[rng.choice(num_states, size=max(1, num_states // 100), replace=False)] = True
    cost = np.where(terminal, 0.0, rng.uniform(0.01, 0.1, size=num_states))
    return index, prob, cost, terminal


def system(index, prob, cost, terminal):
    """(A = I - G P_NN as CSR, b = G P_NT z_T, the S x S CSR matrix G P)."""
    s = len(cost)
    rows = np.repeat(np.arange(s), K)
    gp = sp.csr_matrix(
        ((prob * np.exp(-cost)[:, None]).ravel(), (rows, index.ravel())), shape=(s, s)
    )
    n = ~terminal
    a = (sp.eye(int(n.sum())) - gp[n][:, n]).tocsr()
    b = gp[n][:, terminal] @ np.exp(-cost[terminal])
    return a, b, gp


def residual(a, b, z_n) -> float:
    return float(np.linalg.norm(a @ z_n - b) / np.linalg.norm(b))


def timed(fn, repeats):
    """(result, median seconds of `repeats` calls after a first one; of the first if 0)."""
    start = time.perf_counter()
    out = fn()  # first call: compiling / warming caches
    if repeats == 0:
        return out, time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


class Counted(spla.LinearOperator):
    def __init__(self, a):
        super().__init__(a.dtype, a.shape)
        self.a, self.count = a, 0

    def _matvec(self, x):
        self.count += 1
        return self.a @ x


def scipy_iterative(solver, a, b, repeats):
    op = Counted(a)

    def run():
        op.count = 0
        x, info = solver(op, b, rtol=1e-10, atol=0.0, maxiter=10_000)
        return x, info, op.count

    (x, info, count), seconds = timed(run, repeats)
    return x, seconds, count, info


def main(args) -> None:
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, threads {args.threads}")
    print(f"load average {os.getloadavg()[0]:.1f} (1 min)")
    for s in (int(x) for x in args.sizes.split(",")):
        bench(s, args)


def bench(s: int, args) -> None:
    """Every route on one random model of S = s states; prints its table."""
    index, prob, cost, terminal = model(s)
    a, b, gp = system(index, prob, cost, terminal)
    n = ~terminal
    lmdp = kl.LMDP(cai.Successors(index, prob), cost, terminal)
    print(f"\nS = {s:,} (K = {K}, {int(terminal.sum()):,} terminal)")
    rows = []

    def ours():
        sol = kl.first_exit(lmdp)
        jax.block_until_ready(sol.log_z)
        return sol

    sol, seconds = timed(ours, args.repeats)
    fe = importlib.import_module("control_as_inference.kl.first_exit")

    tol, warm = jax.numpy.asarray(1e-10), jax.numpy.asarray(1.0)
    _, core = timed(
        lambda: jax.block_until_ready(
            fe._first_exit(lmdp, tol, warm, 8, 10_000, "iterative").log_z
        ),
        args.repeats,
    )
    _, assemble = timed(lambda: system(index, prob, cost, terminal), args.repeats)
    z = np.exp(np.asarray(sol.log_z))[n]
    linear = int(sol.matvecs)
    rows.append(
        (
            "ours (first_exit)",
            seconds,
            f"{linear} + {int(sol.sweeps)} sweeps",
            residual(a, b, z),
        )
    )
    print(f"  certified: converged {bool(sol.converged)}, error estimate {float(sol.error):.1e}")
    rows.append(("ours (jitted solve only)", core, "same", residual(a, b, z)))
    for name, solver in (("scipy bicgstab", spla.bicgstab), ("scipy gmres", spla.gmres)):
        x, t, count, info = scipy_iterative(solver, a, b, args.repeats)
        rows.append(
            (
                f"{name}{'' if info == 0 else f' (info {info})'}",
                t,
                str(count),
                residual(a, b, x),
            )
        )
    if s <= args.spsolve_max:
        x, t = timed(lambda: spla.spsolve(a.tocsc(), b), 0)  # one run: minutes
        rows.append(("scipy spsolve", t, "-", residual(a, b, x)))
    if not args.no_svi:
        tab = kl.to_tabular(lmdp)

        def svi():
            out = cai.soft_value_iteration(tab, 1.0, 1.0, tol=1e-13, max_iterations=100_000)
            jax.block_until_ready(out.v)
            return out

        out, t = timed(svi, 1)
        z_svi = np.exp(np.asarray(out.v))[n]
        rows.append(
            (
                "ours soft VI (embedded)",
                t,
                f"{int(out.iterations)} backups",
                residual(a, b, z_svi),
            )
        )
    # time per mat-vec: ours (jitted K gathers) against scipy CSR on the same S x S matrix
    op = _kernels.Operator(
        jax.numpy.asarray((prob * np.exp(-cost)[:, None]).T.copy()),
        jax.numpy.asarray(index.T.copy()),
    )
    apply = jax.jit(_kernels.apply)
    y = jax.numpy.asarray(np.random.default_rng(1).random(s))
    _, t_ours = timed(lambda: jax.block_until_ready(apply(op, y)), 20)
    yn = np.asarray(y)
    _, t_csr = timed(lambda: gp @ yn, 20)
    sweep = jax.jit(_kernels.log_expect)
    _, t_sweep = timed(lambda: jax.block_until_ready(sweep(lmdp.passive, y)), 10)
    law = jax.jit(_kernels.log_law)
    _, t_law = timed(lambda: jax.block_until_ready(law(lmdp.passive, sol.log_z)), args.repeats)
    print(f"  {'route':<26}{'seconds':>10}  {'mat-vecs':<22}{'residual':>10}")
    for name, t, count, res in rows:
        print(f"  {name:<26}{t:>10.4f}  {count:<22}{res:>10.1e}")
    needed = linear * t_csr + int(sol.sweeps) * t_sweep
    print(
        f"  mat-vec: ours {t_ours * 1e3:.3f} ms, scipy CSR {t_csr * 1e3:.3f} ms "
        f"(ratio {t_ours / t_csr:.2f}); log-space sweep {t_sweep * 1e3:.3f} ms"
    )
    print(
        f"  ours / (its mat-vecs at the CSR time + its sweeps): {rows[0][1] / needed:.2f} "
        f"(jitted solve only: {core / needed:.2f}); the optimal law alone: {t_law:.4f} s"
    )
    scipy_rows = [(name, t) for name, t, _, _ in rows if name.startswith("scipy")]
    name, best = min(scipy_rows, key=lambda row: row[1])
    print(
        f"  scipy assembly {assemble:.4f} s; fastest scipy route {name} {best:.4f} s, with "
        f"assembly {best + assemble:.4f} s; ours / that: {rows[0][1] / (best + assemble):.2f} "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main(ARGS)
