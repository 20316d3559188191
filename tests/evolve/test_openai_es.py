"""OpenAI-ES: centred ranks by hand, the mirrored gradient estimate points uphill, noise rebuilt from its seed,
Adam's first step, a tiny run, --workers 2 equals serial, and its settings checked by name. Resume after a kill
is covered with the other strategies in `test_run.py`."""

import numpy as np
import pytest

from evolve import run_evolution
from evolve.config import make_config
from evolve.strategies.openai_es import (
    EsState,
    adam_ascent,
    centered_ranks,
    es_gradient,
    noise,
    noise_seeds,
    sample,
)
from sandbox.runs.checkpoints import load_checkpoint

TINY = {"strategy": "openai-es", "population": 8, "generations": 2, "episodes": 1, "max_steps": 100,
        "heldout_episodes": 2, "backbone_options": {"widths": (8,)}}


def test_centered_ranks_by_hand():
    np.testing.assert_allclose(centered_ranks([3.0, 1.0, 2.0]), [0.5, -0.5, 0.0])
    # ties share their mean rank: ranks 0, (1 + 2) / 2, (1 + 2) / 2, 3 over 3, minus 0.5
    np.testing.assert_allclose(centered_ranks([1.0, 1.0, 2.0, 0.0]), [0.0, 0.0, 0.5, -0.5])
    assert centered_ranks([5.0, 5.0]).tolist() == [0.0, 0.0]  # no preference, no gradient


def test_the_gradient_estimate_points_towards_the_target():
    theta, target, sigma = np.zeros(10), np.linspace(-1.0, 1.0, 10), 0.1
    eps = np.stack([noise(seed, 10) for seed in noise_seeds(0, 0, 200)])  # (200, 10)

    def fitness(x):
        return -np.sum((x - target) ** 2, axis=-1)

    plus, minus = fitness(theta + sigma * eps), fitness(theta - sigma * eps)
    shaped = centered_ranks(np.stack([plus, minus], axis=1).ravel())  # the run's order: +eps_1, -eps_1, +eps_2 ...
    gradient = es_gradient(eps, shaped[0::2], shaped[1::2], sigma)
    cosine = gradient @ (target - theta) / np.linalg.norm(gradient) / np.linalg.norm(target - theta)
    assert cosine > 0.8


def test_adam_takes_a_step_of_the_learning_rate_uphill_first():
    state = EsState(np.zeros(3), np.zeros(3), np.zeros(3))
    adam_ascent(state, np.array([2.0, -0.5, 1e-2]), learning_rate=0.1)
    np.testing.assert_allclose(state.theta, [0.1, -0.1, 0.1], rtol=1e-4)  # bias-corrected: lr * sign(g)
    assert state.t == 1


def test_each_individual_is_its_seed_and_sign_and_an_odd_population_adds_the_mean():
    config = make_config({**TINY, "population": 7})
    theta = np.arange(5, dtype=np.float64)
    state = EsState(theta, np.zeros(5), np.zeros(5), t=4)
    population, eps = sample(config, state)
    assert len(population) == 7 and eps.shape == (3, 5)
    for individual in population[:6]:
        rebuilt = theta + individual.sign * config.es_sigma * noise(individual.noise_seed, 5)
        np.testing.assert_array_equal(np.asarray(individual), rebuilt)  # a worker needs only (theta, seed, sign)
    assert population[6].sign == 0 and list(population[6]) == theta.tolist()
    assert noise_seeds(0, 4, 3) == [ind.noise_seed for ind in population[:6:2]]
    assert noise_seeds(0, 5, 3) != noise_seeds(0, 4, 3) != noise_seeds(1, 4, 3)


def test_a_shard_carries_seeds_and_theta_once_and_rebuilds_each_vector():
    import pickle

    from evolve.strategies import payload

    config = make_config({**TINY, "population": 65})
    theta = np.random.default_rng(0).standard_normal(2000)
    population, _ = sample(config, EsState(theta, np.zeros(2000), np.zeros(2000), t=2))
    shard = [payload(individual) for individual in population]
    for (key, sent), individual in zip(shard, population, strict=True):  # rebuilt exactly where it lands
        assert key is None and sent.seed == individual.noise_seed
        np.testing.assert_array_equal(sent.vector(), np.asarray(individual, dtype=np.float32))
    # 65 individuals cost theta once plus a few numbers each, not 65 vectors
    assert len(pickle.dumps(shard)) < len(pickle.dumps(theta)) + 65 * 200


def test_a_tiny_run_writes_its_hall_of_fame_and_saves_its_state(tmp_path):
    result = run_evolution(TINY, tmp_path, progress=False)
    assert (tmp_path / "hall_of_fame" / "rank0.pt").is_file() and result["nevals"] == 8
    state = load_checkpoint(tmp_path / "checkpoint.pt")["strategy_state"]
    assert state["t"] == 2 and state["theta"].dtype.is_floating_point and np.isfinite(state["theta"].numpy()).all()


def test_two_workers_equal_serial(tmp_path):
    serial = run_evolution({**TINY, "seed": 1}, tmp_path / "serial", progress=False)
    pooled = run_evolution({**TINY, "seed": 1, "workers": 2}, tmp_path / "pooled", progress=False)
    drop = ("seconds", "evals_per_s")
    assert {k: v for k, v in serial.items() if k not in drop} == {k: v for k, v in pooled.items() if k not in drop}
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt")["strategy_state"] for d in ("serial", "pooled"))
    for key in ("theta", "m", "v"):
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


@pytest.mark.parametrize("field, value, message", [("es_sigma", 0.0, "es_sigma must be > 0"),
                                                   ("es_learning_rate", -1.0, "es_learning_rate must be > 0"),
                                                   ("es_weight_decay", -0.1, "es_weight_decay must be >= 0")])
def test_bad_settings_name_their_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_config({**TINY, field: value})
