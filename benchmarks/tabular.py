"""Tabular inference against its memory-bandwidth limit and against the peers, in one process.

A soft backward pass reads the transition model once per step and does little arithmetic, so the
limit is the time of one mat-vec with the model: a dense (S*A, S) @ v (the best of numpy and a
jitted JAX product) or one CSR mat-vec for successor lists (scipy). Every implementation runs on
the same model in this process; times are medians over repeats with the first call excluded;
our passes are lowered and compiled first, and that time is reported separately ("jit s").

    python benchmarks/tabular.py --hugepages  # the full cases of benchmarks/RESULTS.md (~5 min)
    python benchmarks/tabular.py --quick      # small sizes, well under a minute
    python benchmarks/tabular.py --cases dense,sparse --threads 2

Peers (skipped with a message when missing): imitation's mce_partition_fh /
mce_occupancy_measures and pymdptoolbox's FiniteHorizon. Install them with
    pip install ".[peers]" && pip install torch==2.13.0 && pip install --no-deps imitation==1.0.1
(imitation's own requirements pin an old gymnasium, hence --no-deps).
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument(
        "--cases",
        default="dense,dense32,batch,sparse,scale",
        help="comma-separated subset of dense,dense32,batch,sparse,scale",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement")
    parser.add_argument("--horizon", type=int, default=None, help="override the horizon")
    parser.add_argument(
        "--hugepages",
        action="store_true",
        help="restart with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (Linux, glibc >= 2.35): large "
        "buffers get transparent huge pages where the kernel only grants them on request",
    )
    parser.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


HUGEPAGES = "glibc.malloc.hugetlb=1"
ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None and ARGS.hugepages and HUGEPAGES not in os.environ.get("GLIBC_TUNABLES", ""):
    # glibc reads its tunables at start-up only; every array of every library here is affected
    tunables = ":".join(filter(None, [os.environ.get("GLIBC_TUNABLES"), HUGEPAGES]))
    os.execve(
        sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": tunables}
    )
if ARGS is not None:  # thread counts must be fixed before numpy, scipy, torch or jax load
    from _threads import limit_threads

    limit_threads(ARGS.threads)

import contextlib  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402

import control_as_inference as cai  # noqa: E402
from control_as_inference.tabular.inference import Spec, backward, forward  # noqa: E402


def block(x):
    return jax.tree_util.tree_map(
        lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x
    )


def compiled(fn, *args, **kwargs):
    """(jax.jit(fn) compiled for these arguments, seconds to lower and compile it)."""
    start = time.perf_counter()
    executable = jax.jit(fn).lower(*args, **kwargs).compile()
    return executable, time.perf_counter() - start


def measure(fn, repeats):
    """(median seconds, first-call seconds) of fn()."""
    start = time.perf_counter()
    block(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), first


ROWS: list[dict] = []


def report(case, name, seconds, steps, model_bytes, limit=None, peers=None, compile_s=None):
    """One row: time per step, effective bandwidth, ratio to the limit and to peers."""
    per_step = seconds / steps
    row = {
        "case": case,
        "name": name,
        "ms/step": 1e3 * per_step,
        "GB/s": model_bytes / per_step / 1e9,
        "x limit": per_step / limit if limit else None,
        "compile s": compile_s,
        "speedups": {k: v / per_step for k, v in (peers or {}).items()},
    }
    ROWS.append(row)
    speed = "  ".join(f"{v:5.1f}x vs {k}" for k, v in row["speedups"].items())
    ratio = f"{row['x limit']:5.2f}" if limit else "    -"
    comp = f"{compile_s:5.2f}" if compile_s is not None else "    -"
    print(
        f"  {name:38s} {row['ms/step']:9.3f} {row['GB/s']:7.1f} {ratio}  {comp}  {speed}",
        flush=True,
    )


def header(title):
    print(f"\n{title}")
    print(f"  {'':38s} {'ms/step':>9s} {'GB/s':>7s} {'x lim':>5s}  {'jit s':>5s}  speed-up")


# ----------------------------------------------------------------------------- models


def dense_model(rng, s, a, dtype):
    t = rng.random((s, a, s))
    t /= t.sum(-1, keepdims=True)
    reward = rng.normal(size=s)  # imitation takes state rewards
    return t.astype(dtype), reward.astype(dtype)


def successor_model(rng, s, a, k, dtype):
    index = rng.integers(0, s, size=(s, a, k)).astype(np.int32)
    prob = rng.random((s, a, k))
    prob /= prob.sum(-1, keepdims=True)
    reward = rng.normal(size=s)
    return index, prob.astype(dtype), reward.astype(dtype)


def csr_of(index, prob):
    s, a, k = index.shape
    rows = np.repeat(np.arange(s * a), k)
    return scipy.sparse.csr_matrix((prob.ravel(), (rows, index.ravel())), shape=(s * a, s))


# ----------------------------------------------------------------------------- peers


def imitation_peer():
    try:
        from imitation.algorithms import mce_irl
    except Exception as error:  # ImportError, or its dependencies failing to import
        print(f"  (imitation not available: {type(error).__name__}: {error}; skipped)")
        return None
    return mce_irl


def mdptoolbox_peer():
    try:
        import mdptoolbox.mdp
    except ImportError as error:
        print(f"  (pymdptoolbox not available: {error}; skipped)")
        return None
    return mdptoolbox.mdp


def time_finite_horizon(mdp_tool, p, r_sa, horizon, repeats):
    """Median seconds of FiniteHorizon.run() (its constructor's input checks excluded; for
    sparse models they are skipped: on numpy 2 they broadcast a (S, S) dense array)."""
    import mdptoolbox.util

    check = mdptoolbox.util.check
    if scipy.sparse.issparse(p[0]):
        mdptoolbox.util.check = lambda *args: None
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            solver = mdp_tool.FiniteHorizon(p, r_sa, 1.0, horizon)
        finally:
            mdptoolbox.util.check = check
        seconds, _ = measure(solver.run, max(1, repeats // 2))
    return seconds


def imitation_env(transitions, reward, horizon):
    s = transitions.shape[0]
    return types.SimpleNamespace(
        horizon=horizon,
        state_dim=s,
        action_dim=transitions.shape[1],
        transition_matrix=transitions,
        reward_matrix=reward,
        initial_state_dist=np.full(s, 1.0 / s),
    )


# ----------------------------------------------------------------------------- ours


def our_passes(mdp, horizon, repeats):
    """Time our backward (exact, variational) and forward (exact) passes.

    Returns [(name, median seconds, compile seconds)]; each pass is lowered and compiled afresh
    for this shape (the compile time), then its executable is timed.
    """
    t = jnp.asarray(1.0, mdp.dtype)
    g = jnp.asarray(1.0, mdp.dtype)
    v_h = jnp.zeros(mdp.num_states, mdp.dtype)
    results = []
    for method in ("exact", "variational"):

        def back(mdp, t, g, v_h, method=method):
            return backward(mdp, Spec.of(mdp, t, g, method), horizon, v_h)

        back, compile_s = compiled(back, mdp, t, g, v_h)
        run = functools.partial(back, mdp, t, g, v_h)
        seconds, _ = measure(run, repeats)
        results.append((f"ours backward {method}", seconds, compile_s))
        if method == "exact":
            _, v, log_pi, log_cont = run()
    log_initial = jnp.log(mdp.initial)

    def fwd(mdp, t, g, v, log_pi, log_cont, log_initial):
        return forward(mdp, Spec.of(mdp, t, g, "exact"), v, log_pi, log_cont, log_initial)

    args = (mdp, t, g, v, log_pi, log_cont, log_initial)
    fwd, compile_s = compiled(fwd, *args)
    seconds, _ = measure(lambda: fwd(*args), repeats)
    results.append(("ours forward exact", seconds, compile_s))
    return results


def check_against_imitation(mce_irl, transitions, reward, horizon, mdp):
    """Same model, same answer: imitation's policy equals ours (its V lacks the log-prior)."""
    _, _, pi = mce_irl.mce_partition_fh(imitation_env(transitions, reward, horizon))
    ours = cai.infer(mdp, horizon, 1.0, "variational")
    np.testing.assert_allclose(np.asarray(ours.policy), pi, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- cases


def case_dense(rng, s, a, horizon, repeats, dtype=np.float64, label="dense"):
    transitions, reward = dense_model(rng, s, a, dtype)
    model_bytes = transitions.nbytes
    header(
        f"{label}: S={s}, A={a}, H={horizon}, {np.dtype(dtype).name}, "
        f"model {model_bytes / 1e9:.3f} GB"
    )
    flat = transitions.reshape(s * a, s)
    v = rng.normal(size=s).astype(dtype)
    t_np, _ = measure(lambda: flat @ v, repeats * 4)
    flat_j, v_j = jnp.asarray(flat), jnp.asarray(v)
    matvec = jax.jit(lambda m, x: m @ x)
    t_jax, _ = measure(lambda: matvec(flat_j, v_j), repeats * 4)
    limit = min(t_np, t_jax)
    report(label, "limit: numpy (S*A,S) @ v", t_np, 1, model_bytes, limit)
    report(label, "limit: jax.jit (S*A,S) @ v", t_jax, 1, model_bytes, limit)

    peers = {}
    mce_irl = imitation_peer()
    transitions64, reward64 = transitions.astype(np.float64), reward.astype(np.float64)
    if mce_irl is not None:
        env = imitation_env(transitions64, reward64, horizon)
        t_im, _ = measure(lambda: mce_irl.mce_partition_fh(env), max(1, repeats // 2))
        _, _, pi = mce_irl.mce_partition_fh(env)
        t_occ, _ = measure(lambda: mce_irl.mce_occupancy_measures(env, pi=pi), 1)
        peers["imitation"] = t_im / horizon
        report(
            label,
            "imitation mce_partition_fh (f64)",
            t_im,
            horizon,
            model_bytes * 8 // np.dtype(dtype).itemsize,
            limit,
        )
        report(
            label,
            "imitation mce_occupancy_measures (f64)",
            t_occ,
            horizon,
            transitions64.nbytes,
            limit,
        )
        peers_fwd = {"imitation": t_occ / horizon}
    else:
        peers_fwd = {}
    mdp_tool = mdptoolbox_peer()
    if mdp_tool is not None and dtype == np.float64:
        p = np.ascontiguousarray(np.transpose(transitions64, (1, 0, 2)))
        r_sa = np.repeat(reward64[:, None], a, axis=1)

        t_fh = time_finite_horizon(mdp_tool, p, r_sa, horizon, repeats)
        peers["pymdptoolbox"] = t_fh / horizon
        report(label, "pymdptoolbox FiniteHorizon (hard)", t_fh, horizon, model_bytes, limit)
        del p

    mdp = cai.TabularMDP(transitions, reward)
    if mce_irl is not None and s <= 2000:
        check_against_imitation(mce_irl, transitions64, reward64, horizon, mdp)
    for name, t, compile_s in our_passes(mdp, horizon, repeats):
        against = peers_fwd if "forward" in name else peers
        report(label, name, t, horizon, model_bytes, limit, against, compile_s)
    return transitions, reward


def case_batch(rng, s, a, horizon, repeats, batch=16):
    transitions, reward = dense_model(rng, s, a, np.float64)
    header(f"batch of {batch} rewards: S={s}, A={a}, H={horizon}, float64")
    rewards = rng.normal(size=(batch, s))
    mce_irl = imitation_peer()
    peers = {}
    model_bytes = transitions.nbytes
    if mce_irl is not None:
        env = imitation_env(transitions, reward, horizon)

        def run_imitation():
            return [mce_irl.mce_partition_fh(env, reward=r) for r in rewards]

        t_im, _ = measure(run_imitation, 1)
        peers["16 imitation calls"] = t_im / horizon
        report("batch", f"imitation x {batch} (f64)", t_im, horizon, model_bytes * batch)
    structure = cai.TabularMDP(transitions, reward)
    t_one = jnp.asarray(1.0)
    v_h = jnp.zeros(s)

    def solve(transitions, r, exact):  # the model an argument, not a constant folded into XLA
        mdp = cai.TabularMDP(transitions, r)
        spec = Spec.of(mdp, t_one, t_one, "exact" if exact else "variational")
        return backward(mdp, spec, horizon, v_h)[1]

    r_j = jnp.asarray(rewards)
    t_j = structure.transitions
    for exact in (False, True):
        batch_solve = jax.vmap(functools.partial(solve, exact=exact), in_axes=(None, 0))
        batched, compile_s = compiled(batch_solve, t_j, r_j)
        t, _ = measure(lambda batched=batched: batched(t_j, r_j), repeats)
        name = f"ours vmap x {batch} backward {'exact' if exact else 'variational'}"
        report("batch", name, t, horizon, model_bytes * batch, None, peers, compile_s)


def case_sparse(rng, s, a, k, horizon, repeats, dtype=np.float64):
    index, prob, reward = successor_model(rng, s, a, k, dtype)
    model_bytes = index.nbytes + prob.nbytes
    header(
        f"successor lists: S={s}, A={a}, K={k}, H={horizon}, {np.dtype(dtype).name}, "
        f"lists {model_bytes / 1e6:.0f} MB"
    )
    csr = csr_of(index, prob)
    v = rng.normal(size=s).astype(dtype)
    t_csr, _ = measure(lambda: csr @ v, repeats * 4)
    csr_bytes = csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
    report("sparse", "limit: scipy CSR mat-vec", t_csr, 1, csr_bytes, t_csr)
    peers, peers_fwd = {}, {}
    mdp_tool = mdptoolbox_peer()
    if mdp_tool is not None:
        p = [csr_of(index[:, j : j + 1], prob[:, j : j + 1]) for j in range(a)]
        r_sa = np.repeat(reward[:, None].astype(np.float64), a, axis=1)

        t_fh = time_finite_horizon(mdp_tool, p, r_sa, horizon, repeats)
        peers["pymdptoolbox"] = t_fh / horizon
        report("sparse", "pymdptoolbox FiniteHorizon (hard, CSR)", t_fh, horizon, csr_bytes, t_csr)
    mce_irl = imitation_peer()
    if mce_irl is not None:
        try:
            import sparse as pydata_sparse
        except ImportError:
            pydata_sparse = None
            print("  (imitation's sparse path needs the `sparse` package; skipped)")
        if pydata_sparse is not None:
            coo = pydata_sparse.COO.from_scipy_sparse(csr).reshape((s, a, s))
            env = imitation_env(coo, reward.astype(np.float64), horizon)
            t_im, _ = measure(lambda: mce_irl.mce_partition_fh(env), 1)
            peers["imitation (sparse)"] = t_im / horizon
            report("sparse", "imitation mce_partition_fh (COO)", t_im, horizon, csr_bytes, t_csr)
            _, _, pi = mce_irl.mce_partition_fh(env)
            t_occ, _ = measure(lambda: mce_irl.mce_occupancy_measures(env, pi=pi), 1)
            peers_fwd["imitation (sparse)"] = t_occ / horizon
            report("sparse", "imitation mce_occupancy (COO)", t_occ, horizon, csr_bytes, t_csr)
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    for name, t, compile_s in our_passes(mdp, horizon, repeats):
        against = peers_fwd if "forward" in name else peers
        report("sparse", name, t, horizon, model_bytes, t_csr, against, compile_s)


def case_scale(s, a, k, horizon):
    """Each mode in a fresh process, so that its peak memory is its own."""
    import subprocess

    lists = s * a * k * (4 + 4)
    header(f"scale: S={s}, A={a}, K={k}, H={horizon}, float32, lists {lists / 1e6:.0f} MB")
    for mode in ("summary", "full"):
        out = subprocess.run(
            [sys.executable, __file__, "--scale-child", f"{s},{a},{k},{horizon},{mode}"],
            capture_output=True,
            text=True,
            env=os.environ,
        )
        print(out.stdout.rstrip() or out.stderr[-2000:])


def resident_peak(reset: bool = False) -> int:
    """This process's peak resident memory in bytes (Linux VmHWM; ru_maxrss would carry the
    parent's peak across exec). With reset, the peak restarts from the current size."""
    if reset:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scale_child(spec: str) -> None:
    *sizes, mode = spec.split(",")
    s, a, k, horizon = (int(x) for x in sizes)
    rng = np.random.default_rng(0)
    index, prob, reward = successor_model(rng, s, a, k, np.float32)
    lists = index.nbytes + prob.nbytes
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    del index, prob
    if mode == "summary":
        name = "infer_summary (checkpointed)"
        run = lambda: cai.infer_summary(mdp, horizon, 1.0, "exact")  # noqa: E731
    else:
        name = "infer (all messages)"
        run = lambda: cai.infer(mdp, horizon, 1.0, "exact")  # noqa: E731
    base = resident_peak(reset=True)
    start = time.perf_counter()
    result = block(run())
    first = time.perf_counter() - start
    output_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(result) if hasattr(x, "nbytes"))
    del result
    start = time.perf_counter()
    block(run())
    seconds = time.perf_counter() - start
    peak = resident_peak()
    print(
        f"  {name}: {seconds:.1f} s ({1e3 * seconds / horizon:.0f} ms/step; first call "
        f"{first:.1f} s); memory: lists {lists / 1e9:.2f} GB, before {base / 1e9:.2f} GB, "
        f"peak {peak / 1e9:.2f} GB (+{(peak - base) / 1e9:.2f} GB = "
        f"{(peak - base) / lists:.1f}x the lists); result {output_bytes / 1e9:.3f} GB"
    )


def main():
    args = ARGS
    jax.config.update("jax_enable_x64", True)  # float64 cases; float32 models stay float32
    if args.scale_child:
        return scale_child(args.scale_child)
    rng = np.random.default_rng(0)
    huge = HUGEPAGES in os.environ.get("GLIBC_TUNABLES", "")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"threads per library: {args.threads}; jax {jax.__version__}, numpy {np.__version__}; "
        f"malloc: {'huge pages' if huge else 'default'}"
    )
    quick = args.quick
    h = args.horizon or (20 if quick else 100)
    cases = args.cases.split(",")
    if "dense" in cases:
        case_dense(rng, 1000 if quick else 4000, 8, h, args.repeats)
    if "dense32" in cases:
        case_dense(rng, 1000 if quick else 4000, 8, h, args.repeats, np.float32, "dense32")
    if "batch" in cases:
        case_batch(rng, 500 if quick else 2000, 8, h, args.repeats)
    if "sparse" in cases:
        case_sparse(rng, 10_000 if quick else 100_000, 4, 5, h, args.repeats)
    if "scale" in cases:
        case_scale(20_000 if quick else 1_000_000, 4, 8, h)


if __name__ == "__main__":
    sys.exit(main())
