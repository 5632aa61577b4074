from __future__ import annotations

import math

import pytest
import torch
from lightning import Trainer

from lightning_diffeo.models import ImageClassifier, build_optimization, create_model, resolve_recipe



# Lightning's advice for tiny loaders, expected here: few workers, fewer batches than the log interval.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:The number of training batches .* is smaller than the logging interval"),
]

def _trainer(tmp_path, **kwargs):
    options = dict(
        accelerator="cpu", max_epochs=1, limit_train_batches=2, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
    )
    options.update(kwargs)
    return Trainer(**options)


def test_sgd_recipe():
    model = create_model("lenet")
    config = build_optimization(model, resolve_recipe("sgd"), total_steps=37)
    opt = config["optimizer"]
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 5e-4)
    assert len(group["params"]) == len(list(model.parameters()))
    scheduler = config["lr_scheduler"]
    assert isinstance(scheduler["scheduler"], torch.optim.lr_scheduler.CosineAnnealingLR)
    assert scheduler["scheduler"].T_max == 37 and scheduler["interval"] == "step"


def test_adam_recipe_has_no_schedule():
    config = build_optimization(create_model("fc2"), resolve_recipe("adam"), total_steps=float("inf"))
    assert set(config) == {"optimizer"}
    assert isinstance(config["optimizer"], torch.optim.Adam)
    assert config["optimizer"].param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("name", ["lenet", "resnet18", "efficientnet_b0"])
def test_transfer_recipe_splits_head_and_body(name):
    model = create_model(name, image_size=16)
    config = build_optimization(model, resolve_recipe("transfer"), total_steps=10)
    body, head = config["optimizer"].param_groups
    head_module = model.get_submodule(model.head_name)
    assert {id(p) for p in head["params"]} == {id(p) for p in head_module.parameters()}
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert (body["lr"], head["lr"]) == (1e-3, 1e-2)
    assert body["momentum"] == head["momentum"] == 0.9 and body["weight_decay"] == 1e-3
    scheduler = config["lr_scheduler"]
    assert scheduler["interval"] == "epoch" and scheduler["scheduler"].gamma == 0.975


def test_overrides():
    recipe = resolve_recipe("transfer", lr=0.5, head_lr=2.0, momentum=0.0, weight_decay=0.0, lr_decay=0.5)
    assert (recipe.lr, recipe.head_lr, recipe.momentum, recipe.weight_decay, recipe.lr_decay) == (
        0.5, 2.0, 0.0, 0.0, 0.5,
    )
    # head_lr on another recipe: a separate head group, body keeps the recipe's lr.
    opt = build_optimization(create_model("lenet"), resolve_recipe("sgd", head_lr=0.01), 5)["optimizer"]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "rmsprop"}, ValueError, "^recipe must be one of 'sgd', 'adam', 'transfer', got 'rmsprop'$"),
        ({"name": "sgd", "lr": 0.0}, ValueError, "^lr must be a finite number > 0, got 0.0$"),
        ({"name": "sgd", "lr": "0.1"}, TypeError, "^lr must be a finite number > 0, got '0.1'$"),
        ({"name": "sgd", "weight_decay": -1e-4}, ValueError, "^weight_decay must be a finite number >= 0, got -0.0001$"),
        ({"name": "sgd", "momentum": float("nan")}, ValueError, "^momentum must be a finite number >= 0, got nan$"),
        ({"name": "adam", "momentum": 0.9}, ValueError, "^recipe 'adam' uses Adam, which takes no momentum"),
        ({"name": "sgd", "lr_decay": 0.9}, ValueError, "^lr_decay only applies to the 'transfer' recipe"),
    ],
)
def test_bad_overrides(kwargs, error, match):
    with pytest.raises(error, match=match):
        resolve_recipe(**kwargs)


def test_cosine_follows_the_real_number_of_steps(tmp_path, loader_factory):
    # 3 epochs of 2 batches: the cosine must reach 0 at step 6, whatever the epoch count.
    module = ImageClassifier("lenet", image_size=16, recipe="sgd")
    trainer = _trainer(tmp_path, max_epochs=3)
    trainer.fit(module, loader_factory(n=16, batch=4))
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.T_max == 6 == trainer.global_step
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_transfer_decays_once_per_epoch(tmp_path, loader_factory):
    module = ImageClassifier("lenet", image_size=16, recipe="transfer")
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(module, loader_factory(n=16, batch=4))
    lrs = [g["lr"] for g in trainer.optimizers[0].param_groups]
    assert lrs == pytest.approx([1e-3 * 0.975**2, 1e-2 * 0.975**2], rel=1e-12)
    assert math.isclose(module.recipe.lr_decay, 0.975)
