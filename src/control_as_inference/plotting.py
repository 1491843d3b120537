"""Figures (matplotlib, object-oriented: no pyplot state, no backend change, works headless).

    plot_grid(env, post)                 soft values with policy arrows, and posterior visitation
    plot_over_time(post)                 policy entropy and soft value along the horizon
    plot_comparison(env, exact, var)     exact vs variational inference side by side
    plot_rewards(env, true, recovered)   inverse RL: true and recovered reward
    plot_episode(episode)                a planning episode: angle, torque, cost
    plot_learning_curve(history)         returns of a training run against steps

`env` is anything laid out on a grid (a `GridWorld`, or a `GymModel` of FrozenLake/CliffWalking);
each function returns a `matplotlib.figure.Figure`: save it with `fig.savefig("file.png")`.
"""

from __future__ import annotations

import numpy as np

from .tabular import expected_entropy, expected_value


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _mark_cells(ax, env) -> None:
    for state, char in env.marks().items():
        i, j = env.cells[state]
        ax.text(j, i, char, ha="center", va="center", color="white", fontweight="bold", alpha=0.8)


def _heatmap(fig, ax, env, values, title, label, cmap="viridis"):
    import matplotlib as mpl

    grid = np.ma.masked_invalid(env.to_grid(values).astype(float))
    colormap = mpl.colormaps[cmap].with_extremes(bad="0.25")
    norm = mpl.colors.PowerNorm(0.5) if cmap == "magma" else None  # visits: show faint paths
    image = ax.imshow(grid, cmap=colormap, norm=norm)
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    ax.set_title(title)
    ax.set_xticks(range(env.shape[1]))
    ax.set_yticks(range(env.shape[0]))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return ax


def _arrows(ax, env, policy) -> None:
    """The expected move under pi(.|s) as an arrow per cell (skipping marked cells)."""
    moves = np.asarray(env.moves, dtype=float)  # (A, 2) as (row, col)
    n = len(env.cells)
    mean = np.asarray(policy)[:n] @ moves  # (n, 2)
    keep = np.array([env.layout[i][j] not in "GL" for i, j in env.cells])
    rows, cols = env.cells[keep, 0], env.cells[keep, 1]
    ax.quiver(
        cols,
        rows,
        mean[keep, 1],
        mean[keep, 0],  # image rows grow downwards, and so does this axis
        color="white",
        angles="xy",
        scale_units="xy",
        scale=2.2,
        width=0.006,
    )


def plot_grid(env, post, title: str | None = None):
    """Left: V_0 with the expected move of pi_0 as arrows. Right: expected visits
    sum_t p(s_t = s | e) under the posterior."""
    fig = _figure(11, 4.2)
    left, right = fig.subplots(1, 2)
    _heatmap(fig, left, env, np.asarray(post.v[0]), "soft value V_0 and policy pi_0", "V_0(s)")
    _arrows(left, env, np.exp(np.asarray(post.log_policy[0])))
    _mark_cells(left, env)
    visits = np.asarray(post.state_marginals).sum(axis=0)
    _heatmap(fig, right, env, visits, "posterior state visitation", "expected visits", "magma")
    _mark_cells(right, env)
    fig.suptitle(title or f"{post.method} inference, temperature {float(post.temperature):g}")
    return fig


def plot_over_time(post, title: str | None = None):
    """Policy entropy and expected soft value along the horizon."""
    fig = _figure(10, 3.6)
    left, right = fig.subplots(1, 2)
    horizon = post.q.shape[0]
    left.plot(range(horizon), expected_entropy(post), marker=".")
    left.set_xlabel("time step t")
    left.set_ylabel("E[entropy of pi_t] (nats)")
    left.set_title("policy entropy")
    right.plot(range(horizon + 1), expected_value(post), marker=".")
    right.set_xlabel("time step t")
    right.set_ylabel("E[V_t(s_t)]")
    right.set_title("soft value under the posterior")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(
        title
        or f"{post.method} inference, temperature {float(post.temperature):g}, "
        f"log evidence {float(post.log_evidence):.3g}"
    )
    return fig


