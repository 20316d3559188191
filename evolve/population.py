"""All the networks of a population in one forward pass, one network per car.

    nets = PopulationNet.build(template, vectors)       # vectors: (P, n_params)
    outputs = nets(obs)                                 # (P, B, *obs_shape) -> (P, B, n_out)
    nets = nets.select(rows)                            # keep networks `rows` (cars still driving)
    nets.assign(rows, bank, members)                    # rows become networks `members` of bank, in place

MLPs (the usual driver) run as a `sandbox.backbones.StackedMLP`: one `baddbmm` per layer for all P networks.
Any other backbone (CNN, attention, a plug-in) runs through `torch.func.vmap` over `functional_call`: the
template's own code with each network's parameters, vectorised over P. A recurrent driver (a "gru" or "lstm"
backbone) runs as a `RecurrentPopulationNet` (below), which carries one state per network
from call to call. Either way network p's output depends on its own parameters and observations alone,
whichever others share the batch, bit for bit: the stacked tensors are padded to a multiple of 32 networks
(`aligned`), so that torch computes every element of an elementwise op the same way in any batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from sandbox.backbones import StackedMLP, is_recurrent, stack_flat
from sandbox.backbones.population import ELEMENTWISE

ROWS_ALIGN = 32  # the stacked tensors hold a multiple of this many networks (see `aligned`)


def aligned(n: int) -> int:
    """n rounded up to a multiple of ROWS_ALIGN. torch computes an elementwise op over a tensor in SIMD
    blocks of two vectors and the elements past the last whole block by another path, which for sigmoid (so
    the tanh activation too) can round differently in the last bit: network p's numbers would depend on how
    many networks share the call. With every tensor a multiple of 32 rows long (two AVX-512 vectors of
    float32), every element is computed in a block, the same way in any batch. (With several torch threads,
    an op over 32k elements or more is split between them at points that need not fall on a block: the
    evaluator drives its slots on one thread, evolve/slots.py.)"""
    return -(-n // ROWS_ALIGN) * ROWS_ALIGN


class PopulationNet:
    """P networks of one architecture, evaluated together: MLPs as per-layer (weight (P', in, out), bias
    (P', 1, out), activation), anything else as its parameters stacked (P', *shape) for `vmap`; P' =
    `aligned(P)`, the rows past P filler that is computed and thrown away."""

    def __init__(self, template: nn.Module, layers: list[tuple] | None, params: dict[str, torch.Tensor] | None,
                 size: int):
        self.template, self.layers, self.params, self.size = template, layers, params, size

    @classmethod
    def build(cls, template: nn.Module, vectors: np.ndarray) -> PopulationNet | RecurrentPopulationNet:
        """P networks shaped like `template` from (P, n_params) vectors: a `PopulationNet`, or for a recurrent
        driver a `RecurrentPopulationNet` (the same calls, and a state per network)."""
        if is_recurrent(getattr(template, "backbone", template)):
            return RecurrentPopulationNet.build(template, vectors)
        flat = pad_rows(torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32)))  # (P', n_params)
        try:
            return cls(template, _folded(stack_flat(template, flat)), None, len(vectors))
        except TypeError:  # not a plain MLP: vectorise the template's own forward
            names, shapes = zip(*[(name, p.shape) for name, p in template.named_parameters()], strict=True)
            parts = torch.split(flat, [int(np.prod(shape)) for shape in shapes], dim=1)
            return cls(template, None, {name: part.reshape(len(flat), *shape)  # (P', *shape) per parameter
                                        for name, part, shape in zip(names, parts, shapes, strict=True)},
                       len(vectors))

    def select(self, rows: np.ndarray) -> PopulationNet:
        """The networks `rows` (indices), in that order."""
        index = aligned_index(rows)
        if self.layers is not None:
            return PopulationNet(self.template, [(w[index], b[index], fn) for w, b, fn in self.layers], None,
                                 len(rows))
        return PopulationNet(self.template, None, {name: p[index] for name, p in self.params.items()}, len(rows))

    def assign(self, rows: np.ndarray, source: PopulationNet, members: np.ndarray) -> None:
        """Networks `rows` become `source`'s networks `members` (same architecture), in place: only those rows'
        weights are written (a slot of the evaluator starting another individual's episode)."""
        index, pick = torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(members, dtype=torch.int64)
        if self.layers is not None:
            for (w, b, _), (source_w, source_b, _) in zip(self.layers, source.layers, strict=True):
                w[index], b[index] = source_w[pick], source_b[pick]
            return
        for name, p in self.params.items():
            p[index] = source.params[name][pick]

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, *obs_shape) -> (P, B, n_out)."""
        obs = pad_rows(obs, self.size)  # (P', B, *obs_shape)
        if self.layers is not None:  # the hot loop of evolution: plain tensor calls, nothing else
            x = obs.reshape(obs.shape[0], obs.shape[1], -1)  # (P', B, in)
            for w, b, fn in self.layers:
                x = torch.baddbmm(b, x, w)  # (P', B, out) = b + x @ w, per network
                if fn is not None:
                    x = fn(x)
            return x[: self.size]
        with torch.no_grad():
            buffers = dict(self.template.named_buffers())
            one = lambda p, x: functional_call(self.template, (p, buffers), (x,))  # noqa: E731
            return vmap(one)(self.params, obs)[: self.size]


def pad_rows(x: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """`x` (`size` rows, `len(x)` if None) with zero rows after them up to `aligned(size)`."""
    size = len(x) if size is None else size
    if len(x) != size:
        raise ValueError(f"{len(x)} rows of input for {size} networks")
    if size == aligned(size):
        return x
    return torch.cat([x, x.new_zeros(aligned(size) - size, *x.shape[1:])])


def aligned_index(rows: np.ndarray) -> torch.Tensor:
    """`rows` as a tensor index, repeating its first row up to `aligned(len(rows))` (the filler networks)."""
    rows = np.asarray(rows, dtype=np.int64)
    return torch.as_tensor(np.concatenate([rows, np.full(aligned(len(rows)) - len(rows), rows[0])]))


def _folded(stacked: StackedMLP) -> list[tuple[torch.Tensor, torch.Tensor, Any]]:
    """(weight, bias, activation) per layer, the input scaling folded into the first layer:
    (shift + x * scale) @ W + b = x @ (scale * W) + (shift @ W + b)."""
    layers = [[w, b, ELEMENTWISE[a] if a is not None else None]
              for (w, b), a in zip(stacked.layers(), stacked.activations, strict=True)]
    if stacked.scaler is not None:
        w, b = layers[0][0], layers[0][1]
        scale, shift = stacked.scaler.scale, stacked.scaler.shift  # (in,), (in,)
        layers[0][0] = w * scale[None, :, None]  # (P, in, out)
        layers[0][1] = b + (shift @ w).unsqueeze(1)  # (P, 1, out)
    return [tuple(layer) for layer in layers]


# -- recurrent drivers -----------------------------------------------------------------------------------
# All the recurrent drivers of a population (a GRU or LSTM over a feed-forward stem) in one forward a step,
# each network with its own state.
#
#     nets = RecurrentPopulationNet.build(template, vectors)   # template: a Driver over "gru" / "lstm"; (P, n_params)
#     outputs = nets(obs)            # (P, B, *obs_shape) -> (P, B, n_out); each network's state steps with it
#     nets = nets.select(rows)       # networks `rows`, with their states
#     nets.assign(rows, bank, members)   # rows become networks `members` of bank, from zero states
#     nets.reset_state()             # every state back to zeros at the next call
#
# `PopulationNet.build` comes here when the template's backbone is recurrent. The stem runs as a `PopulationNet`
# of its own (an MLP stem, the rays case, as stacked `baddbmm` layers; any other stem through `vmap`). Each
# recurrent layer is written out with two `baddbmm`s for all P networks, the input and the recurrent weights of
# every gate at once (torch stacks them in its gate order: r, z, n for a GRU; i, f, g, o for an LSTM), and the
# head is one more. The formulas are torch's own (the nn.GRU and nn.LSTM docs; Cho et al. 2014, Hochreiter &
# Schmidhuber 1997), so network p computes what `Driver.step` computes with nn.GRU / nn.LSTM (tests/evolve/
# test_recurrent_driver.py holds them together):
#
#     GRU   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
#           n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   h' = (1 - z) * n + z * h
#     LSTM  i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*)   g = tanh(W_ig x + b_ig + W_hg h + b_hg)
#           c' = f * c + i * g                              h' = o * tanh(c')
#
# A layer above the first reads the new h of the layer below. The state is (h,) or (h, c), each
# (num_layers, P, B, hidden): torch's (num_layers, B, hidden) per network. It starts at zeros; `assign` zeroes
# the rows it rewrites, where the evaluator's slot starts another episode (evolve/slots.py).

State = tuple[torch.Tensor, ...]
Layer = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # w_ih, b_ih, w_hh, b_hh


class RecurrentPopulationNet:
    """P recurrent drivers of one architecture: a stem population, per recurrent layer (w_ih (P', in, G * H),
    b_ih (P', 1, G * H), w_hh (P', H, G * H), b_hh (P', 1, G * H)) with G gates, the head (P', H, n_out),
    (P', 1, n_out), and the state of every network; P' = `aligned(P)` rows, as `PopulationNet` pads them."""

    def __init__(self, stem: PopulationNet, layers: list[Layer], head: tuple[torch.Tensor, torch.Tensor],
                 lstm: bool, size: int, state: State | None = None):
        self.stem, self.layers, self.head, self.lstm, self.size, self.state = stem, layers, head, lstm, size, state

    @classmethod
    def build(cls, template: nn.Module, vectors: np.ndarray) -> RecurrentPopulationNet:
        """P networks shaped like `template` (a `Driver` over a `RecurrentBackbone`) from (P, n_params) vectors
        in `parameters_to_vector` order."""
        rnn = _check(template)
        flat = torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32))
        size = flat.shape[0]
        names, shapes = zip(*[(name, p.shape) for name, p in template.named_parameters()], strict=True)
        sizes = [int(np.prod(shape)) for shape in shapes]
        if flat.dim() != 2 or flat.shape[1] != sum(sizes):
            raise ValueError(f"vectors have shape {tuple(flat.shape)}; this template needs (P, {sum(sizes)})")
        flat = pad_rows(flat)  # (P', n_params)
        P = flat.shape[0]
        parts = dict(zip(names, torch.split(flat, sizes, dim=1), strict=True))  # name -> (P, size)
        stem_names = [name for name in names if name.startswith("backbone.stem.")]
        stem = PopulationNet.build(template.backbone.stem, torch.cat([parts[n] for n in stem_names], dim=1))
        params = {name: part.reshape(P, *shape) for (name, part), shape in zip(parts.items(), shapes, strict=True)}
        layers = []
        for k in range(rnn.num_layers):
            w_ih, w_hh = (params[f"backbone.rnn.weight_{kind}_l{k}"] for kind in ("ih", "hh"))  # (P, G * H, in)
            b_ih, b_hh = (params[f"backbone.rnn.bias_{kind}_l{k}"] for kind in ("ih", "hh"))  # (P, G * H)
            layers.append((w_ih.transpose(1, 2).contiguous(), b_ih.unsqueeze(1),  # (P, in, G * H), (P, 1, G * H)
                           w_hh.transpose(1, 2).contiguous(), b_hh.unsqueeze(1)))  # (P, H, G * H), (P, 1, G * H)
        head = (params["head.weight"].transpose(1, 2).contiguous(), params["head.bias"].unsqueeze(1))
        return cls(stem, layers, head, isinstance(rnn, nn.LSTM), size)

    def select(self, rows: np.ndarray) -> RecurrentPopulationNet:
        """The networks `rows` (indices), in that order, each with its state."""
        index = aligned_index(rows)
        state = None if self.state is None else tuple(s[:, index] for s in self.state)  # (L, rows', B, H)
        return RecurrentPopulationNet(self.stem.select(index.numpy()), [tuple(t[index] for t in layer)
                                                                          for layer in self.layers],
                                      (self.head[0][index], self.head[1][index]), self.lstm, len(rows), state)

    def assign(self, rows: np.ndarray, source: RecurrentPopulationNet, members: np.ndarray) -> None:
        """Networks `rows` become `source`'s networks `members`, in place, each from a zero state (a slot of the
        evaluator starting another individual's episode): the rows' next call is their network's first."""
        index, pick = torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(members, dtype=torch.int64)
        self.stem.assign(rows, source.stem, members)
        for layer, source_layer in zip(self.layers, source.layers, strict=True):
            for t, source_t in zip(layer, source_layer, strict=True):
                t[index] = source_t[pick]
        for t, source_t in zip(self.head, source.head, strict=True):
            t[index] = source_t[pick]
        for s in self.state or ():
            s[:, index] = 0.0  # (L, rows, B, H)

    def reset_state(self) -> None:
        """Zeros for every network at the next call."""
        self.state = None

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, *obs_shape) -> (P, B, n_out), one step of every network from its state, which it then keeps."""
        x = self.stem(pad_rows(obs, self.size))  # (P', B, stem_out)
        P, B, H = x.shape[0], x.shape[1], self.layers[0][2].shape[1]
        if self.state is None:
            self.state = tuple(x.new_zeros(len(self.layers), P, B, H) for _ in range(2 if self.lstm else 1))
        elif self.state[0].shape[2] != B:  # (the rows were checked by pad_rows)
            raise ValueError(f"observations of {B} cars per network, but the state holds {self.state[0].shape[2]}: "
                             "reset_state() starts new cars")
        new_h, new_c = [], []
        for k, (w_ih, b_ih, w_hh, b_hh) in enumerate(self.layers):
            gi = torch.baddbmm(b_ih, x, w_ih)  # (P, B, G * H) = W_i x + b_i, every gate
            gh = torch.baddbmm(b_hh, self.state[0][k], w_hh)  # (P, B, G * H) = W_h h + b_h
            if self.lstm:
                h, c = _lstm(gi, gh, self.state[1][k])
                new_c.append(c)
            else:
                h = _gru(gi, gh, self.state[0][k])
            new_h.append(h)
            x = h  # the next layer reads this one's new h
        self.state = (torch.stack(new_h), torch.stack(new_c)) if self.lstm else (torch.stack(new_h),)  # (L, P, B, H)
        w, b = self.head
        return torch.baddbmm(b, x, w)[: self.size]  # (P, B, n_out)


def _gru(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """A GRU step from the gate pre-activations gi = W_i x + b_i, gh = W_h h + b_h (P, B, 3H): h' (P, B, H)."""
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # (P, B, H) each, torch's order r, z, n
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)  # = (1 - z) * n + z * h, in the order torch's kernel computes it


def _lstm(gi: torch.Tensor, gh: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An LSTM step from the gate pre-activations (P, B, 4H) and the cell c (P, B, H): (h', c')."""
    i, f, g, o = (gi + gh).chunk(4, dim=-1)  # (P, B, H) each, torch's order i, f, g, o
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _check(template: nn.Module) -> nn.RNNBase:
    """The template's nn.GRU or nn.LSTM, once it is known to be the layout this file computes."""
    backbone, head = getattr(template, "backbone", None), getattr(template, "head", None)
    rnn, stem = getattr(backbone, "rnn", None), getattr(backbone, "stem", None)
    if not isinstance(rnn, (nn.GRU, nn.LSTM)) or stem is None or not isinstance(head, nn.Linear):
        raise TypeError(f"a recurrent population runs a Driver whose backbone is sandbox's RecurrentBackbone (stem, "
                        f"then nn.GRU or nn.LSTM) under a Linear head; got {type(template).__name__} over "
                        f"{type(backbone).__name__}")
    if rnn.batch_first or rnn.bidirectional or not rnn.bias or getattr(rnn, "proj_size", 0) or head.bias is None:
        raise TypeError("a recurrent population runs time-major, one-directional recurrent layers with biases, no "
                        "projection, and a head with a bias")
    return rnn
