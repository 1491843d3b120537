"""The shared pieces of the agents: Polyak averaging, the twin-Q error, the configs' shared
block (defaults and the config.json round trip that checkpoints rely on)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import DiscreteConfig, SACConfig
from control_as_inference.agents.common import AgentConfig, polyak, twin_q_loss
from control_as_inference.agents.registry import config_dict, config_from


class Net(eqx.Module):
    weight: jax.Array
    count: jax.Array  # an integer leaf: not averaged
    width: int = eqx.field(static=True)


def test_polyak_averages_floating_leaves_only():
    online = Net(jnp.array([1.0, 3.0]), jnp.array(7), 2)
    target = Net(jnp.array([0.0, 1.0]), jnp.array(1), 2)
    mixed = polyak(online, target, 0.25)
    np.testing.assert_allclose(mixed.weight, [0.25, 1.5])
    assert int(mixed.count) == 7
    tables = polyak({"q": jnp.ones(3)}, {"q": jnp.zeros(3)}, 0.1)
    np.testing.assert_allclose(tables["q"], 0.1 * np.ones(3))


def test_twin_q_loss_against_hand_values_and_fixed_target():
    q1, q2, y = jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]), jnp.array([1.0, 1.0])
    expected = 0.5 * (np.mean([0.0, 1.0]) + np.mean([1.0, 9.0]))
    np.testing.assert_allclose(twin_q_loss(q1, q2, y), expected)
    assert float(jax.grad(lambda t: twin_q_loss(q1, q2, t))(y).sum()) == 0.0


SAC_DEFAULTS = dict(
    learning_rate=1e-3,
    batch_size=256,
    buffer_size=1_000_000,
    learning_starts=100,
    gamma=0.99,
    tau=0.005,
    hidden=(256, 256),
    initial_temperature=1.0,
    auto_temperature=True,
    target_entropy=None,
    gradient_steps=1,
    temperature_loss_form="eq18",
    networks="mlp",
)
DISCRETE_DEFAULTS = dict(
    algorithm="dsac",
    learning_rate=1e-3,
    batch_size=128,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    tau=0.01,
    hidden=(128, 128),
    temperature=0.05,
    auto_temperature=True,
    target_entropy_scale=0.5,
    gradient_steps=1,
)


@pytest.mark.parametrize(
    ("config", "defaults"), [(SACConfig(), SAC_DEFAULTS), (DiscreteConfig(), DISCRETE_DEFAULTS)]
)
def test_configs_share_the_block_and_keep_their_defaults(config, defaults):
    assert isinstance(config, AgentConfig)
    assert dataclasses.asdict(config) == defaults
    name = "sac" if isinstance(config, SACConfig) else "discrete"
    changed = dataclasses.replace(config, hidden=(8, 4), tau=0.5)
    assert config_from(name, config_dict(changed)) == changed


def test_shared_settings_are_checked_in_every_config():
    for config_type in (SACConfig, DiscreteConfig):
        with pytest.raises(ValueError, match="gradient_steps must be a Python int >= 1"):
            config_type(gradient_steps=0)
        with pytest.raises(ValueError, match="learning_starts"):
            config_type(learning_starts=True)


@pytest.mark.parametrize("config_type", [SACConfig, DiscreteConfig])
def test_configs_take_keywords_only(config_type):
    """The shared block comes first in the fields: positional arguments would silently land in
    other settings than before the base class existed, so they are refused."""
    with pytest.raises(TypeError):
        config_type(1e-3)
