"""PPO: proximal policy optimisation with the clipped surrogate objective (Schulman et al., "Proximal Policy
Optimization Algorithms", arXiv:1707.06347, 2017) and GAE advantages (Schulman et al., "High-Dimensional
Continuous Control Using Generalized Advantage Estimation", ICLR 2016), as CleanRL's ppo.py reads.

    for each update:
        roll the N envs num_steps steps with a ~ pi_old(.|s), keeping log pi_old(a|s) and V_old(s)   # rollout
        A_t = GAE(gamma, lambda) of the rollout (`agents.a2c.gae`),  R_t = A_t + V_old(s_t)
        for update_epochs epochs, for each of num_minibatches shuffled minibatches:                   # update
            rho = pi(a|s) / pi_old(a|s);  L_clip = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))
            loss = L_clip + vf_coef L_V - ent_coef mean(H);  one Adam step, norm clipped to max_grad_norm
        (stop the epochs early once the approximate KL passes target_kl)

Kickstarting (Schmitt et al., "Kickstarting Deep Reinforcement Learning", arXiv:1803.03835, 2018), for a run
started from a student (`init_from`): the student, frozen, stays a teacher, and each minibatch's loss adds
lambda_k KL(pi_teacher(.|s) || pi(.|s)), lambda_k falling linearly from kickstart_coef to 0 over
kickstart_timesteps env steps, so the policy leaves the student only as fast as its own returns pull it away.

The auxiliary task (aux_coef > 0, CarDrive only, `agents.auxiliary`): each minibatch's loss adds
aux_coef ||W h(s) - r(s)||^2 / dim r, a linear head W on the policy's features h(s) predicting the privileged rays
r(s) of each state, kept in the rollout beside the observation. A pixels policy's CNN then learns where the kerb,
the pedestrians and its speed are from ~150 numbers a frame, not from the advantages alone.

Next-step autoreset: the step after an episode ends restarts that env and is no transition; its row is
dropped from the batch before the minibatches are drawn (so they hold transitions only). A terminated episode
bootstraps from 0, a truncated one from V(final observation), as in A2C. The rollout lives in tensors made
once and overwritten every update (one forward per batch step); the minibatches index its flat rows.

A recurrent backbone (lstm, gru) keeps a state per env across rollouts, zeroed where an episode starts. Its
minibatches are whole env columns of the rollout instead of shuffled rows: each is replayed in time order from
the state the rollout began with (truncated backpropagation through time over num_steps, as CleanRL's
ppo_atari_lstm.py), and only its transitions count in the loss.

    model, history = train(PPOConfig(env_kwargs={"level": "easy"}, total_timesteps=200_000))  # laps easy
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.a2c import annealed_lr, gae
from agents.actor_critic import ActorCritic, Memory, State, select_rows, setup_actor_critic
from agents.auxiliary import cardrive_core, rays_head, rays_loss
from agents.envs import map_obs, obs_to_tensor
from agents.loop import UpdateLog, start_loop
from agents.warm_start import warm_start
from sandbox.runs.hooks import Hook
from sandbox.runs.validate import check_bools, check_non_negative, check_positive_ints, check_unit_interval

MLP_OPTIONS = {"widths": (64, 64), "activation": "tanh"}
"""the mlp's options when none are given: what drives CarDrive rays well under PPO (as 128-128 did, at ~2.5x the
env steps a second: see num_minibatches)"""

METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
"""what each minibatch step reports (the history keeps their means over an update)"""

Obs = torch.Tensor | dict[str, torch.Tensor]


@dataclass
class PPOConfig:
    """Hyper-parameters, named as CleanRL and SB3 name them; the defaults are for CarDrive rays."""

    env_id: str = "sandbox/CarDrive-v0"
    """a gymnasium id; CarDrive runs through its native vector env"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """arguments of the env, e.g. {"level": "normal", "continuous": True}"""
    backbone: str = "mlp"
    """any `sandbox.backbones.make_backbone` spec"""
    backbone_options: dict[str, Any] | None = None
    """options of the backbone's config; None: the backbone's own defaults, except the mlp's: MLP_OPTIONS"""
    share_backbone: bool = False
    """one backbone under the policy and value heads instead of one each"""
    ortho_init: bool = False
    """orthogonal init (gain sqrt 2) of the backbones' layers, as SB3 and CleanRL start an actor-critic"""
    log_std_init: float = 0.0
    """Box actions: the Gaussian's initial log standard deviation (SB3's `log_std_init`): 0 is a std of 1, which
    on actions in [-1, 1] drowns a policy started from a student (`init_from`); -1 (std 0.37) keeps near it"""
    init_from: str = ""
    """a student's checkpoint (dagger, bc) whose backbone and policy head the run starts from (`agents.warm_start`)"""
    kickstart_coef: float = 0.0
    """lambda_k at the run's start: the weight of KL(student || policy) in the loss, the student being the frozen
    `init_from` network (kickstarting); 0: none"""
    kickstart_timesteps: int = 1_000_000
    """env steps over which lambda_k falls linearly to 0"""
    aux_coef: float = 0.0
    """weight of the auxiliary task (0: none; CarDrive, feed-forward backbones): predict each state's privileged
    rays from the policy's features (see the module docstring); the head is kept in the checkpoint's extra"""
    num_envs: int = 256
    """envs stepped together"""
    num_steps: int = 32
    """steps per env per rollout: a batch of num_envs * num_steps"""
    total_timesteps: int = 2_000_000
    """env steps of the whole run (whole rollouts)"""
    learning_rate: float = 3e-4
    optimizer: str = "adam"
    """adam, rmsprop or sgd"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the run's updates (`agents.a2c.annealed_lr`)"""
    gamma: float = 0.995
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    """minibatches per epoch (the batch's transitions shuffled and split). On CarDrive normal (10 min, one
    thread) a 64-64 MLP with 2 epochs x 4 minibatches laps 99% cleanly at ~60k env-steps/s in its loop, as a
    128-128 MLP with 4 epochs x 8 did at ~22k"""
    update_epochs: int = 2
    """passes over each rollout"""
    norm_adv: bool = True
    """scale the advantages of each minibatch to zero mean and unit variance"""
    clip_coef: float = 0.2
    """eps: how far the probability ratio may move before its gradient is cut (and the value, if clip_vloss)"""
    clip_vloss: bool = True
    """clip the value's move from V_old to clip_coef, as the PPO2 code does (CleanRL's default)"""
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    """stop an update's epochs once the approximate KL to pi_old passes this; None: never"""
    normalize_observation: bool = False
    """scale observations by their running mean and variance (vectors only); the normalisation layer wraps the
    envs for it, `train` itself reads no more of it"""
    normalize_reward: bool = False
    """scale rewards by the running standard deviation of the discounted return; the normalisation layer wraps
    the envs for it, `train` itself reads no more of it"""
    normalize_clip: float = 0.0
    """clip the normalised observations and rewards to [-normalize_clip, normalize_clip] (SB3's VecNormalize:
    10); 0: no clip"""
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_envs", "num_steps", "total_timesteps", "num_minibatches", "update_epochs",
                            "kickstart_timesteps")
        check_unit_interval(self, "gamma", "gae_lambda")
        check_non_negative(self, "ent_coef", "vf_coef", "max_grad_norm", "kickstart_coef", "aux_coef", "normalize_clip")
        if self.kickstart_coef > 0.0 and not self.init_from:
            raise ValueError("kickstart_coef > 0 needs init_from: the teacher is the student the run starts from")
        if not self.clip_coef > 0.0:
            raise ValueError(f"clip_coef must be > 0, got {self.clip_coef!r}")
        if self.target_kl is not None and not self.target_kl > 0.0:
            raise ValueError(f"target_kl must be > 0 or None (no early stop), got {self.target_kl!r}")
        check_bools(self, "share_backbone", "ortho_init", "anneal_lr", "norm_adv", "clip_vloss",
                    "normalize_observation", "normalize_reward")
        if self.backbone_options is None:
            self.backbone_options = dict(MLP_OPTIONS) if self.backbone == "mlp" else {}


