"""Run in a subprocess with several virtual CPU devices (the device count is fixed when JAX
starts, so it cannot be changed inside the test process). Prints one JSON line of findings.

    python tests/distributed/sharded_check.py DEVICES
"""

import json
import os
import re
import sys

devices = int(sys.argv[1])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import control_as_inference as cai  # noqa: E402

mesh = jax.make_mesh((devices,), ("states",))
rng = np.random.default_rng(0)
S, A, K, H = 8 * devices, 3, 4, 6
findings = {"devices": jax.device_count()}
models = {
    "dense": cai.TabularMDP(rng.dirichlet(np.ones(S) * 0.3, (S, A)), rng.normal(size=(S, A))),
    "successors": cai.TabularMDP(
        cai.Successors(rng.integers(0, S, (S, A, K)), rng.dirichlet(np.ones(K), (S, A))),
        rng.normal(size=(H, S, A)),  # time-varying reward too
    ),
}
for name, mdp in models.items():
    sharded = cai.shard_mdp(mdp, mesh)
    leaves = [x for x in jax.tree_util.tree_leaves(sharded) if isinstance(x, jax.Array)]
    findings[f"{name} inputs sharded"] = all(
        len(x.sharding.device_set) == devices and not x.sharding.is_fully_replicated for x in leaves
    )
    for method in ("exact", "variational"):
        ref = cai.infer(mdp, H, 0.7, method)
        out = cai.infer(sharded, H, 0.7, method)
        errors = {
            field: float(
                np.max(np.abs(np.asarray(getattr(ref, field)) - np.asarray(getattr(out, field))))
            )
            for field in (
                "q",
                "v",
                "log_policy",
                "state_marginals",
                "state_action_marginals",
                "log_evidence",
            )
        }
        findings[f"{name} {method} max error"] = max(errors.values())
        findings[f"{name} {method} outputs sharded"] = all(
            not getattr(out, f).sharding.is_fully_replicated
            and len(getattr(out, f).sharding.device_set) == devices
            for f in ("q", "v", "state_action_marginals")
        )
    summary = cai.infer_summary(sharded, H, 0.7)
    findings[f"{name} summary error"] = float(
        np.max(
            np.abs(
                np.asarray(summary.occupancy) - np.asarray(cai.infer_summary(mdp, H, 0.7).occupancy)
            )
        )
    )
    # the compiled program moves vectors, never the model: no collective has the model's size
    text = jax.jit(lambda m: cai.infer(m, H, 0.7, "exact")).lower(sharded).compile().as_text()
    model_elements = S * A * (S if name == "dense" else K)
    sizes = []
    for line in text.splitlines():
        match = re.search(
            r"= \w+\[([\d,]*)\][^=]* (all-gather|all-reduce|all-to-all|collective-permute)\(", line
        )
        if match:
            dims = [int(d) for d in match.group(1).split(",") if d]
            sizes.append(int(np.prod(dims)) if dims else 1)
    findings[f"{name} collectives"] = len(sizes)
    findings[f"{name} largest collective"] = max(sizes, default=0)
    findings[f"{name} model elements"] = model_elements
try:
    cai.shard_mdp(
        cai.TabularMDP(np.full((S + 1, 1, S + 1), 1.0 / (S + 1)), np.zeros((S + 1, 1))), mesh
    )
except ValueError as error:
    findings["indivisible error"] = str(error)
print(json.dumps(findings))
