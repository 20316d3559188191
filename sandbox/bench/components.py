"""`sandbox bench components`: the trainable components, each against what a user would compare it with.

    VAE                 reconstruction error (MSE per pixel value in [0, 1]) on held-out frames, against the
                        mean training frame
    World Models        V + C (VAE latent + a CMA-ES controller, evolved on easy): lap and clean-lap rate on
                        held-out easy and normal tracks, driving from pixels; the rays controller beside it. Then,
                        evolved on normal with one budget and driven on 100 held-out normal tracks: V + M + C (an
                        MDN-RNN trained on the noisy expert's normal episodes, C on [z, h]) on that VAE, and V + C
                        and V + M + C on a VAE whose code also predicts the frame's rays (`aux_coef`), which
                        keeps the pedestrians that reconstruction alone drops
    GAIL vs BC          from 10 (and 40) expert episodes on normal: agreement with the expert's actions on held-out
                        states, lap and clean-lap rate on 100 held-out normal tracks; BC's epochs chosen on held-out
                        demonstrations, GAIL warm-started from that BC
    Decision Transformer  return on held-out easy tracks against the best and the mean trajectory of its (noisy
                        expert) data, conditioned on the best return and on 1.5x it

Budgets are small but for the controllers evolved on normal (150 generations of 24 on 6 tracks each, 10-25
minutes apiece on one core, the longer as the drivers last longer; on the plain VAE 25 generations on 4 tracks
lapped ~20% of normal cleanly, 150 on 6 lap 26-47%, depending on the VAE's fit as much as on CMA-ES's seed) and
the VAE with the rays auxiliary (64,000 frames, 5 epochs, ~8 minutes); the whole bench takes about an hour on
one core. Every row is one seed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sandbox.bench.timing import machine_line, single_thread
from sandbox.commands.tables import format_table

BUDGETS = {  # full, quick
    "frames": (8000, 400), "vae_epochs": (15, 1), "wm_generations": (25, 2), "wm_population": (24, 6),
    "aux_frames": (64_000, 400), "aux_vae_epochs": (5, 1),
    "mdn_steps": (8000, 400), "mdn_epochs": (50, 1), "wmm_generations": (150, 2), "wmm_population": (24, 6),
    "wmm_tracks": (6, 1), "wmm_max_steps": (600, 50), "wmm_heldout": (100, 4),
    "demo_episodes": ((10, 40), (2,)), "gail_steps": (500_000, 4096), "gail_epochs": (4, 1),
    "dt_episodes": (32, 4), "dt_epochs": (3, 1), "tracks": (30, 4), "imitation_tracks": (100, 4),
}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_components_bench(quick: bool = False, seed: int = 0, out: str = "runs/bench-components") -> str:
    """Run every row; return the Markdown tables with the machine line."""
    single_thread()
    b = {key: value[1 if quick else 0] for key, value in BUDGETS.items()}
    out_dir = Path(out)
    start = time.perf_counter()
    sections = [machine_line()]
    vae, vae_rows = _vae(b, seed, out_dir)
    aux_vae, aux_rows = _aux_vae(b, seed, out_dir)
    sections.append(format_table(["VAE (latent 32)", "held-out MSE", "mean-frame MSE", "ratio"], vae_rows + aux_rows))
    sections.append(format_table(["World Models (pixels)", "level", "lap rate", "clean-lap rate", "mean return"],
                                 _world_models(vae, b, seed) + _world_models_normal(vae, aux_vae, b, seed, out_dir)))
    sections.append(format_table(["imitation, normal", "demos", "agreement", "lap rate", "clean-lap rate"],
                                 _imitation(b, seed, out_dir)))
    sections.append(format_table(["Decision Transformer, easy", "return", "lap rate"], _transformer(b, seed, out_dir)))
    sections.append(f"total {time.perf_counter() - start:.0f} s")
    return "\n\n".join(sections)


def _vae(b: dict, seed: int, out_dir: Path) -> tuple[Any, list]:
    from sandbox.commands.collect import collect
    from sandbox.components.autoencoder import Autoencoder, AutoencoderConfig
    from sandbox.runs.trajectories import load_trajectories

    frames = []
    for level in ("easy", "normal"):
        for tracks, steps in (("train", b["frames"] // 2), ("heldout", b["frames"] // 8)):
            path = out_dir / f"frames-{level}-{tracks}.npz"
            collect("expert", level, steps, path, obs="pixels", tracks=tracks, seed=seed, noise=0.2, progress=False)
            frames.append((tracks, load_trajectories(path)[0]["pixels"]))
    train = torch.as_tensor(np.concatenate([f for t, f in frames if t == "train"]))
    heldout = torch.as_tensor(np.concatenate([f for t, f in frames if t == "heldout"]))
    config = AutoencoderConfig(variational=True, channels=(16, 32, 64), latent_dim=32, learning_rate=2e-3, seed=seed)
    vae = Autoencoder({"pixels": tuple(train.shape[1:])}, config)
    t = time.perf_counter()
    vae.fit({"pixels": train}, epochs=b["vae_epochs"])
    _say(f"VAE: {b['vae_epochs']} epochs on {len(train)} frames in {time.perf_counter() - t:.0f} s")
    return _saved_encoder("VAE", vae, train, heldout, out_dir / "vae.pt")


def _saved_encoder(name: str, vae: Any, train: torch.Tensor, heldout: torch.Tensor, path: Path) -> tuple[Any, list]:
    """Save `vae` at `path`; its encoder as a "latent" backbone, and its table row: held-out MSE against the
    mean training frame's."""
    import gymnasium

    from sandbox.components.latent import LatentBackbone

    vae.save(path)
    mse = vae.reconstruction_error(heldout)
    mean_frame = train.float().mean(0) / 255.0
    baseline = float((heldout.float() / 255.0 - mean_frame).pow(2).mean())
    row = [name, f"{mse:.5f}", f"{baseline:.5f}", f"{baseline / mse:.1f}x better"]
    space = gymnasium.spaces.Box(0, 255, tuple(heldout.shape[1:]), dtype=np.uint8)
    return LatentBackbone(space, checkpoint=path), [row]