def clipped_surrogate(log_ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """PPO's policy loss (eq. 7 of the paper, negated to be minimised), rho = exp(log_ratio):
        L = mean(max(-A rho, -A clip(rho, 1 - clip_coef, 1 + clip_coef)))
    """
    ratio = log_ratio.exp()
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)).mean()


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_coef: float | None) -> torch.Tensor:
    """0.5 mean((V - R)^2), or with `clip_coef` the pessimistic one of it and the clipped value's loss:
        V_clip = V_old + clip(V - V_old, -clip_coef, clip_coef),  L = 0.5 mean(max((V - R)^2, (V_clip - R)^2))
    """
    unclipped = (values - returns) ** 2
    if clip_coef is None:
        return 0.5 * unclipped.mean()
    clipped = (old_values + (values - old_values).clamp(-clip_coef, clip_coef) - returns) ** 2
    return 0.5 * torch.max(unclipped, clipped).mean()


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """KL(pi_old || pi) estimated from samples of pi_old as mean((rho - 1) - log rho): unbiased, never
    negative, lower variance than mean(-log rho) (J. Schulman, "Approximating KL Divergence", 2020)."""
    return ((log_ratio.exp() - 1.0) - log_ratio).mean()


def clip_fraction(log_ratio: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """The share of samples whose ratio left [1 - clip_coef, 1 + clip_coef] (their policy gradient is cut)."""
    return ((log_ratio.exp() - 1.0).abs() > clip_coef).float().mean()


def normalize(advantages: torch.Tensor) -> torch.Tensor:
    """(A - mean) / (std + 1e-8), as CleanRL (a minibatch of one is only centred)."""
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target): 1 for a perfect value function, 0 for a constant one."""
    var = target.var(unbiased=False)
    return float("nan") if var == 0 else float(1.0 - (target - predicted).var(unbiased=False) / var)


@dataclass
class Rollout:
    """num_steps batch steps of N envs, made once and overwritten each update; each tensor (T, N, ...)."""

    obs: Obs  # (T, N, *obs_shape) as the env gives them (uint8 images stay uint8), or a dict of them
    actions: torch.Tensor  # (T, N) ints, or (T, N, d) unclipped Gaussian samples
    log_probs: torch.Tensor  # (T, N) log pi_old(a_t|s_t)
    values: torch.Tensor  # (T, N) V_old(s_t)
    rewards: torch.Tensor  # (T, N)
    terminated: torch.Tensor  # (T, N) 1.0 where step t ended its episode in a terminal state
    dones: torch.Tensor  # (T, N) 1.0 where step t ended its episode (terminated or truncated)
    valid: torch.Tensor  # (T, N) 1.0 where step t was a transition (not an autoreset step)
    starts: torch.Tensor  # (T, N) 1.0 where obs t begins an episode (a recurrent state is zeroed there)
    state: State = ()  # a recurrent model's state before step 0, each (layers, N, hidden); () if feed-forward
    rays: torch.Tensor | None = None  # (T, N, R) the privileged rays of each state (the auxiliary task's targets)

    @classmethod
    def like(cls, obs: Obs, model: ActorCritic, num_steps: int) -> Rollout:
        """Zeros for `num_steps` batch steps of observations like `obs` (N, ...) and `model`'s actions."""
        n = len(next(iter(obs.values())) if isinstance(obs, dict) else obs)
        action_shape = (num_steps, n) if model.discrete else (num_steps, n, model.pi.out_features)
        zeros = lambda: torch.zeros(num_steps, n)  # noqa: E731
        return cls(map_obs(obs, lambda x: torch.zeros((num_steps, *x.shape), dtype=x.dtype)),
                   torch.zeros(action_shape, dtype=torch.long if model.discrete else torch.float32),
                   zeros(), zeros(), zeros(), zeros(), zeros(), zeros(), zeros())


