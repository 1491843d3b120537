"""Figures (matplotlib, object-oriented: no pyplot state, no backend change, works headless).

    plot_grid(env, post)                 soft values with policy arrows, and posterior visitation
    plot_over_time(post)                 policy entropy and soft value along the horizon
    plot_comparison(env, exact, var, rollouts=None)
                                         exact vs variational inference side by side
    plot_rewards(env, true, recovered)   inverse RL: true and recovered reward, one scale
    plot_episode(episode, planner=None)  a planning episode: angle (unwrapped), torque, cost
    plot_learning_curve(history, agent=None, learning_starts=None, evaluation=None)
                                         returns of a training run against steps

`env` is anything laid out on a grid (a `GridWorld`, or a `GymModel` of FrozenLake/CliffWalking);
each function returns a `matplotlib.figure.Figure`: save it with `fig.savefig("file.png")`.
Every figure explains itself: colour bars name their scale (and say when it is not linear), a
caption names the map letters and the arrow encoding, titles name the method, planner or agent.
"""

from __future__ import annotations

import numpy as np

from .tabular import expected_entropy, expected_value

PLANNERS = {"mppi": "MPPI", "cem": "CEM"}
AGENTS = {"sac": "SAC", "dsac": "discrete SAC", "sql": "soft Q-learning"}
VISITS = "expected visits\n(square-root colour scale)"
ARROWS = "arrows: pi_0(a|s) for each action, length ~ sqrt(probability) (half a cell at 1)"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _grid_figure(env, rows: int, extra: float = 0.0):
    """A figure for `rows` rows of two map panels, sized to the map's aspect (no empty bands)."""
    r, c = env.shape
    width = min(4.4, 3.6 * c / r)
    return _figure(2 * (width + 1.6), rows * (width * r / c + 0.9 + extra) + 0.6)


def ink(rgba) -> np.ndarray:
    """The text colour for each colour: black or white, whichever contrasts more with it (by the
    WCAG relative luminance), so that labels read on pale and dark cells alike."""
    c = np.asarray(rgba, dtype=float)[..., :3]
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.where(linear @ np.array([0.2126, 0.7152, 0.0722]) > 0.179, "black", "white")


def _names(env) -> dict[str, tuple[str, str]]:
    """Map letter -> (letter drawn, its meaning): FrozenLake's L cells are holes (H)."""
    kind = str(getattr(env, "env_id", "")).lower()
    bad = ("H", "hole") if "frozenlake" in kind else ("C", "cliff") if "cliff" in kind else None
    return {"S": ("S", "start"), "G": ("G", "goal"), "L": bad or ("L", "lava")}


def _key(env) -> str:
    """The caption's legend of the map letters in use."""
    used = {char for row in env.layout for char in row}
    return ", ".join(f"{a} {b}" for char, (a, b) in _names(env).items() if char in used)


def _heatmap(ax, env, values, title, label, cmap="viridis", norm=None):
    """The values drawn on the map, with a colour bar as tall as the map; returns the image."""
    import matplotlib as mpl

    grid = np.ma.masked_invalid(env.to_grid(values).astype(float))
    colormap = mpl.colormaps[cmap].with_extremes(bad="0.25")
    image = ax.imshow(grid, cmap=colormap, norm=norm)
    ax.figure.colorbar(image, cax=ax.inset_axes([1.03, 0.0, 0.045, 1.0]), label=label)
    ax.set_title(title)
    ax.set_xticks(range(env.shape[1]))
    ax.set_yticks(range(env.shape[0]))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return image


def _cell_ink(env, image) -> np.ndarray:
    """(S,) the text colour that reads on each cell's colour."""
    colours = image.to_rgba(image.get_array())
    return ink(colours[env.cells[:, 0], env.cells[:, 1]])


def _mark_cells(ax, env, image, arrows: bool = False, values=None) -> None:
    """The S/G/L (H, C) letters, black on pale cells and white on dark ones; with `arrows`, S
    (which has arrows of its own) goes to its cell's upper left corner; `values` are written
    in every cell, under the letter."""
    names, colour = _names(env), _cell_ink(env, image)
    if values is not None:
        for state, (i, j) in enumerate(env.cells):
            text = f"{values[state]:.1f}".replace("-", "−")
            ax.text(j, i + 0.2, text, ha="center", va="center", color=colour[state], size=8)
    for state, char in env.marks().items():
        i, j = env.cells[state]
        corner = arrows and char == "S"
        ax.text(
            j - 0.42 * corner,
            i - 0.4 * corner - 0.18 * (values is not None),
            names[char][0],
            ha="left" if corner else "center",
            va="top" if corner else "center",
            color=colour[state],
            fontweight="bold",
            fontsize="small" if corner else None,
        )


