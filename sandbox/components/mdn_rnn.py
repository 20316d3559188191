"""M of World Models (Ha & Schmidhuber, "World Models", 2018): an MDN-RNN, an LSTM over (z_t, a_t) whose
output parametrises a mixture of K Gaussians over the next latent z_{t+1}, per latent dimension (the mixture
density network of Bishop 1994 on an RNN, as Graves 2013 writes it).

    h_{t+1}, c_{t+1} = LSTM([z_t, a_t], (h_t, c_t))
    log pi, mu, log sigma = Linear(h_{t+1})          each (latent, K); log pi = log_softmax over the K components
    p(z_{t+1,j}) = sum_k pi_jk N(z_{t+1,j}; mu_jk, sigma_jk^2)
    log N(y; mu, sigma) = -log sigma - (y - mu)^2 / (2 sigma^2) - log sqrt(2 pi)
    NLL = -mean_{t,j} log sum_k exp(log pi_jk + log N(z_{t+1,j}; mu_jk, sigma_jk))     (a log-sum-exp over k)

It learns from recorded episodes (frames and continuous actions, `sandbox collect --obs pixels --continuous`)
encoded by the frozen V, cut into chunks of `sequence_length` transitions that never cross an episode's end
(truncated backpropagation through time; each chunk starts from a zero state, as each episode does). The
controller (world_models.py) reads h, M's summary of what it has seen and done: the speed and the turn a single
frame cannot show.

    M = MDNRNN({"latent": 32, "action": 2}, MDNRNNConfig(hidden=32))
    history = M.fit(MDNRNN.dataset(arrays, meta, vae=encoder), epochs=10)     # {"loss": [...], "mse": [...]}
    state = M.initial_state(n); state = M.step(z, a, state); h = state[0]     # (n, hidden)

`sandbox fit mdn_rnn --data FILE --vae runs/vae/checkpoint.pt` trains it from the command line.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sandbox.components.base import Dataset, fit_epochs, load_component, need, save_component

LOG_SIGMA_RANGE = (-7.0, 3.0)  # sigma in [1e-3, 20]: a component collapsing onto one point would make NLL -inf
State = tuple[torch.Tensor, torch.Tensor]  # the LSTM's (h, c), each (B, hidden)


@dataclass
class MDNRNNConfig:
    """Hyper-parameters of the MDN-RNN."""

    hidden: int = 32
    """LSTM width. The paper's 256 gives the controller (32 + 256 + 1) x 3 weights, which it evolved with CMA-ES
    on a cluster; CMA-ES's covariance has n^2 entries and learns it in O(n) generations, so on a CPU and a
    bench's few dozen generations a controller over [z, h] stays workable only with a small h: 32 gives
    (32 + 32 + 1) x 2 = 130 weights (V + C alone: 66)"""
    mixtures: int = 5
    """K, Gaussians per latent dimension (the paper: 5)"""
    sequence_length: int = 32
    """transitions per training chunk (truncated backpropagation through time)"""
    learning_rate: float = 3e-3
    """Adam's step size (on 8000 steps of normal, 3e-3 and batches of 16 reach in 50 epochs an NLL that 1e-3 and
    batches of 32 had not reached in 150)"""
    batch_size: int = 16
    """chunks per gradient step"""
    max_grad_norm: float = 1.0
    """gradient clipping (norm), as LSTMs want"""
    vae: str = ""
    """the VAE checkpoint whose codes it models (what `sandbox fit mdn_rnn --vae` encodes the frames with)"""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "mixtures", "sequence_length", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


def log_normal(y: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log N(y; mu, sigma^2) = -log sigma - (y - mu)^2 / (2 sigma^2) - log sqrt(2 pi), elementwise."""
    return -log_sigma - 0.5 * ((y - mu) * torch.exp(-log_sigma)).pow(2) - 0.5 * math.log(2 * math.pi)


