"""DAgger: dataset aggregation (Ross, Gordon & Bagnell, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", AISTATS 2011), with CarDrive's privileged expert (`envs.drive_expert`)
as the demonstrator and an actor-critic's policy head as the student.

    D = {}
    for iteration i = 1, 2, ...:
        beta_i = beta0 * beta_decay^(i - 1)                                            (beta_schedule)
        roll the N cars num_steps steps; each car, each step, is driven by the expert with probability
            beta_i, else by the student's greedy action; the expert labels every state, a* = pi*(s)   # rollout
        D <- D u {(s, a*)}, a ring of the last buffer_size states
        fit the student on D: gradient_steps minibatches of batch_size drawn uniformly from D   # update
            Discrete: -log softmax(logits(s))[a*];  Box: ||mu(s) - a*||^2        (imitation_loss)
            Box: a state where the expert brakes (a*_throttle < 0) weighs brake_weight, the others 1
            + aux_coef * ||W h(s) - r(s)||^2 / dim r                                    (auxiliary task)

The auxiliary task (aux_coef > 0) has the student also predict, from its features h(s) through a linear head
W used in training only, the privileged ray reading r(s) of each state (`core.rays()`: distances to the
road's edge, speed and heading, the pedestrian and traffic channels), as CILRS predicts the car's speed from
its camera (Codevilla et al., "Exploring the Limitations of Behavior Cloning for Autonomous Driving", ICCV
2019). Two action numbers a frame say little about what in the frame matters; ~150 numbers a frame teach a
pixels student's CNN to find the kerb, the pedestrians and its own speed sooner.

beta0 = 1 makes the first iteration behaviour cloning on the expert's own states. Later iterations visit the
states the student's own mistakes lead to, which cloning never sees: its error compounds as T^2 over an
episode of T steps, DAgger's grows as T. The paper refits to convergence each iteration; a fixed number of
minibatch steps (SB3's `gradient_steps`) keeps an iteration's cost from growing with D.

A recurrent student (backbone lstm or gru) acts through its state, carried per car across iterations and
zeroed where an episode starts. Its D keeps whole iterations instead of single states (`agents.dagger_data`):
each a block of num_steps steps of the N cars, with the episode starts and the student's state before the block.
A minibatch is batch_size // num_steps car columns of random blocks, replayed from that stored state (as the
student had it when it drove the block, stale after training: R2D2's "stored state") with the stored starts,
the loss on its transitions: truncated backpropagation through time over a block.

`teacher` (a `sandbox train` checkpoint of an actor-critic on the student's rays, `agents.teacher`) drives and
labels in place of the expert: a teacher that learned from the reward (PPO on the rays) makes a pixels student
that learned from the reward too, through it (Learning by Cheating's two stages, Chen et al. 2019).

The student is an `ActorCritic` (its value head left untrained), so `sandbox eval`, `replay` and `watch` load
it as they load A2C's and PPO's, and a policy-gradient family can start from its weights. The expert reads the
true world, so only CarDrive can be learned from.

    model, history = train(DAggerConfig(env_kwargs={"level": "normal", "n_rays": 25}, total_timesteps=500_000))
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import envs
from agents.a2c import annealed_lr
from agents.actor_critic import ActorCritic, Memory, State, setup_actor_critic
from agents.auxiliary import rays_head, rays_loss
from agents.dagger_data import Aggregate, Sequences
from agents.envs import obs_to_tensor
from agents.loop import UpdateLog, start_loop
from agents.teacher import load_teacher
from agents.weight_average import WeightAverage
from envs import drive_expert
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_bools, check_positive_ints, check_unit_interval

AGREE_TOL = 0.1
"""Box actions: the student agrees with the expert where every component is within this of the expert's"""

Obs = torch.Tensor | dict[str, torch.Tensor]
Dataset = Aggregate | Sequences


