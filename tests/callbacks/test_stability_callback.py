"""StabilityCallback with real Trainers: foreign models, best-on-validation, no effect on training."""

from __future__ import annotations

import csv
import math
import warnings

import pytest
import torch
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_diffeo.callbacks import StabilityCallback, comparison_table, metric_dict
from lightning_diffeo.stability import StabilityResult, measure_stability


class ForeignNet(LightningModule):
    """A LightningModule that knows nothing of lightning_diffeo; val/score follows a script."""

    def __init__(self, scores=None, batch_norm=True):
        super().__init__()
        layers = [nn.Conv2d(1, 4, 3, padding=1)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(4))
        layers += [nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)]
        self.net = nn.Sequential(*layers)
        self.scores = list(scores or [])

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        score = self.scores[self.current_epoch] if self.scores else -nn.functional.cross_entropy(self(x), y).item()
        self.log("val/score", float(score))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data(seed=0, n=48):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=16)


def _probe():
    return torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(5))


def _trainer(tmp_path, callbacks, epochs=2, checkpointing=False):
    return Trainer(
        max_epochs=epochs, accelerator="cpu", default_root_dir=tmp_path, callbacks=callbacks,
        enable_checkpointing=checkpointing, logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )


def _callback(**kwargs):
    defaults = dict(probe_images=_probe(), cutoffs=[3, 5], layers=["net.0", "output"], plot=False,
                    monitor="val/score", average="median")
    return StabilityCallback(**{**defaults, **kwargs})


def test_foreign_model_gets_init_and_best(tmp_path):
    seed_everything(0)
    callback = _callback()
    _trainer(tmp_path, [callback]).fit(ForeignNet(), _data(), _data(1))
    assert set(callback.results) == {"init", "best"}
    init = callback.results["init"]
    assert init.metadata["mode"] == "init" and callback.results["best"].metadata["mode"] == "eval"
    assert init.layers == ["net.0", "output"] and init.cutoffs == [3.0, 5.0]
    assert all(math.isfinite(r["R_f"]) for r in init.records)
    # no logger: a new folder of its own under default_root_dir, never the working directory
    assert callback.results_path == tmp_path / "stability" / "version_0" / "stability.json"
    saved = StabilityResult.from_json(callback.results_path)
    assert saved.stages == ["init", "best"]
    assert saved.by_stage()["init"] == init
    assert saved.select(stage="init")[0]["layer"] == "net.0"
    table = comparison_table(callback.results)
    assert "R_f (median" in table and table.splitlines()[0].startswith("R_f = D_f / G_f")


def test_training_is_identical_with_and_without_the_callback(tmp_path):
    def final_weights(callbacks):
        seed_everything(3)
        model = ForeignNet()
        _trainer(tmp_path, callbacks).fit(model, _data(), _data(1))
        return model.state_dict()

    plain = final_weights([])
    probed = final_weights([_callback(every_n_epochs=1)])
    assert plain.keys() == probed.keys()
    for key in plain:
        assert torch.equal(plain[key], probed[key]), key


@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_best_is_the_best_validation_epoch_not_the_last(tmp_path, with_checkpoint):
    snapshots = {}

    class Snapshot(Callback):
        def on_validation_end(self, trainer, pl_module):
            snapshots[trainer.current_epoch] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    seed_everything(0)
    callbacks = [Snapshot(), _callback()]
    if with_checkpoint:
        callbacks.append(ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/score", mode="max"))
    model = ForeignNet(scores=[0.1, 0.9, 0.3])
    _trainer(tmp_path, callbacks, epochs=3, checkpointing=with_checkpoint).fit(model, _data(), _data(1))
    callback = callbacks[1]
    assert callback.best_epoch == 1 and callback.best_score == pytest.approx(0.9)
    reference = ForeignNet()
    reference.load_state_dict(snapshots[1])
    expected = measure_stability(reference, _probe(), cutoffs=[3, 5], layers=["net.0", "output"], average="median",
                                 generator=torch.Generator().manual_seed(0), progress=False)
    measured = callback.results["best"].records
    assert len(measured) == len(expected.records)
    for got, want in zip(measured, expected.records):
        assert (got["layer"], got["cutoff"]) == (want["layer"], want["cutoff"])
        for quantity in ("D_f", "G_f", "R_f"):
            assert got[quantity] == pytest.approx(want[quantity], rel=1e-6), quantity
    # the final weights (epoch 2) are back in the model after the measurement
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[2][key])


