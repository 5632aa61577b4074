from __future__ import annotations

import pytest
import torch

from lightning_diffeo.models import create_model, list_models

EXPECTED_NAMES = [
    "fc2", "fc4", "fc6", "lenet", "alexnet", "vgg11", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn",
    "vgg19_bn", "resnet18", "resnet34", "resnet50", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
]

# Deeper variants share their family's builder with a shallower one checked by default
# (vgg11, vgg11_bn, resnet18, efficientnet_b0); their backward passes run under -m slow.
DEEP_VARIANTS = {"vgg16", "vgg19", "vgg16_bn", "vgg19_bn", "resnet34", "resnet50", "efficientnet_b1", "efficientnet_b2"}


def _names_deep_ones_slow():
    return [pytest.param(n, marks=pytest.mark.slow) if n in DEEP_VARIANTS else n for n in EXPECTED_NAMES]


# Paper, Table 1 (and docs/models.md), at 3x32x32 inputs and 10 classes, with the relative
# tolerance the stated precision allows. EfficientNets: Table 1 gives 5 and 9M at ImageNet size
# (1000 classes), i.e. ~1.3M more head parameters than with 10 classes.
PAPER_PARAMS = {
    "fc2": (200e3, 0.10), "fc4": (200e3, 0.10), "fc6": (200e3, 0.10),
    "lenet": (62e3, 0.02),
    "alexnet": (23e6, 0.03),
    "vgg11": (9.2e6, 0.02), "vgg16": (14.7e6, 0.02), "vgg19": (20.0e6, 0.02),
    "vgg11_bn": (9.2e6, 0.02), "vgg16_bn": (14.7e6, 0.02), "vgg19_bn": (20.0e6, 0.02),
    "resnet18": (11.2e6, 0.02), "resnet34": (21.3e6, 0.02), "resnet50": (23.5e6, 0.02),
    "efficientnet_b0": (5.3e6 - 1.27e6, 0.05),
    "efficientnet_b1": (7.8e6 - 1.27e6, 0.05),
    "efficientnet_b2": (9.1e6 - 1.41e6, 0.05),
}


def test_list_models_is_the_issue_list():
    assert list_models() == EXPECTED_NAMES
    assert set(PAPER_PARAMS) == set(EXPECTED_NAMES)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="resnet18") as info:
        create_model("resnet19")
    assert "'resnet19'" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"in_channels": 0}, ValueError, "^in_channels must be a positive integer, got 0$"),
        ({"num_classes": 1}, ValueError, "^num_classes must be an integer >= 2, got 1$"),
        ({"image_size": 2.5}, TypeError, "^image_size must be a positive integer, got 2.5$"),
        ({"in_channels": True}, TypeError, "^in_channels must be a positive integer, got True$"),
        ({"width": 8}, TypeError, r"^model 'lenet' got unexpected option\(s\) \['width'\]; it accepts none$"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        create_model("lenet", **kwargs)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_parameter_count_matches_table_1(name, model_cache):
    expected, rtol = PAPER_PARAMS[name]
    count = sum(p.numel() for p in model_cache(name).parameters())
    assert count == pytest.approx(expected, rel=rtol)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_batch_of_one_and_probe_layers_in_order(name, model_cache):
    model = model_cache(name)
    names = model.probe_layers
    assert isinstance(names, tuple) and names[-1] == "output" and names.count("output") == 1
    modules = dict(model.named_modules())
    assert all(n in modules for n in names[:-1]), set(names[:-1]) - set(modules)
    seen: list[tuple[str, torch.Size]] = []
    handles = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: seen.append((n, o.shape))) for n in names[:-1]
    ]
    try:
        with torch.no_grad():
            out = model(torch.rand(1, 3, 32, 32))
    finally:
        for h in handles:
            h.remove()
    assert out.shape == (1, 10)
    assert torch.isfinite(out).all()
    assert [n for n, _ in seen] == list(names[:-1])  # each called once, input to output
    assert all(shape[0] == 1 for _, shape in seen)


def _sizes(name):
    marks = [pytest.mark.slow] if name in DEEP_VARIANTS else []
    return [
        pytest.param(name, c, s, k, id=f"{name}-{c}x{s}x{s}-{k}", marks=marks)
        for c, s, k in [(1, 28, 10), (3, 64, 200)]
    ]


@pytest.mark.parametrize("name, channels, size, classes", [p for n in EXPECTED_NAMES for p in _sizes(n)])
def test_other_input_sizes(name, channels, size, classes, seeded):
    model = create_model(name, in_channels=channels, num_classes=classes, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.rand(1, channels, size, size))
    assert out.shape == (1, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", _names_deep_ones_slow())
def test_every_parameter_gets_a_gradient_and_a_step_lowers_the_loss(name, seeded):
    # ResNets and EfficientNets take any size: 16x16 keeps their backward pass cheap.
    size = 16 if name.startswith(("resnet", "efficientnet")) else 32
    model = create_model(name, image_size=size).train()
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([3, 7])
    torch.nn.functional.cross_entropy(model(x), y).backward()  # train mode: BN batch statistics
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    # Eval mode (no dropout or stochastic depth): every parameter tensor gets a nonzero gradient,
    # and a short step against it lowers the loss of this deterministic function.
    model.eval().zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, pname
    grad_sq = sum(p.grad.pow(2).sum() for p in model.parameters())
    with torch.no_grad():
        # A step of length 1e-3 (in parameter space) along -grad: first-order decrease 1e-3 |grad|.
        for p in model.parameters():
            p -= 1e-3 * p.grad / grad_sq.sqrt()
        new_loss = torch.nn.functional.cross_entropy(model(x), y)
    assert new_loss < loss