def _aux_vae(b: dict, seed: int, out_dir: Path) -> tuple[Any, list]:
    """V for normal with the rays auxiliary: fitted on the noisy expert's normal frames and their 25 rays (the
    sensor normal's learners read); its held-out MSE, and how much of the rays' pedestrian channel its code
    predicts on held-out frames (R^2, said on stderr)."""
    from sandbox.commands.collect import collect
    from sandbox.components.autoencoder import Autoencoder, AutoencoderConfig
    from sandbox.runs.trajectories import load_trajectories

    data = {}
    for tracks, steps in (("train", b["aux_frames"]), ("heldout", b["aux_frames"] // 8)):
        path = out_dir / f"frames-normal-rays-{tracks}.npz"
        collect("expert", "normal", steps, path, obs="both", n_rays=25, tracks=tracks, seed=seed, noise=0.2,
                progress=False)
        data[tracks] = load_trajectories(path)
    config = AutoencoderConfig(variational=True, channels=(16, 32, 64), latent_dim=32, learning_rate=2e-3,
                               aux_coef=100.0, seed=seed)
    train = Autoencoder.dataset(*data["train"], aux_coef=config.aux_coef)
    vae = Autoencoder(Autoencoder.shapes_of(train), config)
    t = time.perf_counter()
    vae.fit(train, epochs=b["aux_vae_epochs"])
    _say(f"VAE with the rays auxiliary: {b['aux_vae_epochs']} epochs on {len(train['pixels'])} frames in "
         f"{time.perf_counter() - t:.0f} s; pedestrian channel R^2 on held-out frames "
         f"{_pedestrian_r2(vae, data['train'][0], data['heldout'][0]):.2f}")
    return _saved_encoder("VAE + rays auxiliary (normal)", vae, train["pixels"],
                          torch.as_tensor(data["heldout"][0]["pixels"]), out_dir / "vae-rays.pt")


def _pedestrian_r2(vae: Any, train: dict, heldout: dict, n_rays: int = 25) -> float:
    """R^2 of the aux head's prediction of the pedestrian channel (rays n+2 .. 2n+1) on held-out frames (NaN
    where no held-out frame sees a pedestrian)."""
    from sandbox.components.autoencoder import ray_statistics

    mean, std = ray_statistics(torch.as_tensor(train["rays"]))  # the dataset's standardisation
    with torch.no_grad():
        predicted = vae.aux_head(vae.encode(torch.as_tensor(heldout["pixels"]))) * std + mean
    columns = slice(n_rays + 2, 2 * n_rays + 2)
    truth = torch.as_tensor(heldout["rays"])[:, columns]
    residual = (predicted[:, columns] - truth).pow(2).sum()
    total = (truth - truth.mean(0)).pow(2).sum()
    return float(1 - residual / total) if total > 1e-9 else float("nan")


def _world_models(encoder: Any, b: dict, seed: int) -> list:
    from envs import drive_controller
    from sandbox.components.driving import ModulePolicy, drive
    from sandbox.components.world_models import WorldModelsConfig, evolve_controller

    config = WorldModelsConfig(population=b["wm_population"], generations=b["wm_generations"], seed=seed,
                               select_tracks=16 if b["wm_generations"] > 2 else 2)
    t = time.perf_counter()
    controller, history = evolve_controller(encoder, config, log=lambda e: _say(f"CMA-ES {e}"))
    _say(f"World Models: {config.generations} generations in {time.perf_counter() - t:.0f} s")
    rows = []
    for level in ("easy", "normal"):
        result = drive(controller, {**controller.env_kwargs, "level": level}, b["tracks"], seed=seed)
        rows.append(["V + C (evolved on easy)", level, f"{result['lap_rate']:.2f}", f"{result['clean_lap_rate']:.2f}",
                     f"{result['mean_return']:.1f}"])
        rays = ModulePolicy(lambda obs, d: drive_controller(obs, continuous=True), {})
        result = drive(rays, {"level": level, "obs": "rays", "continuous": True}, b["tracks"], seed=seed)
        rows.append(["rays controller (reads rays)", level, f"{result['lap_rate']:.2f}",
                     f"{result['clean_lap_rate']:.2f}", f"{result['mean_return']:.1f}"])
    return rows


def _world_models_normal(encoder: Any, aux_encoder: Any, b: dict, seed: int, out_dir: Path) -> list:
    """V + M + C on the plain VAE, then V + C and V + M + C on the VAE with the rays auxiliary, each evolved on
    normal's training tracks with the same budget and driven on its held-out ones; each M fitted first on the
    noisy expert's normal episodes (pixels, continuous actions) encoded by its V."""
    from sandbox.commands.collect import collect
    from sandbox.components.driving import drive
    from sandbox.components.mdn_rnn import MDNRNN, MDNRNNConfig
    from sandbox.components.world_models import WorldModelsConfig, evolve_controller
    from sandbox.runs.trajectories import load_trajectories

    path = out_dir / "sequences-normal.npz"
    collect("expert", "normal", b["mdn_steps"], path, obs="pixels", continuous=True, seed=seed, noise=0.2,
            progress=False)
    arrays, meta = load_trajectories(path)
    memories = {}
    for tag, v in (("", encoder), ("-rays", aux_encoder)):
        config = MDNRNNConfig(seed=seed)
        data = MDNRNN.dataset(arrays, meta, vae=v, sequence_length=config.sequence_length)
        memories[tag] = memory = MDNRNN(MDNRNN.shapes_of(data), config)
        t = time.perf_counter()
        history = memory.fit(data, epochs=b["mdn_epochs"])
        _say(f"MDN-RNN{tag}: {b['mdn_epochs']} epochs on {len(data['z'])} chunks of {config.sequence_length} in "
             f"{time.perf_counter() - t:.0f} s, NLL {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}")
        memory.save(out_dir / f"mdn_rnn{tag}.pt")
    wm = WorldModelsConfig(population=b["wmm_population"], generations=b["wmm_generations"], level="normal",
                           tracks=b["wmm_tracks"], max_steps=b["wmm_max_steps"], seed=seed,
                           select_tracks=16 if b["wmm_generations"] > 2 else 2)
    rows = []
    for name, v, m in (("V + M + C (evolved on normal)", encoder, memories[""]),
                       ("V (rays aux.) + C (evolved on normal)", aux_encoder, None),
                       ("V (rays aux.) + M + C (evolved on normal)", aux_encoder, memories["-rays"])):
        t = time.perf_counter()
        controller, _ = evolve_controller(v, wm, log=lambda e, n=name: _say(f"CMA-ES, {n}: {e}"), memory=m)
        _say(f"{name}: {wm.generations} generations in {time.perf_counter() - t:.0f} s")
        result = drive(controller, controller.env_kwargs, b["wmm_heldout"], seed=seed)
        rows.append([name, "normal", f"{result['lap_rate']:.2f}", f"{result['clean_lap_rate']:.2f}",
                     f"{result['mean_return']:.1f}"])
    return rows


def _imitation(b: dict, seed: int, out_dir: Path) -> list:
    from sandbox.commands.collect import collect
    from sandbox.runs.trajectories import load_trajectories

    probe_path = out_dir / "probe-normal.npz"
    collect("expert", "normal", 2000, probe_path, obs="rays", tracks="heldout", seed=seed + 1, progress=False)
    probe, _ = load_trajectories(probe_path)
    rows = []
    for episodes in b["demo_episodes"]:
        demos_path = out_dir / f"demos-normal-{episodes}.npz"
        collect("expert", "normal", 0, demos_path, obs="rays", episodes=episodes, seed=seed, progress=False)
        rows += _imitation_rows(load_trajectories(demos_path), probe, b, seed)
    return rows


def _imitation_rows(data: tuple[dict, dict], probe: dict, b: dict, seed: int) -> list:
    """BC (epochs chosen on held-out demonstrations) and GAIL warm-started from it, on the same demonstrations."""
    from sandbox.components.bc import BCConfig, BehaviourCloning
    from sandbox.components.driving import ModulePolicy, drive
    from sandbox.components.gail import GAIL, GAILConfig

    arrays, meta = data
    demos = BehaviourCloning.dataset(arrays, meta)
    env_kwargs = {"level": "normal", "obs": "rays", "continuous": False}
    bc = BehaviourCloning(BehaviourCloning.shapes_of(demos), BCConfig(seed=seed))
    chosen = bc.fit_early_stopping(demos)
    config = GAILConfig(level="normal", steps_per_epoch=b["gail_steps"], num_envs=64, a2c_learning_rate=1e-4,
                        ent_coef=0.0, disc_steps=1, seed=seed)
    gail = GAIL(GAIL.shapes_of(demos), config)
    t = time.perf_counter()
    gail.fit(demos, epochs=b["gail_epochs"], hook=lambda e: _say(f"GAIL {e}"))
    _say(f"GAIL: {b['gail_steps'] * b['gail_epochs']} env steps in {time.perf_counter() - t:.0f} s")
    episodes, rows = int(arrays["episode"].max()) + 1, []
    for name, act in ((f"behaviour cloning ({chosen['epochs']} epochs)", bc.act),
                      ("GAIL (BC warm start, A2C on D's reward)", gail.act)):
        agreement = float((act(probe["rays"]) == probe["action"]).mean())
        result = drive(ModulePolicy(act, env_kwargs), env_kwargs, b["imitation_tracks"], seed=seed)
        rows.append([name, f"{episodes} episodes, {len(demos['obs'])} steps", f"{agreement:.2f}",
                     f"{result['lap_rate']:.2f}", f"{result['clean_lap_rate']:.2f}"])
    return rows


def _transformer(b: dict, seed: int, out_dir: Path) -> list:
    from sandbox.commands.collect import collect
    from sandbox.components.driving import TransformerPolicy, drive
    from sandbox.components.transformer import DecisionTransformer, DTConfig, returns_to_go
    from sandbox.runs.trajectories import load_trajectories

    path = out_dir / "noisy-expert-easy.npz"
    collect("expert", "easy", 0, path, obs="rays", noise=0.3, seed=seed, episodes=b["dt_episodes"],
            max_episode_steps=600, progress=False)
    arrays, meta = load_trajectories(path)
    rtg = returns_to_go(arrays["reward"], arrays["episode"])
    starts = np.flatnonzero(np.r_[True, np.diff(arrays["episode"]) > 0])
    returns = rtg[starts]
    dataset = DecisionTransformer.dataset(arrays, meta, context=20)
    model = DecisionTransformer(DecisionTransformer.shapes_of(dataset), DTConfig(seed=seed))
    t = time.perf_counter()
    model.fit(dataset, epochs=b["dt_epochs"])
    _say(f"Decision Transformer: {b['dt_epochs']} epochs on {len(dataset['rtg'])} windows in "
         f"{time.perf_counter() - t:.0f} s")
    env_kwargs = {"level": "easy", "obs": "rays", "continuous": False}
    rows = [["data: best trajectory", f"{returns.max():.1f}", "-"],
            ["data: mean trajectory", f"{returns.mean():.1f}", f"({len(returns)} episodes)"]]
    best = float(model.best_return)
    for name, target in (("DT, R_1 = best of data", best), ("DT, R_1 = 1.5 x best", 1.5 * best)):
        result = drive(TransformerPolicy(model, env_kwargs, target), env_kwargs, b["tracks"], seed=seed,
                       max_steps=600)
        rows.append([name, f"{result['mean_return']:.1f}", f"{result['lap_rate']:.2f}"])
    return rows
