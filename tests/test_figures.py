"""The figures explain themselves (issue 18, figures): what a person checked by eye, asserted on
the figure objects. Headless (Agg), small models, no files written."""

import importlib.util
import itertools
import pathlib

import matplotlib
import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.quiver import Quiver
from matplotlib.text import Text

import control_as_inference as cai
from control_as_inference import plotting
from control_as_inference.distributed import plot_sweep
from control_as_inference.envs import Evaluation, builtin, from_gymnasium
from control_as_inference.mppi import Episode

matplotlib.use("Agg")  # the figures are built without pyplot; nothing opens a window
EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def images(fig) -> list[AxesImage]:
    return [im for ax in fig.get_axes() for im in ax.get_images()]


def headings(fig):
    """The figure's and subfigures' suptitles and every panel title that is set."""
    found = [f._suptitle for f in [fig, *fig.subfigs] if f._suptitle is not None]
    return found + [ax.title for ax in fig.get_axes() if ax.get_title()]


def assert_apart(fig, artists, gap: float = 12.0) -> None:
    """No two of the texts closer than `gap` pixels (at the figure's dpi): a title that runs
    into another reads as one line (the old soft LQR figure had 8)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    boxes = [(a, a.get_window_extent(renderer).padded(gap / 2)) for a in artists]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)


def assert_marks_readable(fig) -> None:
    """Every map letter is black on a pale cell and white on a dark one; both occur."""
    used = set()
    for ax in fig.get_axes():
        if not ax.get_images():
            continue
        colours = ax.get_images()[0].to_rgba(ax.get_images()[0].get_array())
        for text in ax.texts:
            if text.get_text() in ("S", "G", "L", "H", "C"):
                x, y = text.get_position()
                cell = colours[round(y), round(x)]
                expected = plotting.ink(cell)
                assert text.get_color() == expected, (text.get_text(), cell)
                used.add(str(expected))
    assert used == {"black", "white"}


@pytest.fixture(scope="module")
def cliff_posts():
    env = builtin("slippery-cliff")
    posts = [cai.infer(env.mdp, 12, 1.0, method) for method in ("exact", "variational")]
    return env, posts


def test_compare_says_its_scale_rollouts_and_reads_on_every_cell(cliff_posts):
    env, posts = cliff_posts
    rollouts = [
        Evaluation(-35.0, 1.0, 0.25, 30.0, np.zeros(2000)),
        Evaluation(-14.0, 1.0, 0.875, 30.0, np.zeros(2000)),
    ]
    fig = plotting.plot_comparison(env, *posts, rollouts=rollouts)
    labels = [im.colorbar.ax.get_ylabel() for im in images(fig)]
    visits = [label for label in labels if "visits" in label]
    assert len(visits) == 2 and all("square-root" in label for label in visits)
    powers = [im for im in images(fig) if isinstance(im.norm, matplotlib.colors.PowerNorm)]
    assert len(powers) == 2  # the nonlinear scale is the one the colour bar names
    words = " ".join(texts(fig))
    assert "success 25.0%" in words and "success 87.5%" in words and "2000 episodes" in words
    assert_marks_readable(fig)
    assert_apart(fig, headings(fig))
    # no empty band between the rows: the maps fill a good part of the height
    fig.draw_without_rendering()
    maps = sum(ax.get_window_extent().height for ax in fig.get_axes() if ax.get_images())
    assert maps / 2 / (fig.get_figheight() * fig.dpi) > 0.4  # two panels per row


def test_text_colour_follows_luminance():
    assert list(plotting.ink([[1.0, 1.0, 0.8], [0.05, 0.0, 0.1], [0.99, 0.9, 0.15]])) == [
        "black",
        "white",
        "black",
    ]


@pytest.fixture(scope="module")
def frozen_lake():
    env = from_gymnasium("FrozenLake-v1")
    return env, cai.infer(env.mdp, 20, 1.0, "exact")


def test_frozenlake_arrows_holes_and_goal(frozen_lake):
    env, post = frozen_lake
    fig = plotting.plot_grid(env, post)
    (quiver,) = [q for q in fig.findobj(Quiver)]
    lengths = np.hypot(quiver.U, quiver.V)
    # the policy at temperature 1 is near uniform: four arrows per cell, none a dot
    assert np.ptp(np.exp(np.asarray(post.log_policy[0]))[:16], axis=1).max() < 0.2
    assert lengths.min() > 0.18 and len(lengths) == 4 * 11  # 11 cells that are not H or G
    assert quiver.minlength == 0.0
    words = texts(fig)
    assert words.count("H") == 2 * 4 and "L" not in words  # four holes, on both panels
    assert any("H hole" in w for w in words)
    # the goal shows the absorbing success state's visits, and the caption says so
    goal = next(s for s, char in env.marks().items() if char == "G")
    visits = images(fig)[1].get_array()
    reached = float(np.asarray(post.state_marginals)[:, env.success_state].sum())
    i, j = env.cells[goal]
    assert reached > 0 and visits[i, j] == pytest.approx(reached)
    assert any("absorbing goal state" in w and "hole" in w for w in words)
    assert "FrozenLake-v1" in fig._suptitle.get_text()
    assert_marks_readable(fig)


def test_irl_panels_share_one_symmetric_scale():
    env = builtin("bridge")
    true = np.asarray(env.mdp.reward)
    recovered = 0.15 * true + 3.0 + np.random.default_rng(0).normal(0, 0.3, true.shape)
    fig = plotting.plot_rewards(env, true, recovered)
    norms = [(im.norm.vmin, im.norm.vmax) for im in images(fig)]
    assert len(norms) == 2 and norms[0] == norms[1] and norms[0][0] == -norms[0][1]
    # ordinary cells (reward -1) are drawn negative, not lifted above 0 by centring
    true_grid = images(fig)[0].get_array()
    ordinary = [
        env.cells[s]
        for s in range(len(env.cells))
        if env.layout[env.cells[s][0]][env.cells[s][1]] == "."
    ]
    assert all(true_grid[i, j] == -1.0 for i, j in ordinary)
    recovered_grid = images(fig)[1].get_array()
    assert np.median([recovered_grid[i, j] for i, j in ordinary]) == pytest.approx(-1.0, abs=0.3)
    assert "symmetric" in " ".join(texts(fig))


def pendulum_episode(steps=120):
    """A swing-up through +-pi: the raw angle runs from pi to 2 pi."""
    theta = np.pi + np.pi * np.clip(np.linspace(-0.3, 1.2, steps + 1), 0, 1)
    wrapped = (theta + np.pi) % (2 * np.pi) - np.pi  # as a wrapped source would give it
    states = np.stack([wrapped, np.zeros(steps + 1)], axis=1)
    actions = np.linspace(-2, 2, steps)[:, None]
    return Episode(states, actions, -np.ones(steps), np.zeros(steps), np.ones(steps), None)


@pytest.mark.parametrize("planner, name", [("mppi", "MPPI"), ("cem", "CEM")])
def test_plan_figure_unwraps_the_angle_names_the_planner_and_the_unit(planner, name):
    fig = plotting.plot_episode(pendulum_episode(), planner=planner)
    angle = fig.get_axes()[0].get_lines()[0].get_ydata()
    assert np.max(np.abs(np.diff(angle))) < np.pi
    assert angle[-1] - angle[0] == pytest.approx(np.pi, abs=0.1)  # hanging to upright
    assert np.cos(angle[-1]) == pytest.approx(1.0)
    assert name in fig._suptitle.get_text()
    assert "N m" in fig.get_axes()[1].get_ylabel()
    assert any("π" in t.get_text() for t in fig.get_axes()[0].get_yticklabels())


def test_pendulum_ilqr_example_figure_unwraps():
    module = example("pendulum_ilqr")
    wrapped = pendulum_episode().states[1:, 0]
    fig = module.swing_up_figure(wrapped, wrapped, np.zeros((len(wrapped), 1)))
    for line in fig.get_axes()[0].get_lines()[:2]:
        assert np.max(np.abs(np.diff(line.get_ydata()))) < np.pi
    assert "iLQR" in fig._suptitle.get_text()
    assert "N m" in fig.get_axes()[1].get_ylabel()


def test_learning_curve_names_the_agent_and_marks_learning_starts_and_evaluation():
    history = [{"step": 200.0 * (k + 1), "return": -1500.0 + 50 * k} for k in range(12)]
    fig = plotting.plot_learning_curve(
        history, agent="sac", learning_starts=500, evaluation=(2400, np.array([-900.0, -1000.0]))
    )
    assert "SAC" in fig._suptitle.get_text()
    (ax,) = fig.get_axes()
    assert any(list(line.get_xdata()) == [500, 500] for line in ax.get_lines())
    words = " ".join(texts(fig))
    assert "learning starts" in words and "final evaluation, 2 deterministic episodes" in words
    assert "mean -950.0" in words
    # the running mean starts at the first episode (fewer than 10 episodes at the start)
    mean = next(line for line in ax.get_lines() if line.get_label().startswith("mean"))
    assert len(mean.get_xdata()) == 12
    for agent, name in (("dsac", "discrete SAC"), ("sql", "soft Q-learning")):
        assert name in plotting.plot_learning_curve(history, agent=agent)._suptitle.get_text()


def test_sweep_legend_outside_lines_distinct_labels_and_ticks():
    rows = [
        {
            "env": env,
            "temperature": t,
            "method": method,
            "discount": 1.0,
            "horizon": 30,
            # on the cliff both methods agree: the lines coincide
            "expected_return": -t if env == "cliff" else -t - (method == "exact"),
            "entropy_t0": t,
            "log_evidence": -1 / t,
            "seconds": 0.1,
            "error": "",
        }
        for env in ("bridge", "cliff")
        for t in (0.1, 0.3, 1.0, 3.0)
        for method in ("exact", "variational")
    ]
    fig = plot_sweep(rows)
    assert "temperature" in fig._suptitle.get_text() and "horizon 30" in fig._suptitle.get_text()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.get_axes())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["bridge, exact", "bridge, variational", "cliff, exact", "cliff, variational"]
    fig.draw_without_rendering()
    for ax in fig.get_axes():
        lines = ax.get_lines()
        styles = {(line.get_linestyle(), line.get_marker()) for line in lines}
        assert len(styles) == len(lines) == 4
        # each line drawn over the previous is thinner, so a coinciding one shows beneath it
        widths = [line.get_linewidth() for line in lines]
        assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
        assert "_" not in ax.get_xlabel() + ax.get_ylabel()
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == ["0.1", "0.3", "1", "3"]
        assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    assert fig.get_axes()[0].get_ylabel() == "expected return (true dynamics)"


def test_soft_lqr_example_titles_apart_and_ellipses_say_their_time():
    module = example("soft_lqr")
    args = module.Args(horizon=16)
    rng = np.random.default_rng(0)
    result = {
        "samples": rng.normal(size=(3, 17, 2)),
        "state_mean": rng.normal(size=(17, 2)),
        "state_cov": np.broadcast_to(np.eye(2) * 0.1, (17, 2, 2)),
        "action_mean": rng.normal(size=16),
        "action_std": np.ones(16),
    }
    fig = module.figure(args, {"variational": result, "exact": result})
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["t = 0", "t = 8", "t = 16"]
    assert "time step" in fig.legends[0].get_title().get_text()
    assert_apart(fig, headings(fig))


def test_models_without_a_map_get_the_same_information(cliff_posts):
    _, posts = cliff_posts
    rollouts = [Evaluation(-35.0, 1.0, 0.25, 30.0, np.zeros(10))] * 2
    fig = plotting.plot_comparison(None, *posts, rollouts=rollouts)
    assert "success 25.0%" in " ".join(texts(fig))
    true = np.array([[-1.0, -1.0], [-50.0, -50.0], [10.0, 10.0], [-1.0, -1.0]])
    fig = plotting.plot_rewards(None, true, 0.1 * true + 2.0)
    drawn = fig.get_axes()[0].get_lines()[0].get_ydata()
    assert list(drawn) == [-1.0, -50.0, 10.0, -1.0]  # as it is, not centred