def _arrows(ax, env, policy, image) -> None:
    """An arrow per action with probability >= 0.02, length 0.45 sqrt(p) cells, so that a
    near-uniform policy is a visible cross, not a dot (marked cells skipped)."""
    moves = np.asarray(env.moves, dtype=float)  # (A, 2) as (row, col)
    n = len(env.cells)
    probs = np.asarray(policy)[:n]
    colour = _cell_ink(env, image)
    keep = np.array([env.layout[i][j] not in "GL" for i, j in env.cells])
    states, actions = np.nonzero(keep[:, None] & (probs >= 0.02))
    length = 0.45 * np.sqrt(probs[states, actions])
    ax.quiver(
        env.cells[states, 1],
        env.cells[states, 0],
        length * moves[actions, 1],
        length * moves[actions, 0],  # image rows grow downwards, and so does this axis
        color=colour[states],
        angles="xy",
        scale_units="xy",
        scale=1.0,
        units="xy",
        width=0.04,
        headwidth=3.2,
        headlength=3.2,
        headaxislength=2.9,
        minlength=0.0,
    )


def _visits(env, post) -> tuple[np.ndarray, str]:
    """Expected visits per state, and a note. A gymnasium model ends an episode in absorbing
    states (one per terminal reward), not on the cell: the success state's visits are drawn
    on G, and the other endings (holes) are said in the note."""
    visits = np.asarray(post.state_marginals).sum(axis=0)
    success = getattr(env, "success_state", -1)
    goals = [s for s, char in env.marks().items() if char == "G"]
    if success < 0 or len(goals) != 1:
        return visits, ""
    visits = visits.copy()
    visits[goals[0]] += visits[success]
    others = [s for s in range(env.num_observations, env.done) if s != success]
    note = f"G: visits of the absorbing goal state (P(reach G) = {visits[success]:.2f})"
    if others:
        note += f"; P(episode ends in a {_names(env)['L'][1]}) = {visits[others].sum():.2f}"
    return visits, note


def _map_pair(axes, env, post, prefix: str = "") -> str:
    """V_0 with policy arrows on the left, visitation on the right; returns the visits note."""
    import matplotlib as mpl

    left, right = axes
    v0 = np.asarray(post.v[0])
    image = _heatmap(left, env, v0, f"{prefix}soft value V_0 and policy pi_0", "V_0(s)")
    _arrows(left, env, np.exp(np.asarray(post.log_policy[0])), image)
    _mark_cells(left, env, image, arrows=True)
    visits, note = _visits(env, post)
    norm = mpl.colors.PowerNorm(0.5, vmin=0.0)  # square root: faint paths stay visible
    title = f"{prefix}posterior state visitation"
    image = _heatmap(right, env, visits, title, VISITS, "magma", norm)
    _mark_cells(right, env, image)
    return note