def _store(buffer: Obs, step: int, obs: Obs) -> None:
    if isinstance(buffer, dict):
        for key, value in obs.items():
            buffer[key][step] = value
    else:
        buffer[step] = obs


def train(config: PPOConfig, log: Hook | None = None, resume: dict[str, Any] | None = None,
          env_wrapper: Callable[[Any], Any] | None = None) -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train an actor-critic with PPO; return it and the history of per-update metrics.

    `log`, if given, is called after every batch step (a "step" event) and every update with a dict:
    `global_step`, `update`, the metrics of `history` for this update, `env`, `model` and `state`, a function
    returning everything needed to continue the run (a checkpoint's payload). `resume` is such a payload: the
    run continues from it, on CarDrive exactly as if never stopped. `env_wrapper`, if given, wraps the vector env.
    """
    env, model, optimizer = setup_actor_critic(config, "PPO", env_wrapper, fresh=resume is None)
    aux = _aux_head(config, env, model, optimizer)  # before the optimizer's state loads
    loop, obs = start_loop("ppo", config, env, model, optimizer, resume, log)
    num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
    rollout = Rollout.like(obs_to_tensor(obs), model, config.num_steps)
    memory = Memory.start(model, env.num_envs, resume)
    teacher = kickstart_teacher(config, env, model)
    extra = memory.payload  # what the checkpoint keeps beside the loop's own state
    if aux is not None:
        rollout.rays = torch.zeros(config.num_steps, env.num_envs, aux.out_features)
        extra = lambda: {**memory.payload(), "aux_head": aux.state_dict()}  # noqa: E731
        if resume is not None:
            aux.load_state_dict(resume["extra"]["aux_head"])
    for update in range(loop.update + 1, num_updates + 1):
        if config.anneal_lr:  # every group: the auxiliary head's too
            for group in optimizer.param_groups:
                group["lr"] = annealed_lr(config.learning_rate, update, num_updates)
        kickstart = config.kickstart_coef * max(0.0, 1.0 - loop.global_step / config.kickstart_timesteps)
        # rollout
        obs = _collect(model, env, loop, obs, rollout, memory)
        with torch.no_grad():
            next_value = model.step(obs_to_tensor(obs), memory.state, memory.start)[1]
        next_values = torch.cat([rollout.values[1:], next_value[None]])  # V of what each step returned
        advantages = gae(rollout.rewards, rollout.values, next_values, rollout.terminated, rollout.dones,
                         config.gamma, config.gae_lambda)
        # update
        metrics = _update(model, optimizer, rollout, advantages, config, update, (teacher, kickstart), aux)
        # log
        if teacher is not None:
            metrics["kickstart_coef"] = kickstart
        loop.log_update(update, {**metrics, "learning_rate": optimizer.param_groups[0]["lr"]}, extra)
    env.close()
    return model, loop.history


def _aux_head(config: PPOConfig, env: Any, model: ActorCritic, optimizer: torch.optim.Optimizer
              ) -> torch.nn.Linear | None:
    """The auxiliary task's head (`agents.auxiliary.rays_head`), or None without the task."""
    if config.aux_coef == 0.0:
        return None
    if model.recurrent:
        raise ValueError("aux_coef > 0 needs a feed-forward backbone (its features are read a minibatch at a time)")
    return rays_head(model, cardrive_core(env, "PPO"), optimizer)


def kickstart_teacher(config: PPOConfig, env: Any, model: ActorCritic) -> ActorCritic | None:
    """The frozen student the policy is pulled toward (a fresh copy of `init_from`, on a resumed run too), or
    None without kickstarting. Built under a forked generator, so the run draws the same numbers either way."""
    if config.kickstart_coef == 0.0:
        return None
    if model.recurrent:
        raise ValueError("kickstart_coef > 0 needs a feed-forward backbone (the teacher reads one step at a time)")
    with torch.random.fork_rng():
        teacher = ActorCritic(env.single_observation_space, env.single_action_space, config.backbone,
                              config.backbone_options, config.share_backbone, config.ortho_init,
                              config.log_std_init)
        warm_start(teacher, config, config.init_from)
    return teacher.requires_grad_(False)


def policy_kl(teacher: Any, student: Any, discrete: bool) -> torch.Tensor:
    """KL(teacher || student) per row (B,), summed over a Gaussian's dimensions."""
    kl = torch.distributions.kl_divergence(teacher, student)
    return kl if discrete else kl.sum(-1)


def _collect(model: ActorCritic, env: Any, loop: UpdateLog, obs: Any, rollout: Rollout, memory: Memory) -> Any:
    """Step the envs through one rollout, filling `rollout` (and `memory`) in place; return the last observation."""
    rollout.state = memory.state
    for step in range(len(rollout.rewards)):
        obs_t = obs_to_tensor(obs)
        rollout.starts[step] = memory.start
        with torch.no_grad():
            dist, value, memory.state = model.step(obs_t, memory.state, memory.start)
            action = dist.sample()
            rollout.log_probs[step] = model.log_prob(dist, action)
        _store(rollout.obs, step, obs_t)
        if rollout.rays is not None:  # the auxiliary task's targets, of the state the cars are in before they step
            rollout.rays[step] = torch.from_numpy(env.unwrapped.core.rays())
        rollout.actions[step], rollout.values[step] = action, value
        obs, reward, terminated, truncated, info = env.step(model.to_env(action))
        valid = loop.step(reward, terminated, truncated, info)
        memory.after_step(valid)
        rollout.valid[step] = torch.from_numpy(valid)
        rollout.rewards[step] = torch.from_numpy(reward)
        rollout.terminated[step] = torch.from_numpy(terminated)
        rollout.dones[step] = torch.from_numpy(terminated | truncated)
    return obs


def _update(model: ActorCritic, optimizer: torch.optim.Optimizer, rollout: Rollout, advantages: torch.Tensor,
            config: PPOConfig, update: int, kickstart: tuple[ActorCritic | None, float],
            aux: torch.nn.Linear | None = None) -> dict[str, float]:
    """update_epochs passes of num_minibatches gradient steps over the rollout's transitions; each metric's
    mean over the steps taken, and the old values' explained variance. `kickstart`: (the teacher or None,
    lambda_k now); `aux`: the auxiliary task's head or None."""
    valid = rollout.valid.flatten() > 0  # (T * N,)
    rows = valid.nonzero().squeeze(1)  # the transitions among the T * N flat rows: (B,)
    flat = lambda x: x.flatten(0, 1)  # noqa: E731  (T, N, ...) -> (T * N, ...), a view
    batch = {"obs": map_obs(rollout.obs, flat), "actions": flat(rollout.actions), "log_probs": flat(rollout.log_probs),
             "values": flat(rollout.values), "advantages": flat(advantages),
             "returns": flat(advantages + rollout.values)}
    if aux is not None:
        batch["aux_head"], batch["rays"] = aux, flat(rollout.rays)
    params = [*model.parameters(), *(aux.parameters() if aux is not None else ())]
    teacher, batch["kickstart_coef"] = kickstart
    if teacher is not None:
        with torch.no_grad():
            batch["teacher"] = teacher(batch["obs"])[0]  # the student's policy on every row, once per update
    totals, steps = dict.fromkeys(METRICS, 0.0), 0
    for _ in range(config.update_epochs):
        for mb, outputs in _minibatches(model, rollout, batch, rows, valid, config.num_minibatches):
            loss, metrics = _minibatch_loss(model, outputs, batch, mb, config)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"PPO: the loss became {loss.item()} at update {update}; lower "
                                         f"learning_rate (now {config.learning_rate}) or max_grad_norm "
                                         f"(now {config.max_grad_norm})")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            totals = {key: totals.get(key, 0.0) + value for key, value in metrics.items()}
            steps += 1
        if config.target_kl is not None and steps and metrics["approx_kl"] > config.target_kl:
            break  # as CleanRL: the estimate of the epoch's last minibatch decides
    return {**{key: total / steps if steps else float("nan") for key, total in totals.items()},
            "explained_variance": explained_variance(batch["values"][rows], batch["returns"][rows])}