@dataclass
class DAggerConfig:
    """Hyper-parameters, named as the paper (beta) and SB3 (gradient_steps, batch_size, buffer_size) name them."""

    env_id: str = envs.ENV_ID
    """CarDrive only: the expert reads its true world"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal", "continuous": True}"""
    backbone: str = "mlp"
    """any `sandbox.backbones.make_backbone` spec; a recurrent one (lstm, gru) learns from sequences: D keeps
    whole iterations (buffer_size // (num_envs * num_steps) of them, at least one) and replays car columns"""
    backbone_options: dict[str, Any] = field(default_factory=dict)
    """options of the backbone's config, e.g. {"widths": (128, 128)}"""
    share_backbone: bool = False
    """one backbone under the policy and value heads (as the policy family that starts from it will read it)"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers, as the policy families offer it"""
    log_std_init: float = 0.0
    """the policy's initial log standard deviation (Box), as the policy families offer it; DAgger fits the mean"""
    num_envs: int = 64
    """cars driven together"""
    num_steps: int = 64
    """steps per car per iteration: num_envs * num_steps states labelled and aggregated"""
    total_timesteps: int = 500_000
    """env steps of the whole run (whole iterations)"""
    learning_rate: float = 1e-3
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the run's iterations (`agents.a2c.annealed_lr`): a student that
    has learned in its first minutes stops swinging from one iteration's refit to the next"""
    optimizer: str = "adam"
    """adam, rmsprop or sgd"""
    beta0: float = 1.0
    """the expert's share of the driving in the first iteration (1: the first iteration is cloning)"""
    beta_decay: float = 0.5
    """beta_i = beta0 * beta_decay^(i - 1), the paper's mixing schedule (0: the expert drives only the first)"""
    buffer_size: int = 200_000
    """the most states D keeps (the oldest overwritten first)"""
    batch_size: int = 256
    """states per minibatch (a recurrent student: batch_size // num_steps car columns of num_steps states)"""
    gradient_steps: int = 200
    """minibatch steps on D after each iteration's rollout"""
    max_grad_norm: float = 1.0
    brake_weight: float = 1.0
    """Box actions: a state where the expert brakes (its throttle < 0) counts this many times in the loss. The
    braking states are few (the car brakes for a bend or a pedestrian, and drives on most of the lap), so
    the plain mean fits them loosely, and a student that brakes a little late hits the pedestrian"""
    overspeed_weight: float = 1.0
    """Box actions: the throttle's squared error counts this many times where the student's throttle is above the
    expert's (an asymmetric loss, as expectile regression weighs one side). A student that drives a little
    faster than the expert reaches a pedestrian before it has braked; one a little slower does not"""
    action_noise: float = 0.0
    """Box actions: the standard deviation of Gaussian noise added to the student's driving (clipped to the
    action space), the expert labelling the states it leads to (DART, Laskey et al. 2017): D holds the
    recoveries from the student's near-misses, not only from its crashes. 0: none; a Discrete run refuses it"""
    aux_coef: float = 0.0
    """weight of the auxiliary task (0: none): predict the privileged rays of each state from the features
    (see the module docstring); the head is kept in the checkpoint's extra, the student stays a plain policy"""
    teacher: str = ""
    """a `sandbox train` checkpoint of an actor-critic on the student's world's rays (`agents.teacher`) that drives
    and labels in place of the privileged expert: e.g. PPO's, learned from the reward, so the student learns from
    the reward alone, through its teacher. "": the expert"""
    ema_decay: float = 0.0
    """0: the student is the optimizer's weights. In (0, 1): the student is their exponential moving average
    over minibatch steps (`agents.weight_average`; ~1 / (1 - ema_decay) steps), which drives, is evaluated and
    is saved, the optimizer's weights kept in the checkpoint's extra. A student whose loss no longer falls but
    whose driving swings from one iteration's refit to the next settles on the average"""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.env_id != envs.ENV_ID:
            raise ValueError(f"DAgger learns from the privileged expert, which reads {envs.ENV_ID}'s true world; "
                             f"env_id must be {envs.ENV_ID!r}, got env_id={self.env_id!r}")
        check_positive_ints(self, "num_envs", "num_steps", "total_timesteps", "buffer_size", "batch_size",
                            "gradient_steps")
        check_unit_interval(self, "beta0", "beta_decay")
        check_bools(self, "share_backbone", "ortho_init", "anneal_lr")
        if self.buffer_size < self.num_envs:
            raise ValueError(f"buffer_size must hold one batch step of the cars (num_envs {self.num_envs}), "
                             f"got {self.buffer_size}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if not self.brake_weight > 0:
            raise ValueError(f"brake_weight must be > 0, got {self.brake_weight!r}")
        if not self.overspeed_weight > 0:
            raise ValueError(f"overspeed_weight must be > 0, got {self.overspeed_weight!r}")
        if not self.action_noise >= 0:
            raise ValueError(f"action_noise must be >= 0 (0: none), got {self.action_noise!r}")
        if not self.aux_coef >= 0:
            raise ValueError(f"aux_coef must be >= 0, got {self.aux_coef!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no average), got {self.ema_decay!r}")


def beta_schedule(beta0: float, beta_decay: float, iteration: int) -> float:
    """beta_i = beta0 * beta_decay^(i - 1): the chance that the expert drives a car's step in iteration i (1-based)."""
    return beta0 * beta_decay ** (iteration - 1)


def imitation_loss(output: torch.Tensor, labels: torch.Tensor, discrete: bool,
                   brake_weight: float = 1.0, overspeed_weight: float = 1.0) -> torch.Tensor:
    """The student's loss on expert labels. Discrete: the cross-entropy of the logits (B, n) against the labels
    (B,); Box: the squared distance of the Gaussian's mean (B, d) to the labels (B, d), summed over d, i.e. its
    negative log-likelihood at unit variance up to a constant (as behaviour cloning fits it), each row weighted
    by `brake_weight` where the expert brakes (labels[:, 1], the throttle, < 0) and by 1 elsewhere; the
    throttle's own term weighted by `overspeed_weight` where the student's throttle is above the label."""
    if discrete:
        return torch.nn.functional.cross_entropy(output, labels)
    error = (output - labels) ** 2  # (B, d)
    if overspeed_weight != 1.0:
        over = torch.where(output[:, 1] > labels[:, 1], overspeed_weight, 1.0)  # (B,)
        error = torch.cat([error[:, :1], over[:, None] * error[:, 1:2], error[:, 2:]], -1)  # (B, d)
    squared = error.sum(-1)  # (B,)
    if brake_weight == 1.0:
        return squared.mean()
    weight = torch.where(labels[:, 1] < 0, brake_weight, 1.0)  # (B,)
    return (weight * squared).sum() / weight.sum()


def agreement(student: np.ndarray, expert: np.ndarray, discrete: bool) -> np.ndarray:
    """(N,) bool: the student's greedy action is the expert's (a Box action: every component within AGREE_TOL)."""
    if discrete:
        return student == expert
    return (np.abs(student - expert) <= AGREE_TOL).all(-1)


def train(config: DAggerConfig, log: Hook | None = None,
          resume: dict[str, Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train a student of the privileged expert with DAgger; return it and the history of per-iteration metrics.

    `log` and `resume` as for A2C (`agents.a2c.train`): the payload holds D, the mixing generator and a
    recurrent student's state per car too, so a resumed run is the run never stopped.
    """
    env, model, optimizer = setup_actor_critic(config, "DAgger")
    if model.discrete and config.action_noise > 0:
        raise ValueError(f"action_noise={config.action_noise} perturbs Box actions, and this run's are Discrete; "
                         "set action_noise=0, or continuous=true in env_kwargs")
    core, rng = env.unwrapped.core, np.random.default_rng(config.seed)  # the world the expert reads
    label = _labeller(config, core, model)
    aux = rays_head(model, core, optimizer) if config.aux_coef > 0 else None  # before the optimizer's state loads
    loop, obs = start_loop("dagger", config, env, model, optimizer, resume, log)
    average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None  # of the loaded weights
    memory = _student_memory(model, env.num_envs, resume)
    dataset = _dataset(model, config, obs_to_tensor(obs), memory.state, core)
    if resume is not None:
        dataset.load_state_dict(resume["extra"]["dataset"])
        rng.bit_generator.state = resume["extra"]["rng"]
        if aux is not None:
            aux.load_state_dict(resume["extra"]["aux_head"])
        if average is not None:
            average.load_state_dict(resume["extra"]["weight_average"])
    num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
    for update in range(loop.update + 1, num_updates + 1):
        if config.anneal_lr:  # every group: the auxiliary head's too
            for group in optimizer.param_groups:
                group["lr"] = annealed_lr(config.learning_rate, update, num_updates)
        # rollout
        beta = beta_schedule(config.beta0, config.beta_decay, update)
        obs, agreed = _collect(model, env, core, loop, obs, dataset, memory, beta, rng, aux is not None,
                               config.action_noise, label)
        # update (the optimizer's own weights in the model while it steps, the average after)
        with average.training() if average is not None else contextlib.nullcontext():
            losses = _fit(model, optimizer, dataset, config, rng, update, aux, average)
        # log
        metrics = {**losses, "agreement": agreed, "beta": beta, "dataset_size": len(dataset),
                   "learning_rate": optimizer.param_groups[0]["lr"]}
        loop.log_update(update, metrics,
                        functools.partial(_extra, dataset, rng, memory, aux, average))
    env.close()
    return model, loop.history


def _student_memory(model: ActorCritic, n: int, resume: dict[str, Any] | None) -> Memory:
    """The student's state per car and its episode-start mask, or what the checkpoint saved. Only the policy's
    backbone carries a state: DAgger never runs the critic's (the value head is left untrained)."""
    if model.recurrent and "memory" not in (resume or {}).get("extra", {}):
        return Memory(model.backbone.initial_state(n), torch.ones(n))
    return Memory.start(model, n, resume)


def _dataset(model: ActorCritic, config: DAggerConfig, obs: Obs, state: State, core: Any) -> Dataset:
    """An empty D for batch steps like `obs`: single rows for a feed-forward student, blocks of whole iterations
    (as many as buffer_size states fill, at least one) for a recurrent one. With the auxiliary task a label row
    is float: the expert's action (its index, Discrete), then the privileged rays (see `_labels`)."""
    n = config.num_envs
    labels = torch.zeros(n, dtype=torch.long) if model.discrete else torch.zeros(n, model.pi.out_features)
    if config.aux_coef > 0:
        labels = torch.zeros(n, _action_columns(model) + core.config.rays_size)
    if not model.recurrent:
        return Aggregate(config.buffer_size, obs, labels)
    return Sequences(max(1, config.buffer_size // (n * config.num_steps)), config.num_steps, obs, labels, state)


def _labeller(config: DAggerConfig, core: Any, model: ActorCritic) -> Callable[[Any], np.ndarray]:
    """core -> the demonstrator's action for every car in the student's action space, (N,) ints or (N, 2)
    floats: the privileged expert's, or the teacher's on the cars' rays."""
    if not config.teacher:
        return functools.partial(drive_expert, continuous=not model.discrete)
    teacher = load_teacher(config.teacher, core.config, continuous=not model.discrete)
    return lambda world: teacher(world.rays())


def _labels(expert: np.ndarray, core: Any, aux: bool) -> torch.Tensor:
    """D's label rows for the cars' current states: the expert's actions, or with the auxiliary task (N, a + R)
    floats, the actions (a columns: 1 Discrete index, or the Box action) and the privileged rays (R)."""
    labels = torch.from_numpy(expert)
    if not aux:
        return labels
    return torch.cat([labels.float().reshape(len(expert), -1), torch.from_numpy(core.rays())], dim=1)


def _action_columns(model: ActorCritic) -> int:
    """How many columns of a float label row hold the action: 1 (a Discrete index) or the Box action's size."""
    return 1 if model.discrete else model.pi.out_features


def _split(labels: torch.Tensor, model: ActorCritic, aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(actions as `imitation_loss` takes them, the privileged rays or None) from D's label rows."""
    if not aux:
        return labels, None
    a = _action_columns(model)
    actions = labels[:, 0].long() if model.discrete else labels[:, :a]
    return actions, labels[:, a:]


def _policy(model: ActorCritic, obs: Obs) -> torch.Tensor:
    """A feed-forward student's policy head output, logits or the Gaussian's mean (B, ...): DAgger never needs
    the value."""
    return model.pi(_features(model, obs))


def _features(model: ActorCritic, obs: Obs) -> torch.Tensor:
    """A feed-forward student's features (B, F), under its policy head and the auxiliary head."""
    return model.backbone(obs)


def _step_policy(model: ActorCritic, obs: Obs, memory: Memory) -> torch.Tensor:
    """The policy head's output for one batch step (N, ...); a recurrent student reads its state in `memory`
    (zeroed where `memory.start`) and leaves the next one there."""
    if not model.recurrent:
        return _policy(model, obs)
    features, memory.state = model.backbone(obs, memory.state, memory.start)  # (N, hidden)
    return model.pi(features)


def _replay(model: ActorCritic, obs: Obs, state: State, starts: torch.Tensor) -> torch.Tensor:
    """A recurrent student's features (T, b, hidden) over T steps of b cars (T, b, ...), run from `state` with
    the states zeroed where `starts` (T, b); gradients flow back through all T steps."""
    return model.backbone.forward_sequence(obs, state, starts)[0]


def _greedy(model: ActorCritic, obs: Obs, memory: Memory) -> np.ndarray:
    """The student's greedy actions as the env takes them (a recurrent one steps its state in `memory`)."""
    with torch.no_grad():
        output = _step_policy(model, obs, memory)
    return model.to_env(output.argmax(-1) if model.discrete else output)


def _perturbed(model: ActorCritic, action: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """A Box action (N, d) plus N(0, noise^2) per component, clipped into the Box (DART's injected noise)."""
    noisy = torch.from_numpy(action + noise * rng.standard_normal(action.shape).astype(action.dtype))
    return model.to_env(noisy)


def _collect(model: ActorCritic, env: Any, core: Any, loop: UpdateLog, obs: Any, dataset: Dataset, memory: Memory,
             beta: float, rng: np.random.Generator, aux: bool, noise: float,
             label: Callable[[Any], np.ndarray]) -> tuple[Any, float]:
    """Drive one iteration, each car's step the demonstrator's (`label`: the expert or the teacher) with
    probability beta (the student's with Gaussian `noise` on a Box action), and aggregate every visited state
    with the demonstrator's label; return the last observation and the student's agreement over the states."""
    agreed = visited = 0
    first_state = memory.state  # the state the block begins from (a recurrent student's; () otherwise)
    for _ in range(loop.config.num_steps):
        obs_t, start = obs_to_tensor(obs), memory.start
        expert, student = label(core), _greedy(model, obs_t, memory)  # one batched call each for all cars
        labels = _labels(expert, core, aux)  # of the state the cars are in, before they step
        expert_drives = rng.random(len(expert)) < beta  # (N,)
        driven = student if not noise else _perturbed(model, student, noise, rng)
        action = np.where(expert_drives if model.discrete else expert_drives[:, None], expert, driven)
        obs, reward, terminated, truncated, info = env.step(action)
        valid = loop.step(reward, terminated, truncated, info)  # the autoreset step's state is no one's choice
        memory.after_step(valid)  # its observation is a new episode's first: the state starts afresh there
        dataset.add(obs_t, labels, valid, start)
        agreed += int((agreement(student, expert, model.discrete) & valid).sum())
        visited += int(valid.sum())
    dataset.end_block(first_state)
    return obs, agreed / visited if visited else float("nan")


def _fit(model: ActorCritic, optimizer: torch.optim.Optimizer, dataset: Dataset, config: DAggerConfig,
         rng: np.random.Generator, update: int, aux: torch.nn.Linear | None = None,
         average: WeightAverage | None = None) -> dict[str, float]:
    """gradient_steps minibatches of the imitation loss (+ the auxiliary task's), drawn uniformly from D, each
    step moving the weights' average (if any); their mean losses."""
    totals, steps = {"loss": 0.0, "aux_loss": 0.0}, 0
    params = [*model.parameters(), *(aux.parameters() if aux is not None else ())]
    for _ in range(config.gradient_steps):
        features, labels = _minibatch(model, dataset, config, rng)
        if not len(labels):  # recurrent columns without a transition (possible only for tiny num_steps)
            continue
        actions, rays = _split(labels, model, aux is not None)
        loss = imitation_loss(model.pi(features), actions, model.discrete, config.brake_weight,
                              config.overspeed_weight)
        aux_loss = rays_loss(aux, features, rays) if aux is not None else torch.zeros(())
        if not torch.isfinite(loss + aux_loss):
            raise FloatingPointError(f"DAgger: the loss became {loss.item()} (auxiliary {aux_loss.item()}) at "
                                     f"iteration {update}; lower learning_rate (now {config.learning_rate})")
        optimizer.zero_grad()
        (loss + config.aux_coef * aux_loss).backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        if average is not None:
            average.update()
        totals["loss"] += loss.item()
        totals["aux_loss"] += aux_loss.item()
        steps += 1
    if aux is None:
        del totals["aux_loss"]
    return {k: v / steps if steps else float("nan") for k, v in totals.items()}


def _minibatch(model: ActorCritic, dataset: Dataset, config: DAggerConfig,
               rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's features (B, F) on a minibatch of D and the label rows for them. Feed-forward: batch_size rows
    drawn uniformly. Recurrent: batch_size // num_steps (at least 1) columns, each a random car of a random
    block, replayed from the block's stored state and cut to their transitions."""
    if not model.recurrent:
        obs, labels = dataset.rows(torch.from_numpy(rng.integers(0, len(dataset), config.batch_size)))
        return _features(model, obs), labels
    columns = max(1, config.batch_size // config.num_steps)
    block = torch.from_numpy(rng.integers(0, dataset.blocks, columns))  # (b,)
    car = torch.from_numpy(rng.integers(0, config.num_envs, columns))  # (b,)
    obs, labels, starts, valid, state = dataset.columns(block, car)  # (T, b, ...)
    return _replay(model, obs, state, starts)[valid], labels[valid]  # (transitions, ...)


def _extra(dataset: Dataset, rng: np.random.Generator, memory: Memory, aux: torch.nn.Linear | None = None,
           average: WeightAverage | None = None) -> dict[str, Any]:
    extra = {"dataset": dataset.state_dict(), "rng": rng.bit_generator.state, **memory.payload()}
    if aux is not None:
        extra["aux_head"] = aux.state_dict()
    if average is not None:
        extra["weight_average"] = average.state_dict()
    return extra
