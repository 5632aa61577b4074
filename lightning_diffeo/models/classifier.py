"""``ImageClassifier``: any registry architecture (or nn.Module) trained with the paper's recipes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from lightning import LightningModule
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from .recipes import build_optimization, resolve_recipe
from .registry import create_model

__all__ = ["ImageClassifier"]


class ImageClassifier(LightningModule):
    """Cross-entropy image classifier with accuracy metrics and a training recipe.

    Logs ``train/loss``, ``train/acc`` (epoch averages), ``train/loss_step`` (per step, every
    ``log_every_n_steps``), ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc`` (epoch
    averages weighted by batch size). Hyper-parameters are saved, so
    ``ImageClassifier.load_from_checkpoint(path, weights_only=True)`` rebuilds a registry model with no
    arguments. When ``arch`` is an ``nn.Module`` it is not stored in the hyper-parameters:
    pass it again, ``ImageClassifier.load_from_checkpoint(path, arch=MyNet())``.

    Args:
        arch: registry name (see :func:`~lightning_diffeo.models.list_models`) or a module
            mapping ``[B, C, H, W]`` to logits ``[B, num_classes]``.
        in_channels: image channels C (registry models only).
        num_classes: number of classes.
        image_size: side H = W of the input images in pixels (registry models only).
        recipe: ``"sgd"``, ``"adam"`` or ``"transfer"`` (see :mod:`~lightning_diffeo.models.recipes`).
        lr: overrides the recipe's learning rate (the body's for ``transfer``).
        momentum: overrides the SGD momentum.
        weight_decay: overrides the weight decay.
        head_lr: overrides (``transfer``) or sets a separate learning rate of the head.
        lr_decay: overrides the per-epoch lr factor of ``transfer``.
        pretrained: EfficientNets only: ``True`` (timm hub) or a local ImageNet state-dict file.
            The file is not needed to reload a checkpoint (the weights are in it).
        resize_to: EfficientNets only: resize inputs to this side inside the model (224 in the paper).
        base_channels: AlexNet, VGG and ResNet only: channels of the first stage, every other width
            in proportion (None: the architecture's default, 64, Table 1's size).
        channel_multiplier: EfficientNets only: every width times this factor (None: 1.0).
        model_kwargs: further options of the registry builder (e.g. ``{"width": 128}`` for ``fc4``).

    Example:
        >>> import torch
        >>> module = ImageClassifier("lenet", in_channels=1, image_size=28)
        >>> module(torch.zeros(4, 1, 28, 28)).shape
        torch.Size([4, 10])
        >>> module.probe_layers[0], module.probe_layers[-1]
        ('model.stage1', 'output')
    """

    def __init__(
        self,
        arch: str | nn.Module = "lenet",
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        recipe: str = "sgd",
        lr: float | None = None,
        momentum: float | None = None,
        weight_decay: float | None = None,
        head_lr: float | None = None,
        lr_decay: float | None = None,
        pretrained: bool | str = False,
        resize_to: int | None = None,
        base_channels: int | None = None,
        channel_multiplier: float | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["arch"] if isinstance(arch, nn.Module) else None)
        # Validates early: a bad recipe fails at construction, not at fit time.
        self.recipe = resolve_recipe(recipe, lr, momentum, weight_decay, head_lr, lr_decay)
        # Architecture options other than the input spec: None (or False) leaves the builder's default.
        options = dict(pretrained=pretrained, resize_to=resize_to, base_channels=base_channels,
                       channel_multiplier=channel_multiplier)
        self.model = self._build_model(arch, in_channels, num_classes, image_size, options, model_kwargs)
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self._epoch_loss: dict[str, tuple[torch.Tensor | None, int]] = {}  # stage -> (sum of loss * batch, images)

    @staticmethod
    def _build_model(
        arch: str | nn.Module,
        in_channels: int,
        num_classes: int,
        image_size: int,
        options: dict[str, Any],
        model_kwargs: dict[str, Any] | None,
    ) -> nn.Module:
        # The values are checked by the architecture they go to (create_model and its builders).
        given = {name: value for name, value in options.items() if value is not (False if name == "pretrained" else None)}
        if isinstance(arch, nn.Module):
            if given or model_kwargs:
                raise ValueError(f"{', '.join(options)} and model_kwargs only apply to registry names, not modules")
            return arch
        if not isinstance(arch, str):
            raise TypeError(f"arch must be a registry name or an nn.Module, got {type(arch).__name__}")
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise TypeError(f"model_kwargs must be a dict or None, got {type(model_kwargs).__name__}")
        twice = sorted(set(given) & set(model_kwargs or {}))
        if twice:
            raise ValueError(f"{', '.join(twice)} given both as an argument and in model_kwargs: give it once")
        return create_model(arch, in_channels, num_classes, image_size, **{**(model_kwargs or {}), **given})

    @property
    def probe_layers(self) -> tuple[str, ...]:
        """The model's probe layers as module names of this LightningModule (``"model."``
        prefix), ending with ``"output"``; just ``("output",)`` for a module without them."""
        names = tuple(getattr(self.model, "probe_layers", ("output",)))
        return tuple(n if n == "output" else f"model.{n}" for n in names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        return self.model(x)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metric: MulticlassAccuracy):
        # Per batch only tensor arithmetic (no host sync): the accuracy state is updated and the
        # loss summed; the epoch values are logged once per epoch in ``_log_epoch``.
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        metric.update(logits.detach(), y)
        batch_size = x.shape[0]
        total, count = self._epoch_loss.get(stage, (None, 0))
        weighted = loss.detach() * batch_size
        self._epoch_loss[stage] = (weighted if total is None else total + weighted, count + batch_size)
        return loss

    def _log_epoch(self, stage: str, metric: MulticlassAccuracy) -> None:
        total, count = self._epoch_loss.pop(stage, (None, 0))
        if not count:
            return
        # sync_dist: the mean over every DDP rank (a no-op on one device); the metric syncs itself.
        self.log(f"{stage}/loss", total / count, prog_bar=stage != "train", sync_dist=True)
        self.log(f"{stage}/acc", metric.compute(), prog_bar=stage != "train")
        metric.reset()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._shared_step(batch, "train", self.train_acc)
        if self._writes_step_metrics():
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, batch_size=batch[0].shape[0])
        return loss

    def _writes_step_metrics(self) -> bool:
        """Whether the loggers write step metrics after this batch (every ``log_every_n_steps``
        optimizer steps, as Lightning decides): ``self.log`` is called only then."""
        trainer = self.trainer
        if not trainer.loggers:
            return False
        every = trainer.log_every_n_steps
        return bool(trainer.fast_dev_run) or trainer.should_stop or (every > 0 and (self.global_step + 1) % every == 0)

    def on_train_epoch_start(self) -> None:
        self._epoch_loss.pop("train", None)
        self.train_acc.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", self.train_acc)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "val", self.val_acc)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "test", self.test_acc)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_acc)

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x)

    def configure_optimizers(self) -> dict:
        """The recipe's optimizer; the cosine schedule spans ``trainer.estimated_stepping_batches``."""
        total = self.trainer.estimated_stepping_batches if self.recipe.schedule == "cosine" else 1
        return build_optimization(self.model, self.recipe, total)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The pretrained weights are in the state dict: reloading must not need the file or a network.
        hparams = checkpoint.get("hyper_parameters")
        if isinstance(hparams, dict) and hparams.get("pretrained", False) is not False:
            hparams["pretrained"] = False