def plot_comparison(env, exact, variational, title: str | None = None):
    """Exact vs variational inference on the same model: the optimism of exact inference.

    For grid environments, rows of (V_0 with arrows, visitation) per method; otherwise the
    expected value and policy entropy over time of both.
    """
    if env is not None and getattr(env, "layout", None) is not None:
        fig = _figure(11, 8)
        axes = fig.subplots(2, 2)
        for row, post in zip(axes, (exact, variational), strict=True):
            name = post.method
            _heatmap(fig, row[0], env, np.asarray(post.v[0]), f"{name}: V_0 and pi_0", "V_0(s)")
            _arrows(row[0], env, np.exp(np.asarray(post.log_policy[0])))
            _mark_cells(row[0], env)
            visits = np.asarray(post.state_marginals).sum(axis=0)
            _heatmap(fig, row[1], env, visits, f"{name}: posterior visitation", "visits", "magma")
            _mark_cells(row[1], env)
    else:
        fig = _figure(10, 3.6)
        left, right = fig.subplots(1, 2)
        for post in (exact, variational):
            left.plot(expected_value(post), marker=".", label=post.method)
            right.plot(expected_entropy(post), marker=".", label=post.method)
        left.set_title("E[V_t(s_t)]")
        right.set_title("E[entropy of pi_t] (nats)")
        for ax in (left, right):
            ax.set_xlabel("time step t")
            ax.legend()
            ax.grid(alpha=0.3)
    fig.suptitle(
        title or f"exact vs variational inference, temperature {float(exact.temperature):g}"
    )
    return fig


def plot_rewards(env, true_reward, recovered_reward, title: str | None = None):
    """True and recovered reward side by side, each centred (a constant shift is not
    identifiable from demonstrations). Rewards are (S, A); grids show the mean over actions
    per cell, other models the per-state mean as a line."""
    true_state = np.mean(np.asarray(true_reward), axis=-1)
    fit_state = np.mean(np.asarray(recovered_reward), axis=-1)
    if env is not None and getattr(env, "layout", None) is not None:
        n = len(env.cells)
        fig = _figure(11, 4.2)
        left, right = fig.subplots(1, 2)
        for ax, values, name in ((left, true_state, "true"), (right, fit_state, "recovered")):
            centred = values[:n] - np.mean(values[:n])
            _heatmap(fig, ax, env, centred, f"{name} reward (centred)", "r(s) - mean", "coolwarm")
            _mark_cells(ax, env)
    else:
        fig = _figure(10, 3.6)
        ax = fig.subplots()
        ax.plot(true_state - true_state.mean(), marker=".", label="true")
        ax.plot(fit_state - fit_state.mean(), marker=".", label="recovered")
        ax.set_xlabel("state")
        ax.set_ylabel("reward (centred)")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title or "maximum-entropy inverse RL: true and recovered reward")
    return fig


def plot_episode(episode, title: str | None = None):
    """A pendulum episode: angle from upright, applied torque and cumulative cost over time."""
    states = np.asarray(episode.states)
    angle = (states[:, 0] + np.pi) % (2 * np.pi) - np.pi
    fig = _figure(12, 3.6)
    axes = fig.subplots(1, 3)
    axes[0].plot(angle, marker=".", markersize=3)
    axes[0].axhline(0.0, color="0.5", linewidth=0.8)
    axes[0].set_ylabel("angle from upright (rad)")
    axes[0].set_title("angle")
    axes[1].step(range(len(episode.actions)), np.asarray(episode.actions)[:, 0], where="post")
    axes[1].set_ylabel("torque")
    axes[1].set_title("action")
    axes[2].plot(np.cumsum(-np.asarray(episode.rewards)))
    axes[2].set_ylabel("cumulative cost")
    axes[2].set_title(f"cost (total {episode.total_cost:.1f})")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title or "closed-loop planning on Pendulum-v1")
    return fig


def plot_learning_curve(history, title: str | None = None):
    """Episode returns against environment steps, with a moving average over 10 episodes;
    `history` is a list of dicts with "step" and "return" (a run's log.csv rows)."""
    steps = np.array([row["step"] for row in history], dtype=float)
    returns = np.array([row["return"] for row in history], dtype=float)
    fig = _figure(7, 4)
    ax = fig.subplots()
    ax.plot(steps, returns, ".", alpha=0.4, label="episode return")
    if len(returns) >= 2:
        window = min(10, len(returns))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, label=f"mean of the last {window}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle(title or "learning curve")
    return fig