def _caption(fig, *lines: str) -> None:
    """Small grey text under the panels, each line wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 13)
    text = "\n".join(textwrap.fill(line, width) for line in lines if line)
    fig.supxlabel(text, fontsize="small", color="0.25")


def plot_grid(env, post, title: str | None = None):
    """Left: V_0 with pi_0 as arrows. Right: expected visits sum_t p(s_t = s | e)."""
    fig = _grid_figure(env, 1)
    note = _map_pair(fig.subplots(1, 2), env, post)
    name = getattr(env, "env_id", None) or getattr(env, "name", None)
    where = f"{name}: " if name else ""
    temperature = float(post.temperature)
    fig.suptitle(title or f"{where}{post.method} inference, temperature {temperature:g}")
    _caption(fig, f"{_key(env)}; {ARROWS}", note)
    return fig


def plot_over_time(post, title: str | None = None):
    """Policy entropy and expected soft value along the horizon."""
    fig = _figure(10, 3.6)
    left, right = fig.subplots(1, 2)
    horizon = post.horizon
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


def _rollout_text(result) -> str:
    """'rolled out: success 46.5%, mean return -35.08 (2000 episodes)'."""
    returns = getattr(result, "returns", None)
    episodes = f" ({len(returns)} episodes)" if returns is not None else ""
    return (
        f"rolled out: success {result.success_rate:.1%}, "
        f"mean return {result.mean_return:.2f}{episodes}"
    )


def plot_comparison(env, exact, variational, title: str | None = None, rollouts=None):
    """Exact vs variational inference on the same model: the optimism of exact inference.

    For grid environments, a row of (V_0 with arrows, visitation) per method; otherwise the
    expected value and policy entropy over time of both. `rollouts`, optional: one result per
    method with `success_rate` and `mean_return` (an `envs.Evaluation`), said on the figure.
    """
    posts = (exact, variational)
    texts = [_rollout_text(r) for r in rollouts] if rollouts is not None else ["", ""]
    if env is not None and getattr(env, "layout", None) is not None:
        fig, notes = _grid_figure(env, 2, extra=0.35), []
        fig.get_layout_engine().set(h_pad=0.08)  # the rows' titles apart from the figure's
        for sub, post, text in zip(fig.subfigures(2, 1), posts, texts, strict=True):
            note = _map_pair(sub.subplots(1, 2), env, post, f"{post.method}: ")
            sub.suptitle(f"{post.method} inference" + (f", {text}" if text else ""))
            notes.append(f"{post.method}: {note}" if note else "")
        _caption(fig, f"{_key(env)}; {ARROWS}", *notes)
    else:
        fig = _figure(10, 3.8)
        left, right = fig.subplots(1, 2)
        for post, text in zip(posts, texts, strict=True):
            label = post.method + (f"\n{text}" if text else "")
            left.plot(expected_value(post), marker=".", label=label)
            right.plot(expected_entropy(post), marker=".", label=post.method)
        left.set_title("E[V_t(s_t)]")
        right.set_title("E[entropy of pi_t] (nats)")
        for ax in (left, right):
            ax.set_xlabel("time step t")
            ax.legend(fontsize="small")
            ax.grid(alpha=0.3)
    fig.suptitle(
        title or f"exact vs variational inference, temperature {float(exact.temperature):g}"
    )
    return fig


def plot_rewards(env, true_reward, recovered_reward, title: str | None = None):
    """True and recovered reward side by side on one colour scale, symmetric about 0. Rewards
    are (S, A); grids show the mean over actions per cell, other models the per-state mean as a
    line. A constant shift is not identifiable from demonstrations: the recovered reward is
    shifted so that its median matches the true reward's (the ordinary cells line up), and the
    true reward is drawn as it is."""
    import matplotlib as mpl

    n = len(env.cells) if env is not None and getattr(env, "layout", None) is not None else None
    true_state = np.mean(np.asarray(true_reward), axis=-1)[:n]
    fit_state = np.mean(np.asarray(recovered_reward), axis=-1)[:n]
    shift = float(np.median(true_state) - np.median(fit_state))
    fit_state = fit_state + shift
    if n is not None:
        fig = _grid_figure(env, 1)
        bound = float(np.max(np.abs(np.concatenate([true_state, fit_state])))) or 1.0
        norm = mpl.colors.Normalize(-bound, bound)
        label = "reward r(s)\n(mean over actions)"
        names = ("true reward", f"recovered reward (shifted by {shift:+.2f})")
        for ax, values, name in zip(
            fig.subplots(1, 2), (true_state, fit_state), names, strict=True
        ):
            image = _heatmap(ax, env, values, name, label, "coolwarm", norm)
            _mark_cells(ax, env, image, values=values)
        _caption(
            fig,
            f"{_key(env)}; both panels on one colour scale, symmetric about 0; the recovered "
            "reward is shifted so that its median matches the true reward's (a constant shift "
            "is not identifiable from demonstrations)",
        )
    else:
        fig = _figure(10, 3.6)
        ax = fig.subplots()
        ax.plot(true_state, marker=".", label="true")
        ax.plot(fit_state, marker=".", label=f"recovered (shifted by {shift:+.2f})")
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_xlabel("state")
        ax.set_ylabel("reward r(s), mean over actions")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title or "maximum-entropy inverse RL: true and recovered reward")
    return fig


def pi_ticks(ax, values) -> None:
    """y ticks at multiples of pi/2 over the range of `values`, labelled in pi; dashed lines at
    the multiples of 2 pi (upright)."""
    lo, hi = np.min(values) / np.pi - 0.2, np.max(values) / np.pi + 0.2
    ticks = np.arange(np.ceil(2 * lo), np.floor(2 * hi) + 1) / 2
    step = max(1, len(ticks) // 9)
    ticks = ticks[::step]
    labels = [{0: "0", 1: "π", -1: "−π"}.get(k, f"{k:g}π".replace("-", "−")) for k in ticks]
    ax.set_yticks(ticks * np.pi, labels=labels)
    for k in np.arange(np.ceil(lo / 2), np.floor(hi / 2) + 1):
        ax.axhline(2 * np.pi * k, color="0.4", linewidth=0.8, linestyle="--")


def plot_episode(episode, title: str | None = None, planner: str | None = None):
    """A pendulum episode: the angle (unwrapped: 0 and 2 pi k upright, pi hanging), the applied
    torque and the cumulative cost over time. `planner` ("mppi", "cem") names it in the title."""
    angle = np.unwrap(np.asarray(episode.states)[:, 0])
    torque = np.asarray(episode.actions)[:, 0]
    fig = _figure(12, 3.8)
    axes = fig.subplots(1, 3)
    axes[0].plot(angle, marker=".", markersize=3)
    pi_ticks(axes[0], angle)
    axes[0].set_ylabel("angle θ (rad, unwrapped)")
    axes[0].set_title("angle (dashed: upright)")
    axes[1].step(range(len(torque)), torque, where="post")
    for limit in (-2.0, 2.0):
        axes[1].axhline(limit, color="0.4", linewidth=0.8, linestyle="--")
    axes[1].set_ylabel("torque (N m)")
    axes[1].set_title("applied torque (dashed: ±2 N m limit)")
    axes[2].plot(np.cumsum(-np.asarray(episode.rewards)))
    axes[2].set_ylabel("cumulative cost")
    axes[2].set_title(f"cost (total {episode.total_cost:.1f})")
    for ax in axes:
        ax.set_xlabel("step (0.05 s)")
        ax.grid(alpha=0.3)
    name = PLANNERS.get(planner, planner)
    default = f"Pendulum-v1 from hanging, closed loop with {name}" if name else None
    fig.suptitle(title or default or "closed-loop planning on Pendulum-v1")
    return fig


def plot_learning_curve(
    history,
    title: str | None = None,
    *,
    agent: str | None = None,
    learning_starts: int | None = None,
    evaluation: tuple | None = None,
):
    """Episode returns against environment steps, with their mean over the last 10 episodes;
    `history` is a list of dicts with "step" and "return" (a run's log.csv rows). Optional:
    `agent` ("sac", "dsac", "sql") for the title, `learning_starts` (a line: random actions
    and no updates before it) and `evaluation` = (step, returns) of a final evaluation."""
    steps = np.array([row["step"] for row in history], dtype=float)
    returns = np.array([row["return"] for row in history], dtype=float)
    fig = _figure(8, 4.6)
    ax = fig.subplots()
    ax.plot(steps, returns, ".", alpha=0.5, label="episode return")
    if len(returns):
        window = np.minimum(np.arange(1, len(returns) + 1), 10)
        total = np.concatenate([[0.0], np.cumsum(returns)])
        mean = (total[1:] - total[np.arange(len(returns)) + 1 - window]) / window
        ax.plot(steps, mean, label="mean of the last 10 episodes (fewer at the start)")
    if learning_starts:
        ax.axvspan(0, learning_starts, color="0.85", zorder=0, label="random actions, no updates")
        ax.axvline(learning_starts, color="0.3", linestyle="--", linewidth=1.0)
        ax.text(
            learning_starts,
            1.01,
            f" learning starts ({learning_starts:g})",
            transform=ax.get_xaxis_transform(),
            fontsize="small",
            va="bottom",
        )
    if evaluation is not None:
        step, values = evaluation
        values = np.asarray(values, dtype=float)
        ax.errorbar(
            [step],
            [values.mean()],
            yerr=[values.std()],
            fmt="*",
            markersize=14,
            color="C3",
            capsize=4,
            label=f"final evaluation, {len(values)} deterministic episodes "
            f"(mean {values.mean():.1f}, sd {values.std():.1f})",
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    name = AGENTS.get(agent, agent)
    fig.suptitle(title or (f"{name} learning curve" if name else "learning curve"))
    return fig
