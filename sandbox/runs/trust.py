"""What a checkpoint may make Python import: only the sandbox's own code, unless the caller trusts the file.

A checkpoint is read with `weights_only=True`, so unpickling runs no code; but the strings it stores can still
name code. A backbone spec "package.module:attr" imports `package.module` when the network is built, and
gymnasium's `make("module:EnvId")` imports `module`. Either, in an edited or downloaded checkpoint, runs
whatever that module does on import. So every loader calls `check_checkpoint` first, before it builds or
imports anything:

    payload = load_checkpoint(path)
    check_checkpoint(payload, path, trust_code)   # UntrustedCodeError (a ValueError) names the file and spec

Built-in backbones ("mlp", "cnn", ...) and those published under the entry-point group `sandbox.backbones`
(installed packages: the user chose to install them) never contain ':' and need no trust. A "module:attr"
spec the user types on the command line is theirs, so only what comes from a file is checked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# what a spec of each kind looks like when it names code, for the message
_SHAPES = {"backbone": "module:attr", "env id": "module:EnvId"}
# fields whose string values are env ids (agents' configs: `env_id`)
_ENV_FIELDS = frozenset({"env_id"})
# fields whose string (or list of strings) values are backbone specs: a config's `backbone`, an evolution
# config's `arch_families`, an architecture gene's `family`, a recurrent backbone's `stem` (in its options);
# `*_backbone` catches a second one (a critic's)
_BACKBONE_FIELDS = frozenset({"backbone", "arch_families", "family", "stem"})

Spec = tuple[str, str]
"""(what, value): ("backbone", "mymod:Net") or ("env id", "mymod:Env-v0")"""


class UntrustedCodeError(ValueError):
    """A checkpoint names code outside the sandbox and the caller did not pass `trust_code=True`.

    A ValueError, so the CLI, which prints a ValueError as one line, prints this one as one line.
    """


def names_code(spec: str) -> bool:
    """Whether a backbone spec or env id makes Python import a module it names ("module:attr")."""
    # registered and entry-point names may not contain ':' (register_backbone refuses it), nor may gymnasium
    # ids other than "module:EnvId"; so ':' is exactly the mark of an import
    return ":" in spec


def code_specs(payload: Mapping[str, Any]) -> list[Spec]:
    """Every backbone spec and env id a checkpoint's payload stores that names code ("module:attr").

    Walks the whole payload rather than a list of known paths, so a field in any kind of checkpoint is found:
    an agent run's `run.settings.backbone` / `env_id`, an evolved driver's `backbone`, an evolution run's
    `config.backbone`, `config.arch_families` and its individuals' `arch` genes, a component's
    `config.backbone`.
    """
    return [(what, value) for what, value in _specs(payload) if names_code(value)]


def check_trusted(specs: Iterable[Spec], source: str | os.PathLike, trust_code: bool = False) -> None:
    """Refuse the first spec that names code, unless `trust_code`.

    Args:
        specs: (what, value) pairs, what being "backbone" or "env id" (see `code_specs`).
        source: the file the specs come from, named in the message.
        trust_code: the caller vouches for the file (`--trust-code`): nothing is refused.

    Raises:
        UntrustedCodeError: a spec names code and `trust_code` is False.
    """
    if trust_code:
        return
    for what, value in specs:
        if names_code(value):
            raise UntrustedCodeError(
                f"{os.fspath(source)}: its {what} {value!r} names code outside the sandbox "
                f"({_SHAPES.get(what, 'module:attr')}); pass --trust-code if you trust this file")


def check_checkpoint(payload: Mapping[str, Any], source: str | os.PathLike, trust_code: bool = False) -> None:
    """`check_trusted` on everything a loaded checkpoint names: call it before building or importing anything.

    Raises:
        UntrustedCodeError: the payload names code and `trust_code` is False.
    """
    if not trust_code:  # trusted: no need to walk the payload at all
        check_trusted(code_specs(payload), source)


def _specs(node: Any, key: str | None = None) -> Iterator[Spec]:
    """(what, value) for every backbone-like or env-id field below `node` (tensors and numbers are skipped)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _specs(v, k if isinstance(k, str) else None)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _specs(item, key)
    elif isinstance(node, str) and key is not None:
        if key in _ENV_FIELDS:
            yield "env id", node
        elif key in _BACKBONE_FIELDS or key.endswith("_backbone"):
            yield "backbone", node
        elif key == "arch":  # an evolved individual's genes: a JSON string holding its `family`
            yield from _specs(_json(node))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # not genes after all: nothing in it is a spec
        return None
