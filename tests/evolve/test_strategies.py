"""The strategy registry: a strategy written as one object runs, checkpoints and resumes like the shipped ones;
names are unique."""

import pytest
from deap import tools

from evolve import make_config, resume_evolution, run_evolution
from evolve.strategies import STRATEGIES, Strategy, register_strategy
from sandbox.runs.checkpoints import load_checkpoint

SETTINGS = {"strategy": "toy", "population": 4, "generations": 2, "episodes": 1, "max_steps": 60,
            "heldout_episodes": 3}


def _random_search(config, toolbox, population, hof, stats, state):
    """Random search: every generation a fresh random population; only the hall of fame remembers."""
    population = toolbox.population(n=config.population)
    for individual, fitness in zip(population, toolbox.map(toolbox.evaluate, population), strict=True):
        individual.fitness.values = fitness
    hof.update(population)
    state["drawn"] += len(population)  # a state of its own, so the checkpoint must carry it
    logbook = tools.Logbook()
    logbook.record(gen=0, nevals=len(population), **stats.compile(population))
    return population, logbook


RANDOM_SEARCH = Strategy(
    name="toy",
    help="random search: a fresh random population every generation",
    generation=_random_search,
    start=lambda config, toolbox, spaces: ([], {"drawn": 0}),
    save_state=lambda state: dict(state),
    restore_state=lambda config, spaces, saved: {"drawn": int(saved["drawn"])},
)


@pytest.fixture
def toy():
    register_strategy(RANDOM_SEARCH)
    yield RANDOM_SEARCH
    del STRATEGIES[RANDOM_SEARCH.name]


class _StoppedError(Exception):
    pass


def _stop_after_1(event):
    if event["kind"] == "generation" and event["generation"] == 1:
        raise _StoppedError  # as if killed right after generation 1's checkpoint


def test_a_registered_strategy_runs_and_resumes_as_uninterrupted(toy, tmp_path):
    full = run_evolution(SETTINGS, tmp_path / "full", progress=False)
    with pytest.raises(_StoppedError):
        run_evolution(SETTINGS, tmp_path / "run", on_event=_stop_after_1, progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["strategy_state"] == {"drawn": 4}
    resumed = resume_evolution(tmp_path / "run", progress=False)

    def timeless(record):
        return {k: v for k, v in record.items() if k not in ("seconds", "evals_per_s")}

    assert timeless(resumed) == timeless(full) and resumed["gen"] == 2 and resumed["nevals"] == 4
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("full", "run"))
    assert a["strategy_state"] == b["strategy_state"] == {"drawn": 8}
    assert [s["fitness"] for s in a["hof"]] == [s["fitness"] for s in b["hof"]]
    assert (tmp_path / "run" / "hall_of_fame" / "rank0.pt").is_file()


def test_a_duplicate_name_is_refused_unless_replaced():
    impostor = Strategy(name="ga", help="not the genetic algorithm", generation=_random_search)
    shipped = STRATEGIES["ga"]
    with pytest.raises(ValueError, match="'ga' is registered already"):
        register_strategy(impostor)
    assert STRATEGIES["ga"] is shipped
    try:
        assert register_strategy(impostor, replace=True) is STRATEGIES["ga"] is impostor
    finally:
        STRATEGIES["ga"] = shipped


def test_what_a_strategy_must_say_about_itself():
    for name, strategy in STRATEGIES.items():
        assert strategy.name == name and strategy.help and "\n" not in strategy.help
    assert list(STRATEGIES)[:3] == ["ga", "cma", "arch"]  # the CLI lists them in this order
    with pytest.raises(ValueError, match="one word"):
        Strategy(name="random search", help="two words", generation=_random_search)
    with pytest.raises(ValueError, match="one-line help"):
        Strategy(name="toy", help="", generation=_random_search)
    with pytest.raises(TypeError, match="takes a Strategy"):
        register_strategy({"name": "toy"})


def test_an_unknown_name_lists_the_registry_and_each_strategy_checks_its_own_settings(toy):
    with pytest.raises(ValueError, match="strategy must be one of ga, cma, arch, openai-es, toy"):
        make_config({"strategy": "pso"})
    for strategy in ("ga", "arch"):  # eaSimple draws the two independently
        make_config({"strategy": strategy, "cxpb": 0.5, "mutpb": 0.8})
    for settings in ({"strategy": "arch", "algorithm": "mu+lambda"}, {"strategy": "ga", "algorithm": "mu+lambda"}):
        with pytest.raises(ValueError, match="cxpb \\+ mutpb must be <= 1 for eaMuPlusLambda"):
            make_config({**settings, "cxpb": 0.5, "mutpb": 0.8})


def test_architecture_evolution_starts_from_the_runs_backbone_or_at_random():
    import random

    from evolve.evaluate import spaces_of
    from evolve.genome import ArchGenes
    from evolve.strategies import make_toolbox

    def first_archs(**settings):
        config = make_config({"strategy": "arch", "population": 12, **settings})
        random.seed(0)
        toolbox = make_toolbox(config, spaces_of(config.eval_spec()), lambda individual: (0.0,), map)
        population, _ = STRATEGIES["arch"].start(config, toolbox, spaces_of(config.eval_spec()))
        return {individual.arch for individual in population}

    assert first_archs(backbone_options={"widths": (8, 8), "activation": "relu"}) == {ArchGenes("mlp", (8, 8), "relu")}
    assert first_archs() == {ArchGenes("mlp", (16,), "tanh")}
    assert len(first_archs(arch_start="random")) > 3
    with pytest.raises(ValueError, match="arch_start must be backbone or random"):
        make_config({"strategy": "arch", "arch_start": "wide"})
