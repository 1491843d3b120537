"""One of two processes joined by jax.distributed (CPU collectives over gloo), each with two
virtual CPU devices: solve one model sharded over all four devices and compare with the
single-process answer. Prints one JSON line.

    python tests/distributed/multiprocess_worker.py PROCESS_ID PORT
"""

import json
import os
import sys

process_id, port = int(sys.argv[1]), int(sys.argv[2])
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id
)

from jax.experimental import multihost_utils  # noqa: E402

import control_as_inference as cai  # noqa: E402

rng = np.random.default_rng(0)  # the same model in both processes
S, A, K, H = 64, 3, 4, 5
mdp = cai.TabularMDP(
    cai.Successors(rng.integers(0, S, (S, A, K)), rng.dirichlet(np.ones(K), (S, A))),
    rng.normal(size=(S, A)),
)
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("states",))
sharded = cai.shard_mdp(mdp, mesh)
result = {
    "process": process_id,
    "global devices": jax.device_count(),
    "local devices": jax.local_device_count(),
}
for method in ("exact", "variational"):
    post = cai.infer(sharded, H, 0.7, method)
    gathered = {
        f: np.asarray(multihost_utils.process_allgather(getattr(post, f), tiled=True))
        for f in ("q", "state_action_marginals")
    }
    with jax.default_device(jax.local_devices()[0]):
        ref = cai.infer(mdp, H, 0.7, method)  # one device of this process
    result[f"{method} error"] = max(
        float(np.max(np.abs(gathered[f] - np.asarray(getattr(ref, f))))) for f in gathered
    )
    result[f"{method} evidence error"] = abs(float(post.log_evidence) - float(ref.log_evidence))
print(json.dumps(result), flush=True)
jax.distributed.shutdown()
