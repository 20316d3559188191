"""A checkpoint decides no code: a "module:attr" backbone or a "module:EnvId" env id stored in one is refused by
every loader, in one line naming the file, the spec and --trust-code, before anything is imported."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from evolve import load_evolved_driver, run_evolution
from sandbox.backbones import available_backbones, make_backbone
from sandbox.commands.drivers import load_driver
from sandbox.commands.train import run_training
from sandbox.components.base import load_component
from sandbox.components.driving import load_driving_component as load_component_policy
from sandbox.runs.checkpoints import load_checkpoint, save_checkpoint
from sandbox.runs.trust import UntrustedCodeError, check_checkpoint, check_trusted, code_specs
from tests.sandbox.spaces import cardrive_space

PLUGIN = "tests.agents.plugin:TinyBackbone"
TINY_RUN = {"num_envs": 2, "total_timesteps": 32}


@pytest.fixture(scope="module")
def agent_checkpoint(tmp_path_factory):
    """A real A2C checkpoint on the built-in "mlp" backbone."""
    run_dir = tmp_path_factory.mktemp("a2c")
    run_training("a2c", TINY_RUN, run_dir, eval_episodes=1)
    return run_dir / "checkpoint.pt"


@pytest.fixture(scope="module")
def evolution_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ga")
    run_evolution({"population": 4, "generations": 1, "episodes": 1, "max_steps": 30, "heldout_episodes": 1,
                   "backbone_options": {"widths": (4,)}}, run_dir, progress=False)
    return run_dir


@pytest.fixture
def no_this():
    """`this` prints the Zen of Python on import: the spec an edited checkpoint names to show code ran."""
    sys.modules.pop("this", None)
    yield
    assert "this" not in sys.modules, "a refused checkpoint imported the module it names"


def edited(source, target, edit) -> str:
    """A copy of the checkpoint `source` at `target`, `edit(payload)` applied (what a person with a hex editor
    or a download does)."""
    payload = load_checkpoint(source)
    payload.pop("format_version")
    edit(payload)
    save_checkpoint(target, payload)
    return str(target)


def refused(load, path, spec: str, what: str = "backbone") -> None:
    with pytest.raises(UntrustedCodeError) as info:
        load()
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    assert message.startswith(f"{path}: its {what} {spec!r} names code outside the sandbox")
    assert "--trust-code" in message


def test_an_agent_naming_code_is_refused_and_nothing_is_imported(agent_checkpoint, tmp_path, no_this):
    path = edited(agent_checkpoint, tmp_path / "zen.pt", lambda p: p["run"]["settings"].update(backbone="this:s"))
    refused(lambda: load_driver(path), path, "this:s")
    refused(lambda: load_driver(path, level="easy"), path, "this:s")


def test_a_recurrent_backbones_stem_naming_code_is_refused(agent_checkpoint, tmp_path, no_this):
    options = {"hidden_size": 8, "stem": "this:s"}
    path = edited(agent_checkpoint, tmp_path / "stem.pt", lambda p: p["run"]["settings"].update(
        backbone="gru", backbone_options=options))
    refused(lambda: load_driver(path), path, "this:s")


def test_a_stored_env_id_naming_a_module_is_refused(agent_checkpoint, tmp_path, no_this):
    path = edited(agent_checkpoint, tmp_path / "env.pt", lambda p: p["run"]["settings"].update(env_id="this:Env-v0"))
    with pytest.raises(UntrustedCodeError, match=r"env id 'this:Env-v0' .*\(module:EnvId\); pass --trust-code"):
        load_driver(path)


def test_a_plug_in_backbone_loads_and_drives_only_when_trusted(tmp_path):
    run_training("a2c", {**TINY_RUN, "backbone": PLUGIN}, tmp_path, eval_episodes=1)
    path = tmp_path / "checkpoint.pt"
    refused(lambda: load_driver(path), str(path), PLUGIN)
    policy = load_driver(path, trust_code=True)
    actions = policy.act(np.zeros((3, *cardrive_space("rays").shape), dtype=np.float32))
    assert actions.shape == (3,)


def test_builtin_and_entry_point_backbones_need_no_trust(agent_checkpoint):
    assert "latent" in available_backbones()  # published by pyproject.toml's entry point, not registered
    assert code_specs({"run": {"settings": {"backbone": "latent", "env_id": "sandbox/CarDrive-v0"}}}) == []
    check_checkpoint({"config": {"backbone": "latent", "arch_families": ["mlp", "attention"]}}, "x.pt")
    assert load_driver(agent_checkpoint).name == "a2c"


def test_evolved_drivers_and_runs_naming_code_are_refused(evolution_run, tmp_path, no_this):
    champion = evolution_run / "hall_of_fame" / "rank0.pt"
    driver = edited(champion, tmp_path / "driver.pt", lambda p: p.update(backbone="this:s"))
    refused(lambda: load_driver(driver), driver, "this:s")
    refused(lambda: load_evolved_driver(driver), driver, "this:s")
    refused(lambda: load_evolved_driver(load_checkpoint(driver), source=driver), driver, "this:s")
    load_evolved_driver(load_checkpoint(champion))  # the real one needs no trust

    (tmp_path / "run").mkdir()
    run = edited(evolution_run / "checkpoint.pt", tmp_path / "run" / "checkpoint.pt",
                 lambda p: p["config"].update(arch_families=["mlp", "this:s"]))
    refused(lambda: load_driver(run), run, "this:s")  # before it looks for the champion, which is missing here

    def gene(payload):
        payload["population"][0]["arch"] = json.dumps({"family": "this:s", "widths": [4], "activation": "tanh"})

    genes = edited(evolution_run / "checkpoint.pt", tmp_path / "genes.pt", gene)
    refused(lambda: check_checkpoint(load_checkpoint(genes), genes), genes, "this:s")


def test_components_naming_code_are_refused(tmp_path, no_this):
    path = str(tmp_path / "bc.pt")
    save_checkpoint(path, {"component": "bc", "shapes": {"obs": [9], "action": 5},
                           "config": {"obs": "rays", "backbone": "this:s"}, "model": {}})
    refused(lambda: load_component(path), path, "this:s")
    refused(lambda: load_component_policy(path), path, "this:s")
    refused(lambda: load_driver(path), path, "this:s")
    # the latent backbone reads an autoencoder's checkpoint: never trusted, whatever its options say
    refused(lambda: make_backbone("latent", cardrive_space("pixels"), checkpoint=path), path, "this:s")


def test_check_trusted_is_one_call_for_any_source():
    check_trusted([("backbone", "this:s")], "x.pt", trust_code=True)
    check_trusted([("backbone", "mlp"), ("env id", "CartPole-v1")], "x.pt")
    with pytest.raises(UntrustedCodeError, match=r"^x\.pt: its backbone 'a\.b:C' names code"):
        check_trusted([("backbone", "a.b:C")], "x.pt")