def _minibatches(model: ActorCritic, rollout: Rollout, batch: dict[str, Any], rows: torch.Tensor,
                 valid: torch.Tensor, count: int):
    """One epoch's minibatches: (flat rows (b,), the model's (distribution, values, policy features or None) on
    them) each.

    Feed-forward: `count` shuffled slices of the transitions. Recurrent: `count` shuffled groups of env columns,
    each replayed over all T steps from the rollout's first state, then cut to its transitions."""
    if not model.recurrent:
        for mb in rows[torch.randperm(len(rows))].tensor_split(count):  # (~B / count,)
            if len(mb):  # empty when there are fewer transitions than minibatches (a tiny rollout)
                # index_select copies whole rows: ~8x faster than x[mb] on a minibatch of uint8 frames
                yield mb, model.forward_with_features(map_obs(batch["obs"], lambda x, mb=mb: x.index_select(0, mb)))
        return
    steps, n = rollout.valid.shape
    for envs in torch.randperm(n).tensor_split(count):  # (~N / count,)
        cells = (torch.arange(steps)[:, None] * n + envs[None, :]).flatten()  # (T * n_mb,), time-major as sequence()
        keep = valid[cells]
        if keep.any():
            dist, values = model.sequence(map_obs(rollout.obs, lambda x, envs=envs: x[:, envs]),
                                          tuple(s[:, envs] for s in rollout.state), rollout.starts[:, envs])
            yield cells[keep], (select_rows(dist, keep), values[keep], None)