def test_metric_names_and_logging(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    seed_everything(0)
    callback = _callback(when=["init"])
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=CSVLogger(tmp_path), callbacks=[callback],
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(ForeignNet(), _data(), _data(1))
    names = metric_dict(callback.results["init"], "init")
    assert "stability/init/R_f/net.0/c3" in names and "stability/init/D_f/output/c5" in names
    header = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    assert "stability/init/R_f/output/c3" in header


def test_init_mode_uses_batch_statistics_and_leaves_bn_untouched(tmp_path):
    seed_everything(0)
    model = ForeignNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    callback = _callback(when=["init"])
    result = callback.measure(model, "init")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    eval_result = callback.measure(model, "eval")
    assert result.get(layer="output", cutoff=3, quantity="D_f") != eval_result.get(layer="output", cutoff=3, quantity="D_f")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"when": ["start"]}, ValueError, r"when must be one of 'init', 'best', got 'start'"),
        ({"when": "init"}, TypeError, "when must be a list of stages"),
        ({"average": "mode"}, ValueError, "average must be one of 'median', 'mean', got 'mode'"),
        ({"every_n_epochs": 0}, ValueError, "every_n_epochs must be an integer >= 1, got 0"),
        ({"every_n_epochs": True}, TypeError, "every_n_epochs must be an integer >= 1, got True"),
        ({"cutoffs": []}, ValueError, "cutoffs must be a number or a non-empty list of finite positive numbers"),
        ({"cutoffs": [1.0]}, ValueError, "cutoff must be > 1"),
        ({"deltas": [-1.0]}, ValueError, "deltas must be a number or a non-empty list of finite positive numbers"),
        ({"interpolation": "cubic"}, ValueError, "interpolation must be one of 'bilinear'"),
        ({"probe_size": 1}, ValueError, "probe_size must be an integer >= 2, got 1"),
        ({"probe_images": torch.rand(3, 8, 8)}, ValueError, r"probe_images must be a tensor \[N, C, n, n\]"),
    ],
)
def test_bad_options_raise_before_any_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        StabilityCallback(**kwargs)


def test_missing_probe_images_and_unknown_layer_are_clear(tmp_path):
    with pytest.raises(ValueError, match="StabilityCallback needs probe images"):
        _trainer(tmp_path, [StabilityCallback(plot=False)]).fit(ForeignNet(), _data(), _data(1))
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['net.9'\]"):
        _trainer(tmp_path, [_callback(layers=["net.9"])]).fit(ForeignNet(), _data(), _data(1))


class PathHyperparameters(ForeignNet):
    """Hyper-parameters holding a Path: the weights-only unpickler refuses them."""

    def __init__(self, where=None, **kwargs):
        super().__init__(**kwargs)
        self.save_hyperparameters()


def test_best_checkpoint_with_unsafe_hyperparameters_is_still_read(tmp_path):
    from pathlib import Path

    seed_everything(0)
    callback = _callback(when=["best"])
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/score", mode="max")
    model = PathHyperparameters(where=Path("somewhere"), scores=[0.2, 0.1])
    _trainer(tmp_path, [callback, checkpoint], checkpointing=True).fit(model, _data(), _data(1))
    assert "best" in callback.results and callback.best_epoch == 0


