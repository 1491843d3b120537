"""Figures of KL-control gridworlds (matplotlib, object-oriented as in `plotting`: no pyplot
state, no backend change, works headless; matplotlib is imported only when drawing).

plot_grid_solution(grid, v, log_policy, ax, title)   v as colours, the optimal flow as arrows
plot_composition(grid, parts, composite, labels)     one panel per goal and the composite
"""

from __future__ import annotations

import numpy as np

from .gridworld import KLGrid, flow, on_grid


def plot_grid_solution(grid: KLGrid, v, log_policy, ax, title: str = "") -> None:
    """Draw v = -log z on the map (walls blank, goals ringed) and the expected step of the law."""
    image = ax.imshow(on_grid(grid, v), cmap="viridis_r")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="v = -log z")
    interior = ~np.asarray(grid.lmdp.terminal)
    d = flow(grid, log_policy)[interior]
    rows, cols = grid.cells[interior].T
    # imshow puts row 0 on top and y grows downwards: the row displacement is the y component
    ax.quiver(cols, rows, d[:, 1], d[:, 0], color="white", angles="xy", pivot="middle")
    goals = grid.cells[grid.goals]
    ax.scatter(goals[:, 1], goals[:, 0], s=160, facecolors="none", edgecolors="red", linewidths=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)


def plot_composition(grid: KLGrid, parts, composite, labels):
    """A `matplotlib.figure.Figure` with one panel per component solution and one for the
    composite (save it with `fig.savefig("file.png")`)."""
    from matplotlib.figure import Figure

    panels = [*parts, composite]
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, sol, label in zip(axes[0], panels, labels, strict=True):
        plot_grid_solution(grid, np.asarray(sol.v), sol.log_policy, ax, label)
    fig.tight_layout()
    return fig
