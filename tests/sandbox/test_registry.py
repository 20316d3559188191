"""The plug-in point, used as a user would: a module of their own named by "module:attr", `register_backbone`,
and a separately installed package publishing a backbone under the entry-point group `sandbox.backbones`."""

from __future__ import annotations

import importlib
import uuid

import pytest
import torch
from torch import nn

from sandbox.backbones import available_backbones, make_backbone, register_backbone
from sandbox.backbones import registry as registry_module
from tests.sandbox.spaces import cardrive_space, cartpole_space, sample_batch

# A user's backbone, as it would sit in their own file: observation space in, out_dim set.
USER_MODULE = """
import numpy as np
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, observation_space, hidden=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(int(np.prod(observation_space.shape)), hidden), nn.ReLU())
        self.out_dim = hidden

    def forward(self, obs):
        return self.net(obs.flatten(1).float())


class NoOutDim(nn.Module):
    def __init__(self, observation_space):
        super().__init__()

    def forward(self, obs):
        return obs


class NotAModule:
    def __init__(self, observation_space):
        self.out_dim = 3


def tiny_factory(observation_space, **options):
    return TinyNet(observation_space, **options)


NOT_CALLABLE = 42
"""


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    """Write modules / packages into tmp_path, importable for this test only."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    importlib.invalidate_caches()


def write_user_module(folder) -> str:
    name = f"user_nets_{uuid.uuid4().hex[:8]}"  # unique, so no test sees another's import cache
    (folder / f"{name}.py").write_text(USER_MODULE)
    return name


def test_module_attr_spec_builds_a_user_class(on_path):
    module = write_user_module(on_path)
    backbone = make_backbone(f"{module}:TinyNet", cardrive_space("rays"), hidden=5)
    assert backbone.out_dim == 5
    assert backbone(sample_batch(cardrive_space("rays"), 3)).shape == (3, 5)
    assert make_backbone(f"{module}:tiny_factory", cartpole_space()).out_dim == 8


def test_register_backbone_by_call_and_as_decorator(on_path, monkeypatch):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    user = importlib.import_module(write_user_module(on_path))
    register_backbone("tiny", user.TinyNet)

    @register_backbone("tiny2")
    class Tiny2(user.TinyNet):
        pass

    assert {"tiny", "tiny2", "mlp", "cnn", "attention"} <= set(available_backbones())
    assert make_backbone("tiny", cardrive_space("rays")).out_dim == 8
    assert isinstance(make_backbone("tiny2", cardrive_space("rays"), hidden=3), Tiny2)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny", user.TinyNet)
    with pytest.raises(ValueError, match="without ':'"):
        register_backbone("a:b", user.TinyNet)
    with pytest.raises(TypeError, match="expected a class or function"):
        register_backbone("bad", 3)


def write_entry_point_package(folder, dist: str, package: str, names: dict[str, str]) -> None:
    """A package as pip installs it: the code, and a *.dist-info folder whose entry_points.txt
    importlib.metadata reads."""
    (folder / package).mkdir()
    (folder / package / "__init__.py").write_text("")
    (folder / package / "nets.py").write_text(USER_MODULE)
    info = folder / f"{dist}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in names.items())
    (info / "entry_points.txt").write_text(f"[sandbox.backbones]\n{lines}\n")


def test_entry_point_package_is_found_by_name(on_path):
    tag = uuid.uuid4().hex[:8]
    package = f"plugpkg_{tag}"
    write_entry_point_package(
        on_path,
        f"plugdist_{tag}",
        package,
        {
            f"tinynet_{tag}": f"{package}.nets:TinyNet",
            f"broken_{tag}": f"{package}.missing:Nope",
        },
    )
    assert f"tinynet_{tag}" in available_backbones()
    backbone = make_backbone(f"tinynet_{tag}", cardrive_space("rays"), hidden=4)
    assert backbone(sample_batch(cardrive_space("rays"), 2)).shape == (2, 4)
    with pytest.raises(ValueError, match=f"broken_{tag}.*failed to load"):
        make_backbone(f"broken_{tag}", cardrive_space("rays"))


def test_unknown_spec_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        make_backbone("resnet9000", cardrive_space("rays"))
    message = str(info.value)
    assert "unknown backbone 'resnet9000'" in message
    assert all(name in message for name in ("attention", "cnn", "mlp", "table", "latent")) and "module:attr" in message


@pytest.mark.parametrize(
    ("attr", "error", "needle"),
    [
        ("NoOutDim", TypeError, "out_dim"),
        ("NotAModule", TypeError, "not a torch.nn.Module"),
        ("NOT_CALLABLE", TypeError, "not a class or function"),
        ("Missing", ValueError, "has no attribute 'Missing'"),
    ],
)
def test_bad_plug_ins_get_clear_errors(on_path, attr, error, needle):
    module = write_user_module(on_path)
    with pytest.raises(error) as info:
        make_backbone(f"{module}:{attr}", cardrive_space("rays"))
    assert needle in str(info.value)
    assert "known backbones: " in str(info.value) or error is ValueError


def test_bad_module_and_constructor_errors_name_the_spec(on_path):
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'"):
        make_backbone("no_such_module_xyz:Net", cardrive_space("rays"))
    module = write_user_module(on_path)
    with pytest.raises(TypeError, match=r"TinyNet\(observation_space, \*\*options\)"):
        make_backbone(f"{module}:TinyNet", cardrive_space("rays"), widht=3)
    with pytest.raises(TypeError, match="gymnasium space"):
        make_backbone("mlp", (11,))


def test_a_class_can_be_passed_directly():
    class Direct(nn.Module):
        def __init__(self, observation_space):
            super().__init__()
            self.out_dim = 2
            self.linear = nn.Linear(observation_space.shape[0], 2)

        def forward(self, obs):
            return self.linear(obs)

    assert make_backbone(Direct, cartpole_space())(torch.zeros(1, 4)).shape == (1, 2)


def test_a_builder_breaking_the_contract_is_one_line_that_is_both_type_and_value_error():
    from sandbox.backbones import BackboneError

    with pytest.raises(BackboneError) as info:  # Linear(observation_space) lacks out_features
        make_backbone("torch.nn:Linear", cardrive_space("rays"))
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)  # the CLI catches ValueError
    message = str(info.value)
    assert "\n" not in message and "'torch.nn:Linear' could not be built as Linear(observation_space" in message


@pytest.mark.parametrize("spec", ["resnet9000", "no_such_module_xyz:Net", "torch.nn:NoSuchLayer", "torch:pi", 3])
def test_every_spec_error_is_a_backbone_error(spec):
    from sandbox.backbones import BackboneError

    with pytest.raises(BackboneError) as info:
        make_backbone(spec, cardrive_space("rays"))
    assert "\n" not in str(info.value) and repr(spec) in str(info.value)
