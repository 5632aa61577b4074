from __future__ import annotations


import pytest
import timm
import torch
from lightning import Trainer
from torch import nn

from lightning_diffeo.models import ImageClassifier



# Lightning's advice for tiny loaders, expected here: few workers, fewer batches than the log interval.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:The number of training batches .* is smaller than the logging interval"),
]

def _fit(module, loader, tmp_path, **kwargs):
    options = dict(
        accelerator="cpu", max_epochs=1, limit_train_batches=2, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer = Trainer(**{**options, **kwargs})
    trainer.fit(module, loader, loader)
    return trainer


def test_probe_layers_are_prefixed_and_resolve():
    module = ImageClassifier("resnet18", image_size=16)
    assert module.probe_layers == (
        "model.stem", "model.layer1", "model.layer2", "model.layer3", "model.layer4", "model.pool", "output",
    )
    for name in module.probe_layers[:-1]:
        module.get_submodule(name)


def test_forward_returns_logits():
    module = ImageClassifier("fc2", in_channels=1, image_size=28, num_classes=200, recipe="adam")
    assert module(torch.rand(3, 1, 28, 28)).shape == (3, 200)


def test_logged_metric_names(tmp_path, loader_factory):
    trainer = _fit(ImageClassifier("lenet", image_size=16), loader_factory(), tmp_path, limit_val_batches=1)
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= set(trainer.callback_metrics)
    results = trainer.test(trainer.lightning_module, loader_factory(), verbose=False)
    assert set(results[0]) == {"test/loss", "test/acc"}
    assert 0.0 <= results[0]["test/acc"] <= 1.0


@pytest.mark.parametrize("arch", ["lenet", "resnet18"])
def test_checkpoint_round_trip_needs_no_arguments(arch, tmp_path, loader_factory):
    torch.manual_seed(0)
    module = ImageClassifier(arch, image_size=16, recipe="sgd", lr=0.05)
    trainer = _fit(module, loader_factory(), tmp_path, limit_val_batches=1)
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    loaded = ImageClassifier.load_from_checkpoint(path)
    assert loaded.hparams == module.hparams and loaded.recipe == module.recipe
    expected = module.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key  # running BN statistics included
    x = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(loaded.eval()(x), module.eval()(x), rtol=0, atol=0)


def test_module_arch_must_be_passed_again(tmp_path, loader_factory):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    module = ImageClassifier(net, recipe="adam", lr=1e-3)
    assert "arch" not in module.hparams and module.probe_layers == ("output",)
    trainer = _fit(module, loader_factory(), tmp_path, limit_val_batches=0)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    loaded = ImageClassifier.load_from_checkpoint(tmp_path / "m.ckpt", arch=fresh)
    assert torch.equal(loaded.model[1].weight, net[1].weight)


def test_pretrained_file_not_needed_to_reload(tmp_path, loader_factory):
    weights = tmp_path / "b0.pth"
    torch.save(timm.create_model("efficientnet_b0").state_dict(), weights)
    module = ImageClassifier("efficientnet_b0", image_size=16, recipe="transfer", pretrained=str(weights))
    trainer = _fit(module, loader_factory(), tmp_path, limit_val_batches=0, limit_train_batches=1)
    trainer.save_checkpoint(tmp_path / "e.ckpt")
    weights.unlink()
    loaded = ImageClassifier.load_from_checkpoint(tmp_path / "e.ckpt")
    assert loaded.hparams.pretrained is False
    assert torch.equal(loaded.model.net.conv_stem.weight, module.model.net.conv_stem.weight)


def test_training_lowers_the_loss_on_a_tiny_batch(loader_factory):
    torch.manual_seed(0)
    module = ImageClassifier("lenet", image_size=16, recipe="sgd", lr=0.05)
    x, y = next(iter(loader_factory(n=8, batch=8)))
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    losses = []
    for _ in range(3):
        loss = nn.functional.cross_entropy(module(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"arch": 3}, TypeError, "^arch must be a registry name or an nn.Module, got int$"),
        ({"arch": "resnet19"}, ValueError, "^model name must be one of 'fc2', .*'resnet18'.*, got 'resnet19'$"),
        ({"recipe": "rmsprop"}, ValueError, "^recipe must be one of 'sgd', 'adam', 'transfer', got 'rmsprop'$"),
        ({"arch": nn.Linear(3, 10), "model_kwargs": {"width": 3}}, ValueError, "only apply to registry names"),
        ({"arch": "lenet", "resize_to": 224}, TypeError, r"model 'lenet' got unexpected option\(s\) \['resize_to'\]"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageClassifier(**kwargs)


def test_predict_step_returns_eval_logits_for_tuples_and_bare_tensors(loader_factory):
    torch.manual_seed(0)
    module = ImageClassifier("resnet18", image_size=16)  # batch-norm: prediction must use eval mode
    loader = loader_factory(n=12, batch=4)
    bare = torch.utils.data.DataLoader(torch.rand(6, 3, 16, 16), batch_size=3)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    with_labels = trainer.predict(module, loader)
    without_labels = trainer.predict(module, bare)
    assert [tuple(p.shape) for p in with_labels] == [(4, 10)] * 3
    assert [tuple(p.shape) for p in without_labels] == [(3, 10)] * 2
    module.eval()
    with torch.no_grad():
        expected = torch.cat([module(x) for x, _ in loader])
        expected_bare = torch.cat([module(x) for x in bare])
    torch.testing.assert_close(torch.cat(with_labels), expected, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat(without_labels), expected_bare, rtol=0, atol=0)
