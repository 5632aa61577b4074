"""The ``lightning-diffeo`` command: LightningCLI (fit, validate, test, predict) and ``probe``.

    lightning-diffeo fit --config configs/quickstart.yaml
    lightning-diffeo fit --model.arch resnet18 --data cifar10 --data.train_size 1024
    lightning-diffeo probe --ckpt_path runs/.../checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger

from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.datamodules import DATAMODULES, ImageDataModule
from lightning_diffeo.models import ImageClassifier

__all__ = ["DiffeoCLI", "build_cli", "main", "probe_main"]

_TRACEBACK_ENV = "LIGHTNING_DIFFEO_TRACEBACK"
_DESCRIPTION = (
    "Train image classifiers and measure their relative stability to diffeomorphisms R_f = D_f / G_f "
    "per layer. Subcommands: fit, validate, test, predict (LightningCLI), and probe, which measures a "
    "saved checkpoint (lightning-diffeo probe --help)."
)


class DiffeoCLI(LightningCLI):
    """LightningCLI with the package's model, datamodules, checkpointing and StabilityCallback.

    The model is ``ImageClassifier`` (``--model.arch`` picks the architecture); ``--data``
    takes a datamodule short name (``digits``, ``mnist``, ``fashionmnist``, ``svhn``,
    ``cifar10``, ``tinyimagenet32``) or class. Channels, classes and image size flow from the
    datamodule to the model. ``--stability.*`` configures the StabilityCallback (on by default;
    ``--stability.when []`` turns it off) and ``--checkpoint.*`` the ModelCheckpoint (best on
    ``val/acc``, plus ``last.ckpt`` for resuming with ``--ckpt_path last``).
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(StabilityCallback, "stability")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/acc",
            "checkpoint.mode": "max",
            "checkpoint.save_last": True,
            "checkpoint.filename": "best-epoch{epoch:03d}",
            "checkpoint.auto_insert_metric_name": False,
            "trainer.max_epochs": 250,
            "trainer.logger": {"class_path": f"{CSVLogger.__module__}.CSVLogger", "init_args": {"save_dir": "runs"}},
        })
        for source, target in (("num_channels", "in_channels"), ("num_classes", "num_classes"), ("image_size", "image_size")):
            parser.link_arguments(f"data.{source}", f"model.{target}", apply_on="instantiate")

    def _resolve_last_checkpoint(self) -> None:
        """``--ckpt_path last``: the newest ``last.ckpt`` of earlier runs of this config.

        Each run logs into a new ``version_<k>`` folder, so Lightning's own "last" (which looks in
        the new run's folder) would find nothing and silently start from scratch.
        """
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") != "last":
            return
        logger = self.trainer.logger
        root = Path(getattr(logger, "root_dir", None) or Path(self.trainer.default_root_dir) / "lightning_logs")
        candidates = sorted(root.glob("version_*/checkpoints/last*.ckpt"), key=lambda path: path.stat().st_mtime)
        if not candidates:
            raise FileNotFoundError(f"--ckpt_path last: no last.ckpt under {root}/version_*/checkpoints/; give a checkpoint path")
        config["ckpt_path"] = str(candidates[-1])
        print(f"lightning-diffeo: resuming from {candidates[-1]}", file=sys.stderr)

    def before_fit(self) -> None:
        self._resolve_last_checkpoint()

    def before_validate(self) -> None:
        self._resolve_last_checkpoint()

    def before_test(self) -> None:
        self._resolve_last_checkpoint()

    def before_predict(self) -> None:
        self._resolve_last_checkpoint()


def _expand_data_names(argv: list[str]) -> list[str]:
    """``--data cifar10`` (or ``CIFAR10DataModule``) -> ``--data lightning_diffeo.datamodules.CIFAR10DataModule``.

    Raises:
        ValueError: a bare name that is neither a short name nor a class name of the package.
    """
    by_name = {name: cls for name, cls in DATAMODULES.items()}
    by_name.update({cls.__name__.lower(): cls for cls in DATAMODULES.values()})
    expanded = list(argv)
    for i, token in enumerate(expanded):
        value, prefix = None, ""
        if token == "--data" and i + 1 < len(expanded):
            value, i = expanded[i + 1], i + 1
        elif token.startswith("--data="):
            value, prefix = token.split("=", 1)[1], "--data="
        if value is None:
            continue
        if value.lower() in by_name:
            cls = by_name[value.lower()]
            expanded[i] = f"{prefix}{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}"
        elif value.isidentifier():  # not a class path, a file or inline YAML
            raise ValueError(
                f"--data {value}: unknown datamodule; expected one of {', '.join(DATAMODULES)} "
                "or a class path such as lightning_diffeo.datamodules.CIFAR10DataModule"
            )
    return expanded


def _fail(error: BaseException) -> None:
    if os.environ.get(_TRACEBACK_ENV):
        raise error
    print(f"lightning-diffeo: error: {error}", file=sys.stderr)
    print(f"(set {_TRACEBACK_ENV}=1 for the full traceback)", file=sys.stderr)
    sys.exit(2)


