"""The bridge to active inference: a pymdp generative model (A, B, C, D) read as a `POMDP`.

pymdp (inferactively-pymdp) factorises the hidden state into factors f and the observation into
modalities m:

    A[m]: (O_m, S_f1, S_f2, ...) p(o_m | the factors in A_dependencies[m])
    B[f]: (S_f, S_f, U_f)        p(s'_f | s_f, u_f)   (each factor moved by its own control)
    C[m]: (O_m,)                 preferences over o_m (pymdp's utility is E_q(o)[C], as given)
    D[f]: (S_f,)                 the initial belief over factor f

`from_pymdp` builds the joint model: states are tuples of factor values (row-major), actions
tuples of controls, observations tuples of outcomes, O(o | s') = prod_m A[m](o_m | s') and the
reward the expected utility of what the action will make the agent see:

    r(s, u) = sum_{s'} T(s' | s, u) sum_m sum_{o_m} A[m](o_m | s') C[m](o_m)

Where the two coincide and where they differ. pymdp scores a policy pi (a sequence of actions,
open loop) by its negative expected free energy, the sum over its steps of the expected utility
(pragmatic) and the expected information gain about the states (epistemic), and infers
q(pi) = softmax(gamma (-G(pi)) + log E(pi)). With one step (policy_len 1) and the epistemic term
off, -G(u) = sum_s b(s) r(s, u): exactly the soft Q of `infer_beliefs` at horizon 1, so q(pi) is
our pi(u | b) at temperature 1 / gamma with the action prior E. With the epistemic term on they
differ: active inference values information for its own sake, max-ent control only for the
reward it will lead to. Over longer horizons max-ent control plans in closed loop (the action
after a cue depends on the cue), pymdp's policies are open-loop sequences, so a cue has value to
us exactly when there are steps left to use it (docs/pomdp.md shows both on the T-maze).
"""

from __future__ import annotations

import numpy as np

from .model import POMDP


def from_pymdp(A, B, C, D=None, A_dependencies=None) -> POMDP:
    """The joint `POMDP` of a pymdp generative model (module docstring).

    Args:
        A: list over modalities of arrays (O_m, *S of its factors).
        B: list over factors of arrays (S_f, S_f, U_f) (each factor depends on itself only).
        C: list over modalities of (O_m,) preferences (None or missing: zeros).
        D: list over factors of (S_f,) initial beliefs; uniform if None.
        A_dependencies: the factors each modality reads; all factors, in order, if None.

    Returns:
        POMDP with S = prod S_f states, U = prod U_f actions, O = prod O_m observations,
        reward r(s, u) above and a uniform action prior (pymdp's default E).

    Raises:
        ValueError: naming the array, for shapes that do not fit together.
    """
    B = [np.asarray(b, np.float64) for b in B]
    A = [np.asarray(a, np.float64) for a in A]
    for f, b in enumerate(B):
        if b.ndim != 3 or b.shape[0] != b.shape[1]:
            raise ValueError(
                f"B[{f}] must have shape (S_f, S_f, U_f) (a factor moved by its own control "
                f"only, without pymdp's leading batch axis: pass B[f][0]), got {b.shape}."
            )
    sizes = [b.shape[0] for b in B]
    if A_dependencies is None:
        A_dependencies = [list(range(len(B)))] * len(A)
    if len(A_dependencies) != len(A):
        raise ValueError("A_dependencies must name the factors of every modality of A.")
    for m, deps in enumerate(A_dependencies):
        if not deps or any(not 0 <= int(f) < len(B) for f in deps) or len(set(deps)) != len(deps):
            raise ValueError(
                f"A_dependencies[{m}] must name distinct factors in [0, {len(B)}), got {deps}."
            )
    for m, (a, deps) in enumerate(zip(A, A_dependencies, strict=True)):
        if tuple(a.shape[1:]) != tuple(sizes[f] for f in deps):
            raise ValueError(
                f"A[{m}] must have shape (O_m, {', '.join(str(sizes[f]) for f in deps)}) for "
                f"factors {list(deps)}, got {a.shape}."
            )
    C = list(C) if C is not None else [None] * len(A)
    if len(C) != len(A):
        raise ValueError(f"C must have one entry per modality ({len(A)}), got {len(C)}.")
    C = [np.zeros(len(a)) if c is None else np.asarray(c, float) for a, c in zip(A, C, strict=True)]
    for m, (a, c) in enumerate(zip(A, C, strict=True)):
        if c.shape != (a.shape[0],):
            raise ValueError(f"C[{m}] must have shape ({a.shape[0]},), got {c.shape}.")
    if D is None:
        D = [np.full(n, 1.0 / n) for n in sizes]
    D = [np.asarray(d, np.float64) for d in D]
    if len(D) != len(B) or any(d.shape != (n,) for d, n in zip(D, sizes, strict=False)):
        raise ValueError(
            f"D must hold one (S_f,) vector per factor, shapes {[(n,) for n in sizes]}; got "
            f"{[d.shape for d in D]}."
        )

    # T[s, u, s'] = prod_f B[f][s'_f, s_f, u_f], as an outer product over factors
    transitions = np.ones((1, 1, 1))
    for b in B:
        factor = np.transpose(b, (1, 2, 0))  # (S_f, U_f, S'_f)
        transitions = np.einsum("iaj,kbl->ikabjl", transitions, factor).reshape(
            transitions.shape[0] * factor.shape[0],
            transitions.shape[1] * factor.shape[1],
            transitions.shape[2] * factor.shape[2],
        )
    # each modality as a table over the joint state: (S, O_m)
    tables = []
    for a, deps in zip(A, A_dependencies, strict=True):
        full = np.broadcast_to(_reorder(a, deps, sizes), (a.shape[0], *sizes))
        tables.append(full.reshape(a.shape[0], -1).T)  # (S, O_m)
    observations = np.ones((transitions.shape[0], 1))
    for table in tables:
        observations = np.einsum("si,so->sio", observations, table).reshape(len(table), -1)
    utility = sum(table @ c for table, c in zip(tables, C, strict=True))  # (S',)
    reward = transitions @ utility  # (S, U)
    initial = D[0]
    for d in D[1:]:
        initial = np.outer(initial, d).ravel()
    return POMDP(transitions, observations, reward, initial)


def _reorder(a, deps, sizes):
    """A[m] (O_m, *S of deps in the given order) as (O_m, 1 or S_f for every factor f)."""
    axes = [0] + [1 + list(deps).index(f) for f in sorted(deps)]
    moved = np.transpose(a, axes)  # factor axes in increasing factor order
    shape = [a.shape[0]] + [sizes[f] if f in deps else 1 for f in range(len(sizes))]
    return moved.reshape(shape)
