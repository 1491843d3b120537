"""SAC: the tanh-Gaussian density, losses against hand values, learning on Pendulum-v1,
checkpoint/resume bit-identical to an uninterrupted run, damaged checkpoints, bad settings."""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import (
    SACConfig,
    actor_loss,
    critic_loss,
    evaluate_agent,
    read_log,
    resume,
    temperature_loss,
    train,
)
from control_as_inference.agents.networks import TanhGaussianActor, tanh_gaussian_log_prob


def test_tanh_gaussian_density_integrates_to_one_and_changes_variables():
    scale, offset, mean, log_std = 2.0, 0.5, 0.3, np.log(0.8)
    u = np.linspace(-12, 12, 200_001)
    a = scale * np.tanh(u) + offset
    log_p = jax.vmap(
        lambda x: tanh_gaussian_log_prob(
            x[None], jnp.array([mean]), jnp.array([log_std]), jnp.array([scale])
        )
    )(jnp.asarray(u))
    density = np.exp(np.asarray(log_p))
    # integral over the action box, by the trapezoid rule on the a-grid
    assert abs(np.trapezoid(density, a) - 1.0) < 1e-4
    # density in a = Gaussian density in u / |da/du|
    gauss = np.exp(-0.5 * ((u - mean) / 0.8) ** 2) / (0.8 * np.sqrt(2 * np.pi))
    dadu = scale * (1 - np.tanh(u) ** 2)
    keep = np.abs(u) < 5
    np.testing.assert_allclose(density[keep], (gauss / dadu)[keep], rtol=1e-6)


def test_default_target_entropy_is_minus_dim_for_the_rescaled_action():
    """log pi is the density of the environment's action; the default H_target is -dim(A) for
    the action rescaled to [-1, 1]^m (SB3's and Haarnoja et al.'s convention)."""
    from control_as_inference.agents.sac import default_target_entropy

    scale = jnp.array([2.0, 0.5, 3.0])
    np.testing.assert_allclose(default_target_entropy(scale), -3 + np.log(3.0), rtol=1e-6)
    assert default_target_entropy(scale, -0.25) == -0.25
    # the entropy of the environment's action exceeds the rescaled one's by sum log scale
    u, mean, log_std = jnp.array([0.3, -1.2, 2.0]), jnp.zeros(3), jnp.full(3, -0.5)
    env = tanh_gaussian_log_prob(u, mean, log_std, scale)
    unit = tanh_gaussian_log_prob(u, mean, log_std, jnp.ones(3))
    np.testing.assert_allclose(unit - env, np.sum(np.log(scale)), rtol=1e-6)


class Fixed(eqx.Module):
    """A stand-in network with known outputs."""

    q: tuple
    action: float = 0.0
    log_pi: float = 0.0

    def __call__(self, obs, action):
        return jnp.asarray(self.q[0]), jnp.asarray(self.q[1])

    def sample(self, obs, key):
        return jnp.array([self.action]), jnp.asarray(self.log_pi)

    def sample_batch(self, obs, key):
        return jax.vmap(lambda o: self.sample(o, key))(obs)


def test_sac_losses_against_hand_values():
    obs = jnp.zeros((2, 3))
    batch = (obs, jnp.zeros((2, 1)), jnp.array([1.0, 2.0]), obs, jnp.array([0.0, 1.0]))
    critic, target = Fixed((0.5, 1.5)), Fixed((3.0, 2.0))
    actor = Fixed((0.0, 0.0), action=0.1, log_pi=-0.7)
    loss = critic_loss(critic, target, actor, 0.2, batch, jax.random.key(0), 0.9)
    y = np.array([1.0 + 0.9 * (2.0 + 0.2 * 0.7), 2.0])
    expected = 0.5 * (np.mean((0.5 - y) ** 2) + np.mean((1.5 - y) ** 2))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    pi_loss = actor_loss(actor, Fixed((4.0, 3.0)), 0.2, obs, jax.random.key(1))
    np.testing.assert_allclose(pi_loss, 0.2 * -0.7 - 3.0, rtol=1e-6)
    # eq. 18: d J / d log alpha = -alpha (E log pi + H); SB3's form lacks the factor alpha
    log_pi = jnp.array([-0.7, -0.3])
    grad = jax.grad(temperature_loss)(jnp.log(0.2), log_pi, -1.0)
    np.testing.assert_allclose(grad, -0.2 * (-0.5 - 1.0), rtol=1e-6)
    # stable-baselines3's and SBX's form: d/d log alpha [-log alpha (E log pi + H)]
    sb3 = jax.grad(temperature_loss)(jnp.log(0.2), log_pi, -1.0, "log")
    np.testing.assert_allclose(sb3, -(-0.5 - 1.0), rtol=1e-6)


def test_actor_respects_the_action_box():
    actor = TanhGaussianActor(3, [-2.0], [1.0], (16,), jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 1000)
    actions, _ = jax.vmap(actor.sample, in_axes=(None, 0))(jnp.full(3, 5.0, jnp.float32), keys)
    assert float(actions.min()) >= -2.0 and float(actions.max()) <= 1.0