def test_resuming_from_weights_without_an_init_measurement_skips_init(tmp_path):
    seed_everything(0)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    _trainer(tmp_path, [checkpoint], epochs=1, checkpointing=True).fit(ForeignNet(), _data(), _data(1))
    callback = _callback(when=["init"])
    with pytest.warns(UserWarning, match="'init' stage is skipped"):
        _trainer(tmp_path, [callback], epochs=2).fit(ForeignNet(), _data(), _data(1), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert "init" not in callback.results


def test_low_precision_trainer(tmp_path):
    seed_everything(0)
    callback = _callback(when=["init"])
    trainer = Trainer(max_epochs=1, accelerator="cpu", precision="bf16-true", default_root_dir=tmp_path,
                      callbacks=[callback], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(ForeignNet(batch_norm=False), _data(), _data(1))
    assert all(math.isfinite(r["R_f"]) for r in callback.results["init"].records)


def test_every_n_epochs_measures_the_weights_of_that_epoch(tmp_path):
    snapshots = {}

    class Snapshot(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            snapshots[trainer.current_epoch + 1] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    seed_everything(0)
    callback = _callback(when=[], every_n_epochs=2, dirpath=tmp_path / "out")
    _trainer(tmp_path, [Snapshot(), callback], epochs=4).fit(ForeignNet(), _data(), _data(1))
    assert sorted(callback.results) == ["epoch1", "epoch3"]  # the 2nd and 4th epochs, 0-based as Lightning counts
    for stage, epoch in (("epoch1", 2), ("epoch3", 4)):
        reference = ForeignNet()
        reference.load_state_dict(snapshots[epoch])
        expected = measure_stability(reference, _probe(), cutoffs=[3, 5], layers=["net.0", "output"],
                                     average="median", generator=torch.Generator().manual_seed(0), progress=False)
        got = callback.results[stage]
        assert got.metadata["mode"] == "eval" and got.metadata["epoch"] == epoch - 1
        assert [r["R_f"] for r in got.records] == pytest.approx([r["R_f"] for r in expected.records], rel=1e-6)
    saved = StabilityResult.from_json(tmp_path / "out" / "stability.json")
    assert saved.stages == ["epoch1", "epoch3"] and saved.by_stage()["epoch3"] == callback.results["epoch3"]


def test_measurements_along_training_log_one_series_of_names(tmp_path):
    # A name per epoch would give a CSV logger a new column set, and a rewrite of its file, at every measurement.
    from lightning.pytorch.loggers import CSVLogger

    seed_everything(0)
    callback = _callback(when=["init"], every_n_epochs=1, cutoffs=[3])
    trainer = Trainer(max_epochs=3, accelerator="cpu", logger=CSVLogger(tmp_path), callbacks=[callback],
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(ForeignNet(), _data(), _data(1))
    with open(tmp_path / "lightning_logs" / "version_0" / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    stability = sorted(name for name in rows[0] if name.startswith("stability/"))
    assert stability == sorted(f"stability/{stage}/{q}/{layer}/c3" for stage in ("init", "along")
                               for q in ("D_f", "G_f", "R_f") for layer in ("net.0", "output"))
    along = [(int(row["step"]), float(row["stability/along/R_f/output/c3"])) for row in rows
             if row["stability/along/R_f/output/c3"]]
    assert [step for step, _ in along] == [3, 6, 9]  # 3 batches an epoch: one point after each epoch
    assert [value for _, value in along] == pytest.approx(
        [callback.results[f"epoch{k}"].get(layer="output", cutoff=3, quantity="R_f") for k in range(3)], rel=1e-6)


def test_temperatures_and_gaussian_interpolation(tmp_path):
    seed_everything(0)
    callback = _callback(when=["init"], temperatures=[1e-3, 4e-3], interpolation="gaussian", cutoffs=[3])
    _trainer(tmp_path, [callback], epochs=1).fit(ForeignNet(), _data(), _data(1))
    init = callback.results["init"]
    assert sorted({r["temperature"] for r in init.records}) == [1e-3, 4e-3]
    assert {r["interpolation"] for r in init.records} == {"gaussian"} and init.metadata["sizes"] == "temperatures"
    expected = measure_stability(ForeignNet().eval(), _probe(), cutoffs=[3], temperatures=[1e-3, 4e-3],
                                 interpolation="gaussian", layers=["net.0", "output"], mode="init", average="median",
                                 generator=torch.Generator().manual_seed(0), progress=False)
    assert len(init) == len(expected) == 4
    names = metric_dict(init, "init")
    assert "stability/init/R_f/output/c3/T0.001" in names and "stability/init/R_f/output/c3/T0.004" in names


def test_missing_monitor_is_warned_at_the_first_validation_naming_the_logged_metrics(tmp_path):
    seen_at_epoch_1 = []

    class Watch(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                seen_at_epoch_1.extend(str(w.message) for w in caught)

    seed_everything(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        callback = _callback(when=["best"], monitor="val/accuracy")
        _trainer(tmp_path, [Watch(), callback], epochs=3).fit(ForeignNet(), _data(), _data(1))
    notes = [m for m in seen_at_epoch_1 if "not among the logged metrics" in m]
    assert len(notes) == 1 and "'val/accuracy'" in notes[0] and "(val/score)" in notes[0]
    assert sum("not among the logged metrics" in str(w.message) for w in caught) == 1  # warned once
    assert "best" not in callback.results


def test_results_never_replace_another_runs_file(tmp_path):
    (tmp_path / "stability.json").write_text("another run")
    seed_everything(0)
    with pytest.raises(FileExistsError, match="exists and holds another run's results"):
        _trainer(tmp_path, [_callback(when=["init"], dirpath=tmp_path)], epochs=1).fit(ForeignNet(), _data(), _data(1))
    assert (tmp_path / "stability.json").read_text() == "another run"


def test_fast_dev_run_writes_no_file(tmp_path, capsys):
    seed_everything(0)
    callback = _callback(plot=True)
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", default_root_dir=tmp_path, callbacks=[callback],
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(ForeignNet(), _data(), _data(1))
    assert set(callback.results) == {"init", "best"} and callback.results_path is None
    assert list(tmp_path.iterdir()) == []
    assert "R_f (median, delta=1 px)" in capsys.readouterr().out


def test_last_checkpoint_holds_the_measurement_of_its_epoch(tmp_path):
    seed_everything(0)
    callback = _callback(when=["init"], every_n_epochs=1, dirpath=tmp_path / "out")
    last = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="last", monitor=None, save_top_k=1)
    _trainer(tmp_path, [callback, last], epochs=2, checkpointing=True).fit(ForeignNet(), _data(), _data(1))
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["callbacks"]
    (state,) = [value for key, value in saved.items() if key.startswith("StabilityCallback")]
    assert sorted(state["results"]) == ["epoch0", "epoch1", "init"]
    resumed = _callback(when=["init"], every_n_epochs=1, dirpath=tmp_path / "resumed")
    _trainer(tmp_path, [resumed], epochs=3).fit(ForeignNet(), _data(), _data(1), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert sorted(resumed.results) == ["epoch0", "epoch1", "epoch2", "init"]
    assert resumed.results["epoch1"] == callback.results["epoch1"]