def _minibatch_loss(model: ActorCritic, outputs: tuple[Any, torch.Tensor, torch.Tensor | None],
                    batch: dict[str, Any], mb: torch.Tensor,
                    config: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's loss on the rows `mb` of the flat batch, given the model's distribution, values and policy features
    on them, and its parts (METRICS) as numbers."""
    dist, values, features = outputs
    log_ratio = model.log_prob(dist, batch["actions"][mb]) - batch["log_probs"][mb]  # log pi(a|s) / pi_old(a|s)
    advantages = normalize(batch["advantages"][mb]) if config.norm_adv else batch["advantages"][mb]
    policy_loss = clipped_surrogate(log_ratio, advantages, config.clip_coef)
    v_loss = value_loss(values, batch["values"][mb], batch["returns"][mb],
                        config.clip_coef if config.clip_vloss else None)
    entropy = model.entropy(dist).mean()
    loss = policy_loss - config.ent_coef * entropy + config.vf_coef * v_loss
    with torch.no_grad():
        parts = (policy_loss, v_loss, entropy, approx_kl(log_ratio), clip_fraction(log_ratio, config.clip_coef))
    metrics = dict(zip(METRICS, (part.item() for part in parts), strict=True))
    if "teacher" in batch:  # kickstarting: lambda_k KL(pi_teacher || pi)
        kl = policy_kl(select_rows(batch["teacher"], mb), dist, model.discrete).mean()
        loss, metrics["kickstart_kl"] = loss + batch["kickstart_coef"] * kl, kl.item()
    if "aux_head" in batch:  # the auxiliary task: aux_coef ||W h(s) - r(s)||^2 / dim r
        aux = rays_loss(batch["aux_head"], features, batch["rays"][mb])
        loss, metrics["aux_loss"] = loss + config.aux_coef * aux, aux.item()
    return loss, metrics