SMALL = SACConfig(hidden=(32, 32), buffer_size=2000, batch_size=64, learning_starts=50)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = train(
        SMALL,
        "Pendulum-v1",
        jax.random.key(3),
        600,
        out=str(tmp_path / "a"),
        checkpoint_every=10_000,
        progress=False,
    )
    first = train(
        SMALL, "Pendulum-v1", jax.random.key(3), 300, out=str(tmp_path / "b"), progress=False
    )
    assert int(first.state.step) == 300
    rest = resume(str(tmp_path / "b"), steps=600, progress=False)
    leaves_a = jax.tree_util.tree_leaves(eqx.filter(whole.state, eqx.is_array))
    leaves_b = jax.tree_util.tree_leaves(eqx.filter(rest.state, eqx.is_array))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert [r["return"] for r in whole.history] == [r["return"] for r in rest.history]
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + len(whole.history)  # header + one row per episode, none twice
    assert read_log(str(tmp_path / "b")) == rest.history


def test_ctrl_c_saves_a_checkpoint_between_steps_and_resume_completes_the_run(
    tmp_path, monkeypatch
):
    """SIGINT in the middle of step 120 only sets a flag: the step finishes, a checkpoint is
    saved, the previous handler comes back, and resuming gives the uninterrupted run's state."""
    import signal
    import threading

    from control_as_inference.agents import loop

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread only")
    config = SACConfig(hidden=(16,), buffer_size=500, batch_size=16, learning_starts=20)
    whole = train(config, "Pendulum-v1", jax.random.key(2), 250, progress=False)
    calls = []
    step_envs = loop._step_envs

    def interrupting(env, action):
        calls.append(None)
        if len(calls) == 120:
            signal.raise_signal(signal.SIGINT)
        return step_envs(env, action)

    monkeypatch.setattr(loop, "_step_envs", interrupting)
    handler = signal.getsignal(signal.SIGINT)
    out = str(tmp_path / "run")
    cut = train(config, "Pendulum-v1", jax.random.key(2), 250, out=out, progress=False)
    assert cut.interrupted and int(cut.state.step) == 120
    assert signal.getsignal(signal.SIGINT) is handler
    monkeypatch.undo()
    rest = resume(out, progress=False)
    assert not rest.interrupted and int(rest.state.step) == 250
    for x, y in zip(
        jax.tree_util.tree_leaves(eqx.filter(whole.state, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(rest.state, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _tensorboard_scalars(directory) -> dict:
    """{tag: {step: value}} from TensorBoard event files, with TensorBoard's purge rule: a
    SessionLog START at step p drops what was written before it at steps >= p."""
    import struct

    pytest.importorskip("tensorboardX")
    from tensorboardX.proto import event_pb2

    scalars: dict = {}
    for name in sorted(os.listdir(directory)):
        data = (directory / name).read_bytes()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            i += 12 + length + 4
            if event.session_log.status == event_pb2.SessionLog.START:
                for steps in scalars.values():
                    for s in [s for s in steps if s >= event.step]:
                        del steps[s]
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def test_tensorboard_events_match_the_csv_log_after_a_crash_and_resume(tmp_path):
    """Events written after the last checkpoint (a crash) are purged on resume: TensorBoard ends
    with exactly log.csv's rows."""
    pytest.importorskip("tensorboardX")
    out = tmp_path / "run"
    train(SMALL, "Pendulum-v1", jax.random.key(5), 300, out=str(out), progress=False)
    saved = {n: (out / n).read_bytes() for n in ("checkpoint.eqx", "checkpoint.json")}
    resume(str(out), steps=450, progress=False)  # an episode ends at 400, then the "crash":
    for name, data in saved.items():  # the checkpoint of step 300 is the last one on disk
        (out / name).write_bytes(data)
    result = resume(str(out), steps=650, progress=False)
    scalars = _tensorboard_scalars(out / "tensorboard")
    assert sorted(scalars["train/return"]) == [200, 400, 600]
    for row in result.history:
        np.testing.assert_allclose(scalars["train/return"][row["step"]], row["return"], rtol=1e-6)
        np.testing.assert_allclose(
            scalars["train/temperature"][row["step"]], row["temperature"], rtol=1e-6
        )


def test_damaged_checkpoint_is_refused(tmp_path):
    out = tmp_path / "run"
    train(SMALL, "Pendulum-v1", jax.random.key(0), 60, out=str(out), progress=False)
    data = (out / "checkpoint.eqx").read_bytes()
    (out / "checkpoint.eqx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or partial"):
        resume(str(out), progress=False)
    with pytest.raises(ValueError, match=r"no config\.json"):
        resume(str(tmp_path / "nothing"), progress=False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(learning_rate=-1e-3), "learning_rate"),
        (dict(batch_size=512, buffer_size=100), "batch_size"),
        (dict(tau=0.0), "tau"),
        (dict(gamma=1.5), "gamma"),
        (dict(hidden=(0,)), "hidden"),
        (dict(temperature_loss_form="sb3"), "temperature_loss_form"),
    ],
)
def test_bad_configuration(settings, message):
    with pytest.raises(ValueError, match=message):
        SACConfig(**settings)


def test_wrong_action_space():
    with pytest.raises(ValueError, match="continuous"):
        train(SACConfig(), "CartPole-v1", jax.random.key(0), 10, progress=False)


@pytest.mark.slow
def test_learns_pendulum():
    """6000 steps (30 episodes) from a random policy's return of about -1200 to a swing-up
    (rl-zoo's trained SAC scores about -150)."""
    result = train(SACConfig(), "Pendulum-v1", jax.random.key(0), 6000, progress=False)
    assert len(result.history) == 30
    assert float(np.mean(evaluate_agent(result.state, "Pendulum-v1", episodes=5))) > -300
