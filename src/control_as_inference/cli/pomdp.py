"""cai solve on a POMDP: the built-in `tiger`, or an .npz with `observations` (issue 36).

`cai solve` hands ENV here when it names a POMDP; the inference is `pomdp.infer_beliefs` (the
variational backup over beliefs, every history enumerated) and the output the value of the
initial belief, the policy there, and the belief and policy after each first observation.
"""

from __future__ import annotations

import os

from ._io import UsageError, fixed, prior_probabilities, table

POMDP_NPZ = {"transitions": "(S, A, S)", "observations": "(S, O) or (S, A, O)", "reward": "(S, A)"}
POMDP_OPTIONAL = {"initial": "(S,)", "action_prior": "(A,)"}
DEFAULT_HORIZON = 3


def names_pomdp(env: str | None) -> bool:
    """Whether ENV is a POMDP: `tiger`, or an .npz file holding an `observations` array."""
    if env == "tiger":
        return True
    if env is None or not env.endswith(".npz") or not os.path.isfile(env):
        return False
    import numpy as np

    try:
        with np.load(env) as data:
            return "observations" in getattr(data, "files", ())
    except Exception:  # unreadable: the tabular loader says why
        return False


def load_pomdp(args):
    from ..envs import read_npz
    from ..pomdp import POMDP, tiger

    if args.env == "tiger":
        model = tiger()
    else:
        arrays = read_npz(args.env, POMDP_NPZ, POMDP_OPTIONAL)
        model = POMDP(**arrays)
    if args.prior is not None:
        prior = prior_probabilities(args.prior)
        try:
            model = POMDP(model.transitions, model.observations, model.reward, model.initial, prior)
        except ValueError as error:
            raise UsageError(f"--prior: {error}") from None
    return model


def solve_pomdp(args) -> None:
    import numpy as np

    from ..pomdp import infer_beliefs

    if args.method == "exact":
        raise UsageError(
            "--method exact is not defined over beliefs (the exact posterior over an action also "
            "conditions on past optimality variables); a POMDP is solved with --method variational"
        )
    for option, value in (("--plot", args.plot), ("--json", args.json), ("--slip", args.slip)):
        if value is not None:
            raise UsageError(f"{option} is not available for a POMDP")
    model = load_pomdp(args)
    horizon = DEFAULT_HORIZON if args.horizon is None else args.horizon
    if horizon < 1:
        raise UsageError(f"--horizon must be >= 1 for a POMDP, got {horizon}")
    post = infer_beliefs(model, horizon, args.temperature, args.discount)
    name = "tiger" if args.env == "tiger" else os.path.basename(args.env)
    print(
        f"{name}: {model.num_states} states, {model.num_actions} actions, "
        f"{model.num_observations} observations, horizon {horizon}"
    )
    pi0 = np.exp(np.asarray(post.log_policy[0][0]))
    print(
        table(
            [
                ("method", "variational (over beliefs, every history enumerated)"),
                ("temperature", f"{float(post.temperature):g}"),
                ("discount", f"{float(post.discount):g}"),
                ("soft value of the initial belief", fixed(post.value)),
                ("evidence lower bound", fixed(post.log_evidence_bound)),
                ("initial belief", _vector(model.initial)),
                ("policy at the initial belief", _vector(pi0)),
            ]
        )
    )
    if horizon > 1:
        best = int(np.argmax(pi0))
        print(f"\nafter the most probable first action ({best}), by observation o:")
        for o in range(model.num_observations):
            node = post.node([best], [o])
            p_o = float(post.observation_probability[0][0, best, o])
            belief = _vector(post.beliefs[1][node])
            policy = _vector(np.exp(np.asarray(post.log_policy[1][node])))
            print(f"  o = {o}  p(o) {p_o:.3f}  belief {belief}  policy {policy}")


def _vector(x) -> str:
    import numpy as np

    return " ".join(f"{v:.3f}" for v in np.asarray(x))
