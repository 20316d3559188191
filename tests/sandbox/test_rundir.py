"""No run is ever lost: a second run into a folder (or file) that holds one is refused and the first run's
files stay byte for byte; --overwrite replaces only once the new run writes; --resume continues the named run
and refuses what it cannot apply; a run that cannot start leaves nothing behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.runs.checkpoints import load_checkpoint
from sandbox.runs.rundir import check_new_run_dir, clear_old_run, free_run_dir

A2C = ["train", "--agent", "a2c", "--num-envs", "2", "--total-timesteps", "64", "--eval-episodes", "1"]
GA = ["evolve", "--population", "4", "--generations", "1", "--episodes", "1"]


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256 of its bytes)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "a2c"
    assert main([*A2C, "--run-dir", str(run)]) == 0
    return run


def test_a_second_train_into_a_run_is_refused_and_the_first_is_untouched(trained, capsys):
    before = _files(trained)
    assert main([*A2C, "--run-dir", str(trained), "--seed", "1"]) == 2
    _one_line_error(capsys, str(trained), "--resume", "--overwrite")
    assert _files(trained) == before


def test_overwrite_replaces_the_run_only_once_the_new_one_writes(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    before = _files(run)
    # a new run that fails before its first update (a backbone that cannot be built) touches nothing
    assert main([*A2C, "--run-dir", str(run), "--overwrite", "--backbone", "tests.nonexistent:Net"]) == 2
    assert _files(run) == before
    assert main([*A2C, "--run-dir", str(run), "--overwrite", "--seed", "1"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["run"]["settings"]["seed"] == 1
    assert len(list((run / "tensorboard").iterdir())) == 1  # the old run's events are gone, not mixed in


def test_default_run_names_take_the_next_free_suffix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(A2C) == 0 and main(A2C) == 0
    assert (tmp_path / "runs" / "a2c-0" / "checkpoint.pt").is_file()
    assert (tmp_path / "runs" / "a2c-0_2" / "checkpoint.pt").is_file()
    assert "wrote runs/a2c-0_2/" in capsys.readouterr().out
    assert free_run_dir(tmp_path / "runs" / "a2c-0") == tmp_path / "runs" / "a2c-0_3"


def test_a_second_evolution_into_a_run_is_refused(tmp_path, capsys):
    run = tmp_path / "ga"
    assert main([*GA, "--run-dir", str(run)]) == 0
    before = _files(run)
    assert main([*GA, "--run-dir", str(run), "--seed", "1"]) == 2
    _one_line_error(capsys, "--resume", "--overwrite")
    assert _files(run) == before
    assert main([*GA, "--run-dir", str(run), "--seed", "1", "--overwrite"]) == 0
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "fitness.png", "hall_of_fame", "logbook.csv"]


@pytest.mark.parametrize("argv", [A2C, GA, ["demo", "--steps", "2"]])
def test_a_run_dir_that_is_a_file_is_refused(argv, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("mine")
    flag = "--out" if argv[0] == "demo" else "--run-dir"
    assert main([*argv, flag, str(target)]) == 2
    _one_line_error(capsys, str(target), "is a file")
    assert target.read_text() == "mine"


def test_a_folder_of_other_files_is_never_cleared(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not a sandbox run"):
        check_new_run_dir(tmp_path, overwrite=True)
    clear_old_run(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_a_budget_below_one_update_is_refused_with_the_minimum(tmp_path, capsys):
    run = tmp_path / "small"
    assert main(["train", "--agent", "a2c", "--total-timesteps", "2000", "--run-dir", str(run)]) == 2
    _one_line_error(capsys, "--total-timesteps 2,000", "at least 2,048")
    assert not run.exists()


def test_a_run_without_an_update_claims_nothing(tmp_path, capsys):
    run = tmp_path / "reinforce"
    argv = ["train", "--agent", "reinforce", "--num-envs", "2", "--total-timesteps", "4096", "--run-dir", str(run)]
    assert main(argv) == 2  # 2 cars x 2048 steps: no episode of CarDrive ends, so no batch of finished ones
    line = _one_line_error(capsys, "no update", "--total-timesteps")
    assert "wrote" not in line and not run.exists()


def test_rounding_to_whole_rollouts_is_said(tmp_path, capsys):
    assert main([*A2C[:-4], "--total-timesteps", "80", "--run-dir", str(tmp_path / "r"), "--eval-episodes", "1"]) == 0
    err = capsys.readouterr().err
    assert "trains 64 steps (2 updates)" in err
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["global_step"] == 64


def test_resume_refuses_flags_it_cannot_apply_and_extends_budgets(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(trained, run)
    for flag in (["--agent", "sarsa"], ["--optimizer", "sgd"], ["--seed", "3"], ["--num-envs", "4"]):
        assert main(["train", "--resume", str(run), *flag]) == 2
        _one_line_error(capsys, flag[0], "cannot apply to a resumed run")
    assert main(["train", "--resume", str(run), "--total-timesteps", "32"]) == 2
    _one_line_error(capsys, "can only be extended")
    assert main(["train", "--resume", str(run), "--total-timesteps", "128"]) == 0
    assert "extending the run from 64 to 128" in capsys.readouterr().err
    assert load_checkpoint(run / "checkpoint.pt")["global_step"] == 128
    steps = [line.split(",")[0] for line in (run / "progress.csv").read_text().splitlines()[1:]]
    assert steps == ["32.0", "64.0", "96.0", "128.0"]


def test_resume_with_the_wrong_command_names_the_right_one(tmp_path, capsys):
    run = tmp_path / "ga"
    assert main([*GA, "--run-dir", str(run)]) == 0
    assert main(["train", "--resume", str(run)]) == 2
    _one_line_error(capsys, "an evolution run", f"sandbox evolve --resume {run}")


def test_evolve_resume_extends_the_generations(tmp_path, capsys):
    run = tmp_path / "ga"
    assert main([*GA, "--run-dir", str(run)]) == 0
    assert main(["evolve", "--resume", str(run), "--population", "8"]) == 2
    _one_line_error(capsys, "--population", "cannot apply")
    assert main(["evolve", "--resume", str(run), "--generations", "2"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["generation"] == 2
    assert len((run / "logbook.csv").read_text().splitlines()) == 3  # header + two generations


def test_watch_evolve_resume_continues_the_named_run(tmp_path, capsys):
    run = tmp_path / "ga"
    assert main([*GA, "--run-dir", str(run)]) == 0
    argv = ["watch", "--evolve", "ga", "--resume", str(run), "--generations", "2", "--headless", "--speed", "max"]
    assert main(argv) == 0
    assert load_checkpoint(run / "checkpoint.pt")["generation"] == 2
    assert main(["watch", "--evolve", "cma", "--resume", str(run), "--headless"]) == 2
    _one_line_error(capsys, "--evolve cma", "evolution")


def test_a_cardrive_flag_with_another_env_is_refused(tmp_path, capsys):
    assert main(["train", "--agent", "a2c", "--env", "CartPole-v1", "--level", "hard",
                 "--run-dir", str(tmp_path / "cp")]) == 2
    _one_line_error(capsys, "--level", "CartPole-v1")


def test_evolve_takes_a_population_of_two(tmp_path):
    from evolve.config import EvolveConfig

    assert EvolveConfig(population=2).elites == 1
    assert main(["evolve", "--population", "2", "--generations", "1", "--episodes", "1",
                 "--run-dir", str(tmp_path / "two")]) == 0


def test_collect_refuses_an_existing_file_and_a_folder(tmp_path, capsys):
    out = tmp_path / "data.npz"
    argv = ["collect", "--driver", "controller", "--steps", "20", "--num-envs", "2", "--obs", "rays"]
    assert main([*argv, "--out", str(out)]) == 0
    before = _files(tmp_path)
    assert main([*argv, "--out", str(out), "--seed", "1"]) == 2
    _one_line_error(capsys, str(out), "--overwrite")
    assert main([*argv, "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "is a folder")
    assert _files(tmp_path) == before  # and no stray temporary file
    assert main([*argv, "--out", str(out), "--seed", "1", "--overwrite"]) == 0


def test_a_second_fit_into_a_run_is_refused(tmp_path, capsys):
    from tests.sandbox.components_data import tiny_file

    data, run = tiny_file(tmp_path, obs="rays", steps=64), tmp_path / "bc"
    argv = ["fit", "bc", "--data", str(data), "--epochs", "1", "--run-dir", str(run)]
    assert main(argv) == 0
    before = _files(run)
    assert main([*argv, "--seed", "1"]) == 2
    _one_line_error(capsys, str(run), "--resume", "--overwrite")
    assert _files(run) == before
    assert main(["fit", "bc", "--data", str(data), "--run-dir", str(run), "--resume", "--batch-size", "8"]) == 2
    _one_line_error(capsys, "--batch-size", "cannot apply")
    assert main([*argv, "--overwrite", "--seed", "1"]) == 0
