"""A3C: asynchronous advantage actor-critic (Mnih et al., "Asynchronous Methods for Deep Reinforcement
Learning", ICML 2016) on Ray: rollout workers are Ray actors, each with its own envs and a copy of the model,
and the learner (this process) applies their gradients one at a time, as they arrive.

    each worker k, on its own CPU, over and over:
        theta_k <- theta (the learner's weights of version v, sent to k alone)
        roll its N envs num_steps steps with a ~ pi_theta_k(.|s)
        g_k = grad of A2C's loss at theta_k (`agents.a2c.rollout_loss`):
            A_t = sum_l (gamma * lambda)^l delta_{t+l},  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)   (gae)
            loss = -mean(A_t log pi(a_t|s_t)) + vf_coef mean((A_t + V_old - V(s_t))^2) - ent_coef mean(H)
        send (g_k, v) to the learner
    the learner, as each (g_k, v) arrives:
        theta <- optimizer step along clip(g_k, max_grad_norm); version <- version + 1
        staleness = updates applied since theta_k was sent = version - 1 - v       (logged every update)

The paper's workers share RMSProp's statistics and write into the shared weights lock-free (Hogwild); here
a parameter server (the driver) holds the weights and the optimiser, the form Ray and RLlib give A3C, so one
worker or many, on one machine or a cluster (`ray_address`), run the same code. With W workers a gradient is
typically W - 1 updates stale. An update is one worker's rollout: num_envs * num_steps env steps.

With `normalize_observation` / `normalize_reward` each worker's envs wear Gymnasium's wrappers, which start
every rollout from the statistics sent with the weights; the worker sends back the moments of the observations
and returns they saw, and the learner merges them into the one copy that its checkpoints keep.

A resumed run restores the weights, the optimiser, the counters and the history; the workers start their
envs afresh (seeded by the update it resumes at), and the order in which their gradients arrive is the
cluster's: a resumed run is the same in distribution, not step for step (nor is a run repeated with one seed).

The viewer draws worker 0's cars (the lowest-numbered living worker's): when the hook wants step events
(`sandbox.runs.hooks.wants_steps`), that worker ships the world after each step of its rollout, and the
learner loads it into its own copy of the envs and sends the step events for that copy, one rollout behind.

    model, history = train(A3CConfig(env_id="CartPole-v1", num_workers=2, total_timesteps=100_000))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.a2c import annealed_lr
from agents.a3c_workers import WorkerPool
from agents.actor_critic import ActorCritic, setup_actor_critic
from agents.loop import UpdateLog, start_loop
from sandbox.runs.hooks import Hook, step_event, wants_steps
from sandbox.runs.normalize import beneath, clear_statistics, merge_moments, normalizer_state
from sandbox.runs.ray_cluster import connect, import_ray
from sandbox.runs.validate import check_non_negative, check_positive_ints, check_unit_interval

NEEDS = "--agent a3c"


@dataclass
class A3CConfig:
    """Hyper-parameters, named as A2C's (`agents.a2c.A2CConfig`), with the workers and the cluster."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id; CarDrive runs through its native vector env in each worker"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal", "obs": "pixels"}"""
    backbone: str = "mlp"
    """a feed-forward `sandbox.backbones.make_backbone` spec (mlp, cnn, attention, a plug-in)"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    """options of the backbone's config, e.g. {"widths": (64, 64)}"""
    share_backbone: bool = False
    """one backbone under the policy and value heads instead of one each"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers"""
    log_std_init: float = 0.0
    """Box actions: the Gaussian's initial log standard deviation"""
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from"""
    num_workers: int = 2
    """Ray actors rolling out and computing gradients, one CPU each"""
    num_envs: int = 64
    """envs stepped together in each worker"""
    num_steps: int = 32
    """steps per env between a worker's gradients: twice A2C's 16, since each gradient also costs the learner a
    step and a send (CarDrive easy, 2 workers on 2 CPUs: 1.80x one worker's env steps/s at 32, 1.54x at 16)"""
    total_timesteps: int = 500_000
    """env steps of the whole run, all workers together"""
    learning_rate: float = 7e-4
    optimizer: str = "adam"
    """adam, rmsprop or sgd (the learner's)"""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = False
    normalize_observation: bool = False
    """scale observations by their running mean and variance (Gymnasium's NormalizeObservation; vectors only):
    every worker's wrappers normalise with the learner's statistics and send it the moments of what they saw"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return (Gymnasium's NormalizeReward),
    shared the same way"""
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the run's updates (as the A3C paper does)"""
    seed: int = 0
    ray_address: str | None = None
    """a Ray cluster ("auto": the one this machine belongs to, or HOST:PORT); None starts one here"""

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_workers", "num_envs", "num_steps", "total_timesteps")
        check_unit_interval(self, "gamma", "gae_lambda")
        check_non_negative(self, "ent_coef", "vf_coef", "max_grad_norm")
        if self.ray_address is not None and not (isinstance(self.ray_address, str) and self.ray_address.strip()):
            raise ValueError(f"ray_address must be a cluster's address (or auto), got {self.ray_address!r}")


def train(config: A3CConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train an actor-critic with `config.num_workers` Ray workers; return it and the per-update history.

    `log` and `resume` as A2C's (`agents.a2c.train`); each update event also carries `worker`, the index of
    the worker whose gradient it applied, and `worker_actors`, the living workers' Ray actors by index. With
    no `ray_address` (and no Ray already running in this process) a local Ray instance is started for the run
    and shut down after it.

    Raises:
        ValueError: Ray is not installed, no cluster answers at `ray_address`, the cluster has fewer CPUs than
            workers, a recurrent backbone, a bad setting (each named in one line).
        WorkersLostError: every worker died (`sandbox train` names the last good checkpoint).
    """
    ray = import_ray(NEEDS)  # before anything is built: one line saying how to install it
    env, model, optimizer = setup_actor_critic(config, "A3C", fresh=resume is None)
    if model.recurrent:
        env.close()
        raise ValueError(f"A3C runs feed-forward backbones (mlp, cnn, attention); {config.backbone!r} is recurrent: "
                         "train it with a2c or ppo")
    loop, _ = start_loop("a3c", config, env, model, optimizer, resume, log)  # env: worker 0's cars, to draw
    if resume is None:
        clear_statistics(loop.env)  # what the learner's own reset saw: the statistics are the workers' alone
    started = connect(config.ray_address, NEEDS, "leave out --ray to start Ray on this machine",
                      num_cpus=max(config.num_workers, os.cpu_count() or 1))
    pool, threads = None, torch.get_num_threads()
    torch.set_num_threads(1)  # the learner's steps are small: threads of its own would take the workers' CPUs
    try:
        _check_cpus(ray, config)
        # a resumed run's workers start new episodes, seeded apart from the ones before the stop
        pool = WorkerPool.start(config, seed=config.seed + config.num_workers * loop.update)
        _learn(config, loop, pool, ray)
    finally:
        torch.set_num_threads(threads)
        if pool is not None:
            pool.stop()
        env.close()
        if started:
            ray.shutdown()
    return model, loop.history


def _learn(config: A3CConfig, loop: UpdateLog, pool: WorkerPool, ray: Any) -> None:
    """The learner: hand out the weights, apply each gradient as it arrives, hand the new weights back to the
    worker that sent it, log."""
    model, optimizer = loop.model, loop.optimizer
    num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
    show = wants_steps(loop.hook) and hasattr(beneath(loop.env), "state_dict")  # a viewer, and a world it can draw
    version, sent = loop.update, ray.put(_sent(model, loop.env))
    left = _fill(pool, num_updates - loop.update, sent, version, show)  # rollouts not yet asked for
    while version < num_updates:
        result = pool.next()
        if result is None:  # a worker died with its rollout: another one does it
            left = _fill(pool, left + 1, sent, version, show)
            continue
        # update
        update = version + 1
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = annealed_lr(config.learning_rate, update, num_updates)
        apply_gradient(model, optimizer, result["grads"], config.max_grad_norm)
        merge_moments(loop.env, result["moments"])  # the observations and returns the worker's wrappers saw
        staleness = version - result["version"]  # updates applied since this worker's weights were sent
        version, sent = update, ray.put(_sent(model, loop.env))
        left = _fill(pool, left, sent, version, show)  # back to work before the logging
        # log
        _show_steps(loop, result["frames"])
        loop.add_steps(result["steps"] - len(result["frames"]) * config.num_envs, result["returns"])
        metrics = {**result["metrics"], "staleness": float(staleness), "workers": float(len(pool.actors))}
        loop.log_update(update, metrics, fields={"worker": result["index"], "worker_actors": dict(pool.actors)})


def apply_gradient(model: torch.nn.Module, optimizer: torch.optim.Optimizer, grads: list[np.ndarray],
                   max_grad_norm: float) -> None:
    """One optimiser step along a worker's gradient (one array per parameter, in `model.parameters()` order),
    its norm clipped to `max_grad_norm` as A2C clips its own."""
    for param, grad in zip(model.parameters(), grads, strict=True):
        param.grad = torch.tensor(grad)  # a copy: arrays from Ray's object store are read-only
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()


def _fill(pool: WorkerPool, left: int, sent: Any, version: int, show: bool) -> int:
    """Send each idle worker the weights and statistics while rollouts are left to ask for; return how many
    still are. The lowest-numbered living worker records its world when a viewer watches."""
    for index in pool.idle()[:max(left, 0)]:
        pool.send(index, sent, version, record=show and index == min(pool.actors))
        left -= 1
    return left


def _show_steps(loop: UpdateLog, frames: list) -> None:
    """The step events of a recording worker's rollout, drawn from the learner's copy of its envs."""
    world = beneath(loop.env)  # under any normalisation wrapper
    for state, reward, terminated, truncated, info in frames:
        world.load_state_dict(state)
        loop.add_steps(world.num_envs)
        loop.hook(step_event(loop.global_step, world, reward, terminated, truncated, info))


def _sent(model: torch.nn.Module, env: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What a worker rolls out with: the weights, and the normalisation statistics as they stand."""
    return ({name: value.detach().numpy().copy() for name, value in model.state_dict().items()},
            normalizer_state(env))


def _check_cpus(ray: Any, config: A3CConfig) -> None:
    """Each worker takes one CPU: a cluster with fewer would leave some never started, and the run waiting."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < config.num_workers:
        where = f"at {config.ray_address}" if config.ray_address else "in this process"
        raise ValueError(f"--workers {config.num_workers}: the Ray cluster {where} has {cpus} CPU(s) and each "
                         "worker takes one; ask for fewer workers or a larger cluster")
