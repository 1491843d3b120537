"""Fix the thread counts of every library before numpy, scipy, torch or jax load (shared by the
benchmark scripts; import it first)."""

import os


def limit_threads(threads: int) -> None:
    """BLAS/OpenMP pools to `threads`; with one thread, XLA's Eigen pool off as well."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        )