def _check_device(device: str) -> None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {device!r}; use e.g. cpu, cuda or cuda:1") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


def _is_checkpoint_read_error(error: BaseException) -> bool:
    """Errors torch raises for a damaged or foreign checkpoint file given to --ckpt_path."""
    if isinstance(error, (pickle.UnpicklingError, EOFError, zipfile.BadZipFile)):
        return True
    return isinstance(error, RuntimeError) and any(
        marker in str(error) for marker in ("PytorchStreamReader", "failed finding central directory", "invalid load key")
    )


def probe_main(argv: Sequence[str]) -> None:
    """``lightning-diffeo probe``: measure D_f, G_f, R_f of a saved ImageClassifier checkpoint."""
    from lightning_diffeo.probe import load_checkpoint, probe_checkpoint, write_outputs

    parser = argparse.ArgumentParser(
        prog="lightning-diffeo probe",
        description="Measure D_f, G_f and R_f per layer of an ImageClassifier checkpoint on its "
        "datamodule's probe set (evaluation mode), print a table and write JSON, CSV and a plot.",
    )
    parser.add_argument("--ckpt_path", required=True, help="checkpoint written by `lightning-diffeo fit`")
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[3, 5, 15])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--deltas", type=float, nargs="+", default=None, help="typical displacements in pixels (default 1)")
    sizes.add_argument("--temperatures", type=float, nargs="+", default=None)
    sizes.add_argument("--sweep", action="store_true", help="30 temperatures from T_min/15 to 2 T_max per cutoff")
    parser.add_argument("--interpolation", default="bilinear", choices=["bilinear", "gaussian", "nearest"])
    parser.add_argument("--layers", nargs="+", default=None, help="module names, or 'output' (default: the model's probe layers)")
    parser.add_argument("--average", default="median", choices=["median", "mean"])
    parser.add_argument("--mode", default="eval", choices=["eval", "init"])
    parser.add_argument("--probe_size", type=int, default=500)
    parser.add_argument("--diffeos_per_image", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data_dir", default=None, help="dataset folder, if it moved since training")
    parser.add_argument("--out", default=None, help="output folder (default: probe-<checkpoint name> beside it)")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(list(argv))

    import torch

    try:
        _check_device(args.device)
        loaded = load_checkpoint(args.ckpt_path, data_dir=args.data_dir)
        deltas = None if (args.temperatures or args.sweep) else (args.deltas or [1.0])
        layers = args.layers[0] if args.layers == ["output"] else args.layers
        result = probe_checkpoint(
            loaded, probe_size=args.probe_size, device=args.device, cutoffs=args.cutoffs, deltas=deltas,
            temperatures=args.temperatures, sweep=args.sweep, interpolation=args.interpolation, layers=layers,
            average=args.average, mode=args.mode, diffeos_per_image=args.diffeos_per_image,
            batch_size=args.batch_size, generator=torch.Generator().manual_seed(args.seed),
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError) as error:
        _fail(error)
    print(result.table())
    ckpt = loaded.path
    out = args.out or ckpt.parent / f"probe-{ckpt.stem}"
    for kind, path in write_outputs(result, out, sweep=args.sweep).items():
        print(f"{kind}: {path}")


def build_cli(args: Sequence[str] | None = None, run: bool = True) -> DiffeoCLI:
    """The package's LightningCLI on ``args``, or on the command line when None.

    ``run=False`` parses and instantiates only. On the command line the ``--data`` short names
    are expanded in ``sys.argv`` itself, because launchers (DDP) start the other processes
    with ``sys.argv``.
    """
    options = dict(
        parser_kwargs={"description": _DESCRIPTION},
        subclass_mode_data=True,
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        run=run,
    )
    if args is None:
        sys.argv = [sys.argv[0], *_expand_data_names(sys.argv[1:])]
        return DiffeoCLI(ImageClassifier, ImageDataModule, **options)
    with warnings.catch_warnings():  # `args` is the whole command line here, whatever sys.argv holds
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return DiffeoCLI(ImageClassifier, ImageDataModule, args=_expand_data_names(list(args)), **options)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lightning-diffeo`` console script (``argv``: None for ``sys.argv``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] == "probe":
        probe_main(words[1:])
        return
    if words and words[0] in ("sweep", "collect"):
        from lightning_diffeo.studies.commands import collect_main, sweep_main

        (sweep_main if words[0] == "sweep" else collect_main)(words[1:])
        return
    try:
        build_cli(None if argv is None else words)
    except (ValueError, FileNotFoundError) as error:
        _fail(error)
    except Exception as error:
        if not _is_checkpoint_read_error(error):
            raise
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        _fail(ValueError(f"could not read the checkpoint given to --ckpt_path: it is corrupt, truncated or not a "
                         f"Lightning checkpoint ({first_line})"))


if __name__ == "__main__":
    main()
