"""Full batches: a population's episodes queued over a fixed number of car slots score exactly what each
individual scores alone, for every slot count and order, with random pedestrians and traffic."""

import dataclasses

import numpy as np
import pytest
import torch

from evolve import slots as slots_module
from evolve.evaluate import EvalSpec, PopulationEvaluator, spaces_of
from evolve.genome import make_driver, to_vector
from evolve.population import PopulationNet

P, K = 5, 2
GRU = {"hidden_size": 8, "stem_options": {"widths": (8,)}}


def _steering_driver(spec, i, eps=0.1):
    """A continuous MLP 29-16-2 (rays on normal and hard) that steers toward open road and eases off for a
    short front ray, speed, and pedestrians and traffic in view, its gains drawn from `i`: drivers that go
    far enough to meet the random pedestrians and the traffic (a random network crashes first). The first
    layer passes its sums through tanh near zero (x eps), the head undoes the eps."""
    n = 9  # rays; inputs are scaled to [-1, 1] before the first layer
    net = make_driver(*spaces_of(spec), "mlp", {"widths": (16,)}, seed=i)
    rng = np.random.default_rng(i)
    first, head = net.backbone.trunk[0], net.head
    w1, w2, b2 = torch.zeros_like(first.weight), torch.zeros_like(head.weight), torch.zeros_like(head.bias)
    w1[0, :n] = eps * torch.linspace(-1, 1, n) / 2  # left .. right: the side with longer rays
    w1[1, n // 2 - 1: n // 2 + 2] = eps / 3  # the road ahead
    w1[2, n] = eps  # speed
    w1[3, n + 2: 2 * n + 2] = eps / n  # pedestrians in view (1: none)
    w1[4, 2 * n + 2: 3 * n + 2] = eps / n  # traffic in view
    w2[0, 0] = rng.uniform(2, 5) / eps  # steer
    w2[1, 1], w2[1, 2], w2[1, 3], w2[1, 4] = 1 / eps, -4 / eps, 2 / eps, 2 / eps  # throttle
    b2[1] = 4 * rng.uniform(0.6, 0.9) - 4
    with torch.no_grad():
        for p, v in zip((first.weight, first.bias, head.weight, head.bias), (w1, torch.zeros_like(first.bias), w2,
                                                                              b2), strict=True):
            p.copy_(v + 0.002 * torch.randn(v.shape, generator=torch.Generator().manual_seed(i)))
    return to_vector(net)


def _population(level, backbone):
    spec = EvalSpec(level=level, continuous=backbone == "mlp", backbone=backbone,
                    backbone_options=GRU if backbone == "gru" else {"widths": (16,)}, episodes=K, max_steps=200)
    if backbone == "mlp":
        vectors = np.stack([_steering_driver(spec, i) for i in range(P)])
    else:  # a random GRU (its state is what is tested); one wilder driver, so they do not all behave alike
        vectors = np.stack([to_vector(make_driver(*spaces_of(spec), "gru", GRU, seed=i)) for i in range(P)])
        vectors[1] *= 3.0
    alone = PopulationEvaluator(dataclasses.replace(spec, slots=K), seed=0)  # each individual on fresh cars
    fitness, laps = zip(*[alone.evaluate(v[None]) for v in vectors], strict=True)
    return spec, vectors, np.concatenate(fitness), np.concatenate(laps)


@pytest.fixture(scope="module", params=[("normal", "mlp"), ("hard", "mlp"), ("hard", "gru")],
                ids=["normal-mlp", "hard-mlp", "hard-gru"])
def population(request):
    return _population(*request.param)


@pytest.mark.parametrize("slots", [1, 3, 7, P * K])
def test_full_batches_score_each_individual_as_alone(population, slots):
    spec, vectors, alone, alone_laps = population
    evaluator = PopulationEvaluator(dataclasses.replace(spec, slots=slots), seed=0)
    fitness, laps = evaluator.evaluate(vectors)
    np.testing.assert_array_equal(fitness, alone)
    np.testing.assert_array_equal(laps, alone_laps)
    assert len(set(fitness.round(6))) > 1
    reversed_fitness, reversed_laps = evaluator.evaluate(vectors[::-1])
    np.testing.assert_array_equal(reversed_fitness, alone[::-1])
    np.testing.assert_array_equal(reversed_laps, alone_laps[::-1])


def test_slots_that_wait_to_restart_together_score_the_same(population, monkeypatch):
    spec, vectors, alone, _ = population
    monkeypatch.setattr(slots_module, "RESTART_SHARE", 0.5)  # ended slots wait for a second before restarting
    fitness, _ = PopulationEvaluator(dataclasses.replace(spec, slots=4), seed=0).evaluate(vectors[::-1])
    np.testing.assert_array_equal(fitness, alone[::-1])


def test_the_hook_sees_the_slots_every_step():
    spec = EvalSpec(backbone_options={"widths": (8,)}, episodes=2, max_steps=60, slots=4)
    events = []

    def hook(event):  # the env is live: what it holds is checked as the event arrives
        assert len(event["car_fitness"]) == event["env"].num_envs == len(event["reward"])
        events.append((event["global_step"], event["env"].num_envs, event["generation"]))

    vectors = np.stack([to_vector(make_driver(*spaces_of(spec), "mlp", {"widths": (8,)}, seed=i)) for i in range(5)])
    PopulationEvaluator(spec, seed=1).evaluate(vectors, hook=hook, context={"generation": 3})
    assert events[0][1:] == (4, 3) and [step for step, *_ in events] == list(range(1, len(events) + 1))
    with pytest.raises(ValueError, match="slots must be an integer >= 1"):
        EvalSpec(slots=0)


@pytest.mark.parametrize("backbone, options", [("mlp", {"widths": (16,)}), ("mlp", {"widths": (7, 5)}),
                                               ("gru", GRU)])
def test_a_network_computes_the_same_bits_in_any_batch(backbone, options):
    """torch's sigmoid (so the tanh activation) rounds the elements past its last SIMD block differently; the
    population pads its rows so that network p's numbers never depend on how many share the call."""
    spec = EvalSpec(level="hard", continuous=True, backbone=backbone, backbone_options=options)
    template = make_driver(*spaces_of(spec), backbone, options)
    vectors = np.stack([to_vector(make_driver(*spaces_of(spec), backbone, options, seed=i)) for i in range(40)])
    obs = torch.rand(40, 3, 1, *spaces_of(spec)[0].shape, generator=torch.Generator().manual_seed(0))
    whole = PopulationNet.build(template, vectors)
    outputs = [whole(obs[:, t]) for t in range(3)]  # (40, 1, n_out) per step; a GRU's state steps on
    for n in (1, 3, 17, 33):
        part = PopulationNet.build(template, vectors[:n])
        for t in range(3):
            assert torch.equal(part(obs[:n, t]), outputs[t][:n])


def test_lap_time_bonus_rewards_only_clean_laps_and_the_faster():
    spec = EvalSpec(level="normal", continuous=True, backbone_options={"widths": (16,)}, episodes=2, max_steps=600)
    vectors = np.stack([_steering_driver(spec, i) for i in range(P)])
    plain, laps = PopulationEvaluator(spec, seed=0).evaluate(vectors)
    timed = dataclasses.replace(spec, lap_time_bonus=40.0)
    bonus, _ = PopulationEvaluator(timed, seed=0).evaluate(vectors)
    gained = bonus - plain
    assert (laps > 0).any() and (laps == 0).any()
    np.testing.assert_array_equal(gained[laps == 0], 0.0)  # no lap, no bonus
    # a lap of s steps earns 40 (1 - s / 600): more than nothing, less than the whole bonus
    assert ((gained[laps > 0] > 0) & (gained[laps > 0] < 40.0 * laps[laps > 0])).all()
    alone = [PopulationEvaluator(dataclasses.replace(timed, slots=K), seed=0).evaluate(v[None])[0][0] for v in vectors]
    np.testing.assert_array_equal(PopulationEvaluator(dataclasses.replace(timed, slots=3), seed=0).evaluate(vectors)[0],
                                  alone)
    with pytest.raises(ValueError, match="lap_time_bonus must be >= 0"):
        EvalSpec(lap_time_bonus=-1.0)