def mdn_nll(log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, target: torch.Tensor,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mixture's negative log likelihood of `target`, a mean over latent dimensions and (unmasked) steps.

    Args:
        log_pi, mu, log_sigma: the mixture, (..., latent, K); log_pi normalised over K.
        target: z_{t+1}, (..., latent).
        mask: (...) 1 where a step is real, 0 where it pads a chunk; None: every step counts.
    """
    log_p = torch.logsumexp(log_pi + log_normal(target.unsqueeze(-1), mu, log_sigma), dim=-1)  # (..., latent)
    nll = -log_p.mean(dim=-1)  # (...) per step
    if mask is None:
        return nll.mean()
    return (nll * mask).sum() / mask.sum().clamp(min=1.0)


def sequences(z: np.ndarray | torch.Tensor, actions: np.ndarray | torch.Tensor, episode: np.ndarray,
              length: int) -> Dataset:
    """Cut encoded episodes into chunks of `length` transitions (z_t, a_t) -> z_{t+1} within one episode.

    Returns {"z": (N, length + 1, latent), "action": (N, length, A), "mask": (N, length)}; a chunk shorter than
    `length` (an episode's tail) is padded with zeros and mask 0. An episode of n steps gives n - 1 transitions.
    """
    z, actions = torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(actions, dtype=torch.float32)
    starts = np.flatnonzero(np.r_[True, np.diff(episode) != 0])
    ends = np.r_[starts[1:], len(episode)]
    chunks = [(s, min(s + length, e - 1)) for first, e in zip(starts, ends, strict=True)
              for s in range(first, e - 1, length)]  # transitions [s, stop): z[s:stop + 1], a[s:stop]
    if not chunks:
        raise ValueError("no transitions to learn from: every episode is a single step")
    out_z = torch.zeros(len(chunks), length + 1, z.shape[1])
    out_a = torch.zeros(len(chunks), length, actions.shape[1])
    mask = torch.zeros(len(chunks), length)
    for i, (s, stop) in enumerate(chunks):
        out_z[i, :stop - s + 1], out_a[i, :stop - s], mask[i, :stop - s] = z[s:stop + 1], actions[s:stop], 1.0
    return {"z": out_z, "action": out_a, "mask": mask}


def encode_frames(encoder: Any, frames: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """z of every frame through a frozen encoder (pixels -> z), in batches: (T, H, W, C) -> (T, latent)."""
    frames = torch.as_tensor(frames)
    with torch.no_grad():
        return torch.cat([encoder(chunk) for chunk in frames.split(batch_size)])


class MDNRNN(nn.Module):
    """The LSTM and its mixture head over z_{t+1}.

    Args:
        shapes: {"latent": width of z, "action": width of an action (2: steer, throttle)}.
        config: an `MDNRNNConfig`.
    """

    kind = "mdn_rnn"
    config_class = MDNRNNConfig

    def __init__(self, shapes: dict[str, Any], config: MDNRNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MDNRNNConfig()
        self.shapes = {"latent": int(shapes["latent"]), "action": int(shapes["action"])}
        torch.manual_seed(config.seed)
        self.lstm = nn.LSTM(self.shapes["latent"] + self.shapes["action"], config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, self.shapes["latent"] * 3 * config.mixtures)  # log pi, mu, log sigma
        self.optimizers = {"model": torch.optim.Adam(self.parameters(), lr=config.learning_rate)}

    @staticmethod
    def dataset(arrays: dict[str, np.ndarray], meta: dict[str, Any], vae: Any = None,
                sequence_length: int = 32) -> Dataset:
        """A trajectory file's frames encoded by `vae` (a checkpoint path, a trained `Autoencoder`, or an encoder
        module: pixels -> z) and its continuous actions, in chunks (`sequences`)."""
        frames = need(arrays, "pixels", "MDN-RNN", "collect with `sandbox collect --obs pixels --continuous`")
        if np.ndim(arrays["action"]) != 2:
            raise ValueError("the MDN-RNN models continuous (steer, throttle) actions; this file holds Discrete "
                             "ones: collect with `sandbox collect --continuous`")
        if vae is None or vae == "":
            raise ValueError("the MDN-RNN models a VAE's codes: give the VAE (`--vae runs/vae/checkpoint.pt`)")
        encoder = _encoder(vae, frames.shape[1:])
        return sequences(encode_frames(encoder, frames), arrays["action"], arrays["episode"], sequence_length)

    @staticmethod
    def shapes_of(dataset: Dataset) -> dict[str, Any]:
        return {"latent": int(dataset["z"].shape[-1]), "action": int(dataset["action"].shape[-1])}

    def forward(self, z: torch.Tensor, actions: torch.Tensor, state: State | None = None
                ) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], State]:
        """Sequences z (B, T, latent), actions (B, T, A) -> the mixtures over z_{t+1} (each (B, T, latent, K))
        and the last state."""
        if state is not None:
            state = (state[0].unsqueeze(0), state[1].unsqueeze(0))  # (1, B, hidden): one layer
        out, (h, c) = self.lstm(torch.cat([z, actions], dim=-1), state)  # (B, T, hidden)
        return self.mixture(out), (h[0], c[0])

    def mixture(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log pi, mu, log sigma), each (..., latent, K), from LSTM outputs (..., hidden)."""
        K = self.config.mixtures
        params = self.head(h).view(*h.shape[:-1], self.shapes["latent"], 3, K)  # (..., latent, 3, K)
        logits, mu, log_sigma = params.unbind(dim=-2)
        return logits.log_softmax(dim=-1), mu, log_sigma.clamp(*LOG_SIGMA_RANGE)

    def initial_state(self, batch: int) -> State:
        """Zero (h, c) for `batch` sequences: what every episode starts from."""
        zeros = torch.zeros(batch, self.config.hidden)
        return zeros, zeros.clone()

    def step(self, z: torch.Tensor, actions: torch.Tensor, state: State) -> State:
        """One step for a batch of cars: z (B, latent), actions (B, A), state (h, c) -> (h, c) after it."""
        with torch.no_grad():
            _, state = self.lstm(torch.cat([z, actions], dim=1).unsqueeze(1),  # (B, 1, latent + A)
                                 (state[0].unsqueeze(0), state[1].unsqueeze(0)))
        return state[0][0], state[1][0]

    def predict(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The mixture's mean of z_{t+1} after each step of sequences: (B, T, latent)."""
        with torch.no_grad():
            (log_pi, mu, _), _ = self(z, actions)
        return (log_pi.exp() * mu).sum(dim=-1)

    def loss(self, batch: Dataset) -> dict[str, torch.Tensor]:
        """NLL of z_{t+1} over a batch of chunks, and the squared error of the mixture's mean (per dimension)."""
        z, mask = batch["z"], batch["mask"]
        (log_pi, mu, log_sigma), _ = self(z[:, :-1], batch["action"])  # (B, L, latent, K)
        target = z[:, 1:]  # (B, L, latent)
        mse = (((log_pi.exp() * mu).sum(dim=-1) - target).pow(2).mean(dim=-1) * mask).sum() / mask.sum().clamp(min=1)
        return {"loss": mdn_nll(log_pi, mu, log_sigma, target, mask), "mse": mse}

    def fit_step(self, batch: Dataset) -> dict[str, float]:
        """One Adam step on a batch of chunks (gradients clipped to `max_grad_norm`); returns its losses."""
        losses = self.loss(batch)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad()
        losses["loss"].backward()
        nn.utils.clip_grad_norm_(self.parameters(), self.config.max_grad_norm)
        optimizer.step()
        return {key: value.item() for key, value in losses.items()}

    fit = fit_epochs
    save = save_component
    load = staticmethod(load_component)


def _encoder(vae: Any, frame_shape: tuple[int, ...]) -> Any:
    """pixels -> z: a module's `encode` (an `Autoencoder`, the "latent" backbone) or its forward, or the "latent"
    backbone of a VAE checkpoint (frozen)."""
    if isinstance(vae, nn.Module):
        vae.eval()
        return vae.encode if hasattr(vae, "encode") else vae
    if not isinstance(vae, (str, os.PathLike)):
        raise TypeError(f"vae must be a checkpoint path or an encoder module, got {type(vae).__name__}")
    from gymnasium import spaces

    from sandbox.components.latent import LatentBackbone

    return LatentBackbone(spaces.Box(0, 255, tuple(frame_shape), dtype=np.uint8), checkpoint=vae).eval()
