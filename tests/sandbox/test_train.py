"""`sandbox train` and `sandbox eval`: the run directory's files, the evaluation JSON, resuming a run killed
with kill -9, and errors that name the problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from sandbox.cli import main
from sandbox.runs.checkpoints import load_checkpoint
from tests.killed_run import assert_resume_after_kill_9_equals_uninterrupted

TINY = ["--total-timesteps", "1024", "--num-envs", "8", "--eval-episodes", "3", "--checkpoint-every", "2"]


def test_train_writes_the_run_directory_and_eval_reads_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--agent", "a2c", "--level", "normal", "--run-dir", str(run), "--eval-every", "4",
                 *TINY]) == 0
    names = sorted(p.name for p in run.iterdir())
    assert names == ["best.json", "best.pt", "checkpoint.pt", "eval.json", "learning_curve.png", "progress.csv",
                     "tensorboard"]  # best.*: --eval-every keeps the best evaluation's driver
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    for tag in ("global_step", "charts/SPS", "losses/policy_loss", "losses/value_loss", "losses/entropy",
                "eval/lap_rate", "eval/clean_lap_rate"):
        assert tag in header
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").iterdir())
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt"), "--episodes", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"episodes", "mean_return", "lap_rate", "clean_lap_rate", "median_lap_steps"}
    assert result["episodes"] == 4 and 0.0 <= result["clean_lap_rate"] <= result["lap_rate"] <= 1.0


def test_eval_on_cartpole_reports_the_mean_return(tmp_path, capsys):
    run = tmp_path / "cp"
    argv = ["train", "--agent", "reinforce", "--env", "CartPole-v1", "--run-dir", str(run), *TINY]
    argv[argv.index("1024")] = "8192"  # two updates of REINFORCE's 4096 steps of finished episodes
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt"), "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["mean_return"] > 0


def test_short_updates_are_checkpointed_by_env_steps_not_every_20_updates(tmp_path):
    """8 envs x 5 steps is 40 steps an update: every 20 updates would write ~1,250 checkpoints in 1M steps."""
    from sandbox.commands.train import default_checkpoint_every, run_training

    assert default_checkpoint_every(2048) == 25 and default_checkpoint_every(8192) == 20
    assert default_checkpoint_every(40) == 1250
    seen = []
    run_training("a2c", {"env_id": "CartPole-v1", "num_envs": 8, "num_steps": 5, "total_timesteps": 4000},
                 tmp_path / "run", eval_episodes=1, on_event=lambda e: seen.append(e["update"]) if e["kind"] == "update"
                 else None)
    payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["run"]["checkpoint_every"] == 1250
    assert payload["update"] == seen[-1] == 100  # only the final checkpoint: 100 updates, none a multiple of 1,250


def _train_command(run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sandbox", "train", "--agent", "a2c", "--run-dir", str(run), "--num-envs", "8",
            "--total-timesteps", "38400", "--checkpoint-every", "10", "--eval-episodes", "2", *extra]


def test_resume_after_kill_9_ends_as_the_uninterrupted_run(tmp_path):
    """The best evaluation's driver too: the resumed run keeps the same best.pt and best.json."""
    whole, killed = assert_resume_after_kill_9_equals_uninterrupted(
        tmp_path, lambda run: _train_command(run, "--eval-every", "5"), 38400)
    assert json.loads((killed / "best.json").read_text()) == json.loads((whole / "best.json").read_text())
    a, b = load_checkpoint(whole / "best.pt"), load_checkpoint(killed / "best.pt")
    assert a["update"] == b["update"] == json.loads((whole / "best.json").read_text())["update"]
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(("argv", "message"), [
    (["train"], "--agent is required"),
    (["train", "--resume", "/nonexistent/run"], "no checkpoint at"),
    (["eval", "/nonexistent/c.pt"], "no checkpoint at"),
    (["train", "--agent", "reinforce", "--total-timesteps", "100"], "below batch_size"),
    (["train", "--agent", "a2c", "--backbone", "torch.nn:Linear", "--run-dir", "/nonexistent/run"],
     "backbone 'torch.nn:Linear'"),
    (["evolve", "--backbone", "torch.nn:Linear", "--run-dir", "/nonexistent/run"], "backbone 'torch.nn:Linear'"),
])
def test_errors_name_the_problem(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not Path("/nonexistent/run").exists()


def test_unknown_agent_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--agent", "dqn"])
    assert "--agent" in capsys.readouterr().err


@pytest.mark.parametrize("agent", ["qlearning", "sarsa"])
def test_value_agents_train_and_evaluate_from_the_command_line(agent, tmp_path, capsys):
    run = tmp_path / agent
    assert main(["train", "--agent", agent, "--run-dir", str(run), *TINY]) == 0
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    assert "losses/td_loss" in header and "charts/epsilon" in header
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoint.pt"), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2


def test_value_agents_refuse_continuous_actions_naming_the_alternatives(tmp_path, capsys):
    assert main(["train", "--agent", "qlearning", "--continuous", "--run-dir", str(tmp_path / "q"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "Discrete actions" in err and "reinforce, a2c or ppo" in err and "Traceback" not in err


def test_a_nan_loss_stops_the_run_and_names_the_last_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "nan"
    argv = ["train", "--agent", "a2c", "--learning-rate", "1e30", "--run-dir", str(run), *TINY]
    argv[argv.index("--checkpoint-every") + 1] = "1"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the loss became" in err and f"last good checkpoint is {run / 'checkpoint.pt'} (update 1)" in err
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["update"] == 1 and all(torch.isfinite(v).all() for v in payload["model"].values())
    assert f"`sandbox train --resume {run} --learning-rate LOWER` continues from it" in err


def test_non_finite_weights_stop_a_run_before_they_are_used_or_saved():
    from sandbox.commands.train import check_weights

    net = torch.nn.Linear(2, 2)
    check_weights(net, "a2c", 3)  # finite: nothing to say
    with torch.no_grad():
        net.weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match="a2c: the weights became non-finite at update 3"):
        check_weights(net, "a2c", 3)


def test_the_progress_line_says_no_episode_yet_and_ends_with_a_newline(tmp_path, capsys):
    from sandbox.runs.runlog import RunLog

    log = RunLog(tmp_path / "log", total_steps=100)
    assert not (tmp_path / "log").exists()  # nothing is created before the first write
    log.write(50, {"charts/episodic_return": float("nan"), "charts/SPS": 10.0})
    log.write(100, {"charts/episodic_return": 3.5, "charts/SPS": 10.0})
    log.close()
    err = capsys.readouterr().err
    assert "no episode yet" in err and "nan" not in err and "return     3.50" in err
    assert err.endswith("\n")


def test_a_run_says_which_settings_it_used_and_set_overrides_them(tmp_path, capsys):
    run = tmp_path / "cp"
    assert main(["train", "--agent", "a2c", "--env", "CartPole-v1", "--total-timesteps", "256", "--eval-episodes",
                 "1", "--set", "gamma=0.98", "--set", "num_steps=4", "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    from agents.settings import tuned_settings

    shipped, _ = tuned_settings("a2c", "CartPole-v1")
    assert f"settings: a2c on CartPole-v1 from a2c.toml [CartPole-v1]: num_envs={shipped['num_envs']}" in err
    settings = load_checkpoint(run / "checkpoint.pt")["run"]["settings"]
    assert settings["gamma"] == 0.98 and settings["num_steps"] == 4 and settings["num_envs"] == shipped["num_envs"]


def test_a_shipped_sensor_setting_goes_under_the_user_level_and_into_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "rays"
    assert main(["train", "--agent", "a2c", "--level", "normal", "--total-timesteps", "2048", "--eval-episodes",
                 "1", "--run-dir", str(run)]) == 0
    assert "env_kwargs={'n_rays': 25}" in capsys.readouterr().err  # said among the settings used
    settings = load_checkpoint(run / "checkpoint.pt")["run"]["settings"]
    assert settings["env_kwargs"] == {"level": "normal", "n_rays": 25}
    from sandbox.commands.drivers import load_driver

    driver = load_driver(run / "checkpoint.pt")  # drives again with the rays it learned on
    assert driver.env_kwargs["n_rays"] == 25
    from sandbox.commands.collect import collect
    from sandbox.runs.trajectories import load_trajectories

    collect(str(run / "checkpoint.pt"), level="normal", steps=40, out=tmp_path / "d.npz", obs="rays", num_envs=2,
            progress=False)
    arrays, meta = load_trajectories(tmp_path / "d.npz")
    assert meta["n_rays"] == 25 and arrays["rays"].shape[1] == 25 * 3 + 2


def test_n_rays_chooses_the_sensor_over_the_shipped_one_and_only_on_cardrive(tmp_path, capsys):
    run = tmp_path / "rays"
    assert main(["train", "--agent", "a2c", "--level", "normal", "--n-rays", "13", "--total-timesteps", "2048",
                 "--eval-episodes", "1", "--run-dir", str(run)]) == 0
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["run"]["settings"]["env_kwargs"] == {"level": "normal", "n_rays": 13}
    first = next(v for k, v in payload["model"].items() if k.endswith("weight"))
    assert first.shape[1] == 13 * 3 + 2  # the network reads 13 rays' three channels, speed and heading
    capsys.readouterr()
    assert main(["train", "--agent", "a2c", "--env", "CartPole-v1", "--n-rays", "5", "--run-dir",
                 str(tmp_path / "cp")]) == 2
    assert "--n-rays applies to sandbox/CarDrive-v0 only" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "message"), [
    ("gama=0.9", "unknown a2c setting(s) ['gama']"),
    ("gamma=2", "gamma"),
    ("env_id=CartPole-v1", "--env"),
    ("=3", "KEY=VALUE"),
    ("learning_rate=abc", "learning_rate must be a number, got 'abc'"),  # a string reaching the optimiser
    ("gamma=true", "gamma must be a number, got True"),  # a bool taken as 1.0
    ("backbone_options=3", "backbone_options must be a table"),  # a TypeError in make_backbone
])
@pytest.mark.parametrize("agent", ["a2c", "ppo", "qlearning"])
def test_a_bad_set_is_one_line_naming_it(agent, flag, message, tmp_path, capsys):
    message = message.replace("a2c", agent)
    try:
        code = main(["train", "--agent", agent, "--set", flag, "--run-dir", str(tmp_path / "r")])
    except SystemExit as exit_info:  # refused by the parser
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_pixels_run_with_no_backbone_flag_trains_the_shipped_cnn(tmp_path, capsys):
    run = tmp_path / "pixels"
    assert main(["train", "--agent", "ppo", "--level", "normal", "--obs", "pixels", "--total-timesteps", "64",
                 "--num-envs", "2", "--set", "num_steps=32", "--eval-episodes", "1", "--run-dir", str(run)]) == 0
    assert "backbone=cnn" in capsys.readouterr().err
    config = load_checkpoint(run / "checkpoint.pt")["config"]
    assert config["backbone"] == "cnn" and config["backbone_options"]["stem_stride"] == 4


def test_a_run_from_a_student_takes_its_sensor_and_network(tmp_path, capsys):
    """DAgger ships 49 rays, continuous actions and an MLP 256-256 on normal; PPO started from its student
    drives that sensor with that network (and raw observations) with no flag naming them."""
    student = tmp_path / "student"
    assert main(["train", "--agent", "dagger", "--level", "normal", "--total-timesteps", "64", "--num-envs", "2",
                 "--set", "num_steps=32", "--eval-episodes", "1", "--run-dir", str(student)]) == 0
    run = tmp_path / "ppo"
    capsys.readouterr()
    assert main(["train", "--agent", "ppo", "--level", "normal", "--init-from", str(student / "checkpoint.pt"),
                 "--total-timesteps", "64", "--num-envs", "2", "--set", "num_steps=32", "--eval-episodes", "1",
                 "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"and the student {student / 'checkpoint.pt'}" in err and "backbone, critic_backbone, pi copied" in err
    settings = load_checkpoint(run / "checkpoint.pt")["run"]["settings"]
    assert settings["env_kwargs"] == {"level": "normal", "n_rays": 49, "continuous": True}
    assert settings["backbone_options"]["widths"] == (256, 256) and settings["normalize_observation"] is False
    # Q-learning takes the student's rays and backbone but keeps its Discrete actions
    assert main(["train", "--agent", "qlearning", "--level", "normal", "--init-from", str(student / "checkpoint.pt"),
                 "--total-timesteps", "1000", "--eval-episodes", "1", "--run-dir", str(tmp_path / "q")]) == 0
    assert "continuous" not in load_checkpoint(tmp_path / "q" / "checkpoint.pt")["run"]["settings"]["env_kwargs"]
