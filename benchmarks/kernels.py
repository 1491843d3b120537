"""Each backend-chosen kernel against its plain reference, on this machine's backend.

The library picks some kernels per backend (`jax.lax.platform_dependent`): the float64 `log`
(a vectorisable polynomial on CPU, `jnp.log` elsewhere) and the successor-list fusion barrier
`_once` (CPU only). This script times both versions side by side, so that the choice is a
measured one on every machine (the numbers go to benchmarks/RESULTS.md, not into comments):

    python benchmarks/kernels.py            # medians of 30 calls, one thread
    python benchmarks/kernels.py --threads 2
    python benchmarks/kernels.py --part passes --threads 0   # default threads (issue 29)

    log float64, 400k elements:             chosen (`_core.log`) vs `jnp.log`
    one exact backward step, successor lists (S = 1e5, A = 4, K = 5): as chosen vs with the plain
    call instead of `_once`, and vs with `jnp.log` for every logarithm
"""

from __future__ import annotations

import argparse
import sys

from _threads import limit_threads


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--part",
        choices=("choices", "passes"),
        default="choices",
        help="choices: each backend-chosen kernel against its reference; passes: the values-only "
        "backward pass and infer_summary on successor lists against scipy's CSR mat-vec",
    )
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads > 0:  # 0: every library's default
    limit_threads(ARGS.threads)

import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from unittest import mock  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import control_as_inference as cai  # noqa: E402
from control_as_inference import _core  # noqa: E402
from control_as_inference.engine import kernels as _kernels  # noqa: E402

LOAD = os.getloadavg()


def median_ms(fn, *args, repeats):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def compare(title, chosen, reference, args, repeats):
    a = median_ms(chosen, *args, repeats=repeats)
    b = median_ms(reference, *args, repeats=repeats)
    print(f"  {title:52s} chosen {a:8.3f} ms   reference {b:8.3f} ms   ratio {b / a:5.2f}")


def backward_step(mdp):
    """One exact backward step (the continuation's gather sum is where `_once` acts)."""
    spec = cai.tabular.passes.Spec.of(mdp, 1.0, 1.0, "exact")
    return jax.jit(lambda v: cai.tabular.passes.backup(mdp, spec, v, mdp.reward)[1])


def main():
    jax.config.update("jax_enable_x64", True)
    repeats = ARGS.repeats
    print(
        f"backend {jax.default_backend()}, {platform.machine()} {platform.processor() or ''}, "
        f"jax {jax.__version__}, threads {ARGS.threads or 'default'}"
    )
    if ARGS.part == "passes":
        return passes(repeats)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(1e-3, 10.0, 400_000))
    compare(
        "log float64, 400k elements",
        jax.jit(lambda x: jnp.sum(_core.log(x))),
        jax.jit(lambda x: jnp.sum(jnp.log(x))),
        (x,),
        repeats,
    )

    s, a, k = 100_000, 4, 5
    index = rng.integers(0, s, (s, a, k))
    prob = rng.dirichlet(np.ones(k), (s, a))
    mdp = cai.TabularMDP(cai.Successors(index, prob), rng.normal(size=(s, a)))
    v = jnp.asarray(rng.normal(size=s))
    chosen = backward_step(mdp)
    with mock.patch.object(_kernels, "_once", lambda fn, *args: fn(*args)):
        reference = backward_step(mdp)
        jax.block_until_ready(reference(v))  # traced with the plain call
    np.testing.assert_allclose(chosen(v), reference(v), rtol=1e-12, atol=1e-14)
    compare("exact backward step, lists S=1e5 A=4 K=5 (_once)", chosen, reference, (v,), repeats)

    # the same step with every logarithm jnp.log (traced while patched, then timed)
    with (
        mock.patch.object(cai.tabular.passes, "log", jnp.log),
        mock.patch.object(_kernels, "log", jnp.log),
        mock.patch.object(_core.numerics, "log", jnp.log),
    ):
        plain_log = backward_step(mdp)
        jax.block_until_ready(plain_log(v))
    np.testing.assert_allclose(chosen(v), plain_log(v), rtol=1e-12, atol=1e-14)
    compare("exact backward step, lists (log: jnp.log)", chosen, plain_log, (v,), repeats)
    return 0


def passes(repeats):
    """Successor lists S = 1e5, A = 4, K = 5, H = 50, float64 (issue 29): the values-only backward
    pass (`infer(keep=("v",))`) against H CSR mat-vecs and `infer_summary` against 2H, timed round
    robin in this one process (medians), so that the ratios hold under any load."""
    import scipy.sparse

    s, a, k, horizon = 100_000, 4, 5, 50
    rng = np.random.default_rng(0)
    index = rng.integers(0, s, (s, a, k))
    prob = rng.dirichlet(np.ones(k), (s, a))
    reward = rng.normal(size=(s, a))
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    rows = np.repeat(np.arange(s * a), k)
    csr = scipy.sparse.csr_matrix((prob.ravel(), (rows, index.ravel())), shape=(s * a, s))
    v = rng.normal(size=s)
    runs = {"scipy CSR mat-vec": lambda: csr @ v}
    for method in ("exact", "variational"):
        runs[f"values-only backward, {method}"] = lambda m=method: (
            cai.infer(mdp, horizon, method=m, keep=("v",)).v
        )
        runs[f"infer_summary, {method}"] = lambda m=method: (
            cai.infer_summary(mdp, horizon, method=m).occupancy
        )
    times = {name: [] for name in runs}
    for fn in runs.values():
        jax.block_until_ready(fn())  # compile
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    csr_ms = ms["scipy CSR mat-vec"]
    print(f"load average before/after: {LOAD} / {os.getloadavg()}")
    print(f"  {'pass':36s} {'ms':>9s} {'ms/step':>8s} {'/ H CSR':>8s} {'/ 2H CSR':>8s}")
    for name, t in ms.items():
        steps = 1 if name.startswith("scipy") else horizon
        ratio = t / steps / csr_ms
        print(f"  {name:36s} {t:9.2f} {t / steps:8.3f} {ratio:8.2f} {ratio / 2:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
