"""Whole-population evaluation: batched equals alone, every individual drives the same tracks."""

import numpy as np
import pytest

from evolve.evaluate import EvalSpec, PopulationEvaluator, spaces_of
from evolve.genome import make_driver, to_vector


def _vectors(spec, count, seed=0):
    spaces = spaces_of(spec)
    return np.stack([to_vector(make_driver(*spaces, spec.backbone, spec.backbone_options, seed=seed + i))
                     for i in range(count)])


@pytest.mark.parametrize("level, backbone, options", [
    ("normal", "mlp", {"widths": (16,)}),  # random pedestrian waits: each car's seed must not depend on its place
    ("hard", "mlp", {"widths": (8,), "activation": "step"}),
    ("easy", "attention", {"d_model": 8, "n_heads": 1, "n_layers": 1}),  # the vmap path
    ("easy", "attention", {"d_model": 8, "n_heads": 1, "n_layers": 1, "activation": "step"}),  # vmap of the step
    ("normal", "gru", {"hidden_size": 8, "stem_options": {"widths": (8,)}}),  # a state per network
    ("normal", "lstm", {"hidden_size": 8, "num_layers": 2, "stem_options": {"widths": (8,)}}),
])
def test_batched_fitness_equals_each_alone(level, backbone, options):
    spec = EvalSpec(level=level, backbone=backbone, backbone_options=options, episodes=2, max_steps=120)
    evaluator = PopulationEvaluator(spec, seed=0)
    vectors = _vectors(spec, 5)
    vectors[1] *= 3.0  # a wilder driver, so the population does not all behave alike
    fitness, laps = evaluator.evaluate(vectors)
    alone = np.array([evaluator.evaluate(v[None])[0][0] for v in vectors])
    np.testing.assert_array_equal(fitness, alone)
    assert len(set(fitness.round(6))) > 1 and ((laps >= 0) & (laps <= 1)).all()
    reordered, _ = evaluator.evaluate(vectors[::-1])
    np.testing.assert_array_equal(reordered, fitness[::-1])


def test_hook_sees_every_car_and_their_running_fitness():
    spec = EvalSpec(backbone_options={"widths": (8,)}, episodes=2, max_steps=40)
    evaluator = PopulationEvaluator(spec, seed=1)
    events = []
    fitness, _ = evaluator.evaluate(_vectors(spec, 3), hook=events.append, context={"generation": 7})
    assert events[0]["env"].num_envs == 6 and events[0]["generation"] == 7
    assert len(events[0]["car_fitness"]) == events[0]["env"].num_envs
    assert all(e["kind"] == "step" for e in events) and len(events) <= 40


def test_same_tracks_for_everyone_and_seeded():
    spec = EvalSpec(episodes=3)
    a, b = PopulationEvaluator(spec, seed=4), PopulationEvaluator(spec, seed=4)
    assert a.tracks == b.tracks and len(set(a.tracks)) == 3
    assert PopulationEvaluator(spec, seed=5).tracks != a.tracks
    with pytest.raises(ValueError, match="episodes must be an integer >= 1"):
        EvalSpec(episodes=0)


def test_fresh_tracks_are_each_generations_own_and_seeded():
    spec = EvalSpec(level="normal", backbone_options={"widths": (8,)}, episodes=3, max_steps=60, fresh_tracks=True)
    a, b = PopulationEvaluator(spec, seed=4), PopulationEvaluator(spec, seed=4)
    fixed = PopulationEvaluator(EvalSpec(level="normal", episodes=3), seed=4)
    assert a.tracks_of(0) == fixed.tracks_of(0) == fixed.tracks_of(5)  # without fresh tracks: the run's, always
    assert a.tracks_of(1) != a.tracks_of(2) and a.tracks_of(2) == b.tracks_of(2)
    vectors = _vectors(spec, 3)
    fitness, _ = a.evaluate(vectors, generation=2)
    np.testing.assert_array_equal(fitness, [b.evaluate(v[None], generation=2)[0][0] for v in vectors])
    assert not np.array_equal(fitness, a.evaluate(vectors, generation=1)[0])


def test_architectures_driven_together_score_as_each_alone():
    """Arch evolution's generation as one batch: a mix of MLP shapes and activations, each individual's
    fitness what its own architecture's batch gives."""
    from evolve.distributed import BatchFitness
    from evolve.genome import ArchGenes

    spec = EvalSpec(level="normal", episodes=2, max_steps=150)
    fitness = BatchFitness(spec, seed=0)
    archs = [ArchGenes("mlp", (16,), "tanh"), ArchGenes("mlp", (8, 12), "relu"), ArchGenes("mlp", (4,), "abs")]
    genomes = []
    for i, arch in enumerate(archs * 2):
        vector = to_vector(make_driver(*spaces_of(spec), "mlp", arch.backbone_options(), seed=i)) * (1 + i % 3)
        genomes.append((arch.key, vector.astype(np.float32)))
    together = fitness.batch(genomes)
    alone = [fitness.evaluator(key).evaluate(vector[None])[0][0] for key, vector in genomes]
    assert [f for (f,) in together] == alone and len(set(alone)) > 1
    assert fitness.batch(genomes[::-1]) == together[::-1]
