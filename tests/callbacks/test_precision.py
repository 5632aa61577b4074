"""The StabilityCallback and the probe measure in float32 under bf16 training; training keeps its own dtype."""

from __future__ import annotations

import copy

import pytest
import torch
from lightning import LightningModule, Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.callbacks._probe import float32_module
from lightning_diffeo.evaluation import load_checkpoint
from lightning_diffeo.models import ImageClassifier
from lightning_diffeo.stability import measure_stability

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")]


class Tiny(LightningModule):
    """Conv + batch-norm + linear; records the dtype of its training logits."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 8 * 8, 3))
        with torch.no_grad():  # weights exact in bf16: every precision starts from the same numbers
            for p in self.parameters():
                p.copy_(p.to(torch.bfloat16))
        self.logit_dtypes: set[torch.dtype] = set()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        logits = self(batch[0])
        self.logit_dtypes.add(logits.dtype)
        return nn.functional.cross_entropy(logits, batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


PROBE = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(5))
OPTIONS = dict(cutoffs=[3], deltas=[0.5], average=["median", "mean"])  # T(0.5 px) < T_max on 8x8 images
QUANTITIES = ("D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise")


def _fit(precision, callbacks, tmp_path):
    seed_everything(0)
    model = Tiny()
    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 3, (32,), generator=g)),
                      batch_size=16)
    Trainer(max_epochs=2, accelerator="cpu", precision=precision, callbacks=callbacks, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            default_root_dir=tmp_path).fit(model, data)
    return model


# Until StabilityCallback.measure (callbacks/stability.py) measures through float32_module: then drop the mark.


@pytest.mark.parametrize("precision, training_dtype", [
    ("bf16-mixed", torch.float32), ("bf16-true", torch.bfloat16),
])
def test_init_measurement_is_float32_and_training_unchanged(precision, training_dtype, tmp_path):
    seed_everything(0)
    reference = measure_stability(Tiny(), PROBE, mode="init", generator=torch.Generator().manual_seed(0),
                                  progress=False, **OPTIONS)
    callback = StabilityCallback(probe_images=PROBE, when=["init"], plot=False, verbose=False,
                                 dirpath=tmp_path / "results", **OPTIONS)
    model = _fit(precision, [callback], tmp_path)
    measured = callback.results["init"]
    assert len(measured.records) == len(reference.records) > 0
    for got, want in zip(measured.records, reference.records):
        assert (got["layer"], got["average"]) == (want["layer"], want["average"])
        for key in QUANTITIES:  # float32 rounding, not bf16's 3 significant digits
            assert got[key] == pytest.approx(want[key], rel=1e-4), (got["layer"], got["average"], key)
    assert {p.dtype for p in model.parameters()} == {training_dtype}
    assert model.logit_dtypes == {torch.bfloat16}
    bare = _fit(precision, [], tmp_path)  # the same training without the callback, bit for bit
    for (name, value), expected in zip(model.state_dict().items(), bare.state_dict().values()):
        assert value.dtype == expected.dtype and torch.equal(value, expected), name


def test_float32_module_leaves_a_bf16_module_untouched():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(torch.bfloat16)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.autocast("cpu", dtype=torch.bfloat16), float32_module(net) as measured:
        copied = measured.state_dict()  # the same numbers, in float32 (the batch counter stays an integer)
        assert all(torch.equal(v.to(copied[k].dtype), copied[k]) for k, v in before.items())
        assert {v.dtype for v in copied.values() if v.is_floating_point()} == {torch.float32}
        assert measured is not net and measured(torch.ones(2, 3)).dtype == torch.float32  # autocast is off
    after = net.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    fp32 = copy.deepcopy(net).float()
    with float32_module(fp32) as measured:
        assert measured is fp32  # already float32: measured in place, no copy


def test_probe_reloads_a_bf16_true_checkpoint_in_float32(tmp_path):
    # `lightning-diffeo probe` measures load_checkpoint's module: float32, holding the bf16 weights exactly.
    seed_everything(0)
    module = ImageClassifier("fc2", in_channels=1, num_classes=3, image_size=8, recipe="adam", lr=1e-3)
    data = DataLoader(TensorDataset(torch.rand(8, 1, 8, 8), torch.randint(0, 3, (8,))), batch_size=8)
    trainer = Trainer(max_epochs=1, accelerator="cpu", precision="bf16-true", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, data)
    trainer.save_checkpoint(tmp_path / "bf16.ckpt")
    loaded = load_checkpoint(tmp_path / "bf16.ckpt").module
    for (name, value), trained in zip(loaded.state_dict().items(), module.state_dict().values()):
        assert value.dtype == torch.float32 and trained.dtype == torch.bfloat16 and torch.equal(value, trained.float()), name
