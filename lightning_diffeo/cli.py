"""The ``lightning-diffeo`` command: LightningCLI (fit, validate, test, predict) and ``probe``.

    lightning-diffeo fit --config configs/quickstart.yaml
    lightning-diffeo fit --model.arch resnet18 --data cifar10 --data.train_size 1024
    lightning-diffeo probe --ckpt_path runs/.../checkpoints/last.ckpt
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_diffeo._atomic import make_unique_dir
from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.callbacks.progress import EpochLine, EpochSeeds, InterruptCheckpoint, last_checkpoint
from lightning_diffeo.datamodules import DATAMODULES, ImageDataModule
from lightning_diffeo.models import ImageClassifier

__all__ = ["DiffeoCLI", "build_cli", "main", "probe_main"]

_TRACEBACK_ENV = "LIGHTNING_DIFFEO_TRACEBACK"
_RUN_DIR_ENV = "LIGHTNING_DIFFEO_RUN_DIR"
_DESCRIPTION = (
    "Train image classifiers and measure their relative stability to diffeomorphisms R_f = D_f / G_f "
    "per layer. Subcommands: fit, validate, test, predict (LightningCLI), and probe, which measures a "
    "saved checkpoint (lightning-diffeo probe --help)."
)
_CHECKPOINT_WORDS = ("last", "best", "hpc", "registry")
_RUN_FILES = frozenset({"config.yaml", "hparams.yaml"})


class CLIError(ValueError):
    """Bad input found by the command line itself (printed as one line, exit status 2)."""


def _condense(message: str) -> str:
    """One line from jsonargparse's multi-line message: the option, the value given, the first reason."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "invalid arguments"
    key = re.match(r'Parser key "([^"]+)"', lines[0])
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    if key is None:
        return lines[0]
    expected = [re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", m.group(1)).replace("typing.", "")
                for line in lines if (m := re.match(r"- Expected an? (.+?)(?:\. Got value.*)?$", line))]
    reasons = [line.lstrip("- ") for line in lines[1:]
               if not line.startswith(("Given value", "Does not validate", "Subtypes", "Errors", "- Expected"))]
    reason = f"expected {' or '.join(expected)}" if expected else (reasons[0] if reasons else "invalid value")
    if given is not None:
        return f"--{key.group(1)}: invalid value {given!r} ({reason})"
    return f"--{key.group(1)}: {reason}"


class _OneLineErrors:
    """jsonargparse parser mixin: a bad option is one line and exit status 2, not a usage dump."""

    def error(self, message: str, ex: Exception | None = None):
        if not getattr(self, "exit_on_error", True):
            return super().error(message, ex)  # type: ignore[misc]
        print(f"lightning-diffeo: error: {_condense(message)}", file=sys.stderr)
        print(f"(see {getattr(self, 'prog', 'lightning-diffeo')} --help)", file=sys.stderr)
        sys.exit(2)


class DiffeoParser(_OneLineErrors, LightningArgumentParser):
    """The LightningCLI parser with one-line errors."""


class ProbeParser(_OneLineErrors, ArgumentParser):
    """The ``probe`` parser with one-line errors."""


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0) or 0)


class DiffeoCLI(LightningCLI):
    """LightningCLI with the package's model, datamodules, checkpointing and StabilityCallback.

    The model is ``ImageClassifier`` (``--model.arch`` picks the architecture); ``--data``
    takes a datamodule short name (``digits``, ``mnist``, ``fashionmnist``, ``svhn``,
    ``cifar10``, ``tinyimagenet32``) or class. Channels, classes and image size flow from the
    datamodule to the model. ``--stability.*`` configures the StabilityCallback (on by default;
    ``--stability.when []`` turns it off) and ``--checkpoint.*`` the best-checkpoint
    ModelCheckpoint (on ``val/acc``). Every run also writes ``last.ckpt`` at the end of every
    epoch (``--ckpt_path last`` resumes from it) and ``interrupted.ckpt`` on SIGTERM or Ctrl-C.
    Each run logs into its own ``version_<k>`` folder, allocated atomically.
    """

    def __init__(self, *args: Any, run_dirs: list[Path] | None = None, **kwargs: Any) -> None:
        self.run_dirs = run_dirs if run_dirs is not None else []
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StabilityCallback, "stability")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/acc",
            "checkpoint.mode": "max",
            "checkpoint.filename": "best-epoch{epoch:03d}",
            "checkpoint.auto_insert_metric_name": False,
            "trainer.max_epochs": 250,
            "trainer.enable_progress_bar": sys.stdout.isatty(),
            "trainer.logger": {"class_path": f"{CSVLogger.__module__}.CSVLogger", "init_args": {"save_dir": "runs"}},
        })
        for source, target in (("num_channels", "in_channels"), ("num_classes", "num_classes"), ("image_size", "image_size")):
            parser.link_arguments(f"data.{source}", f"model.{target}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check a ``--ckpt_path`` file before Lightning reads hyper-parameters from it."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path is not None and str(ckpt_path) not in _CHECKPOINT_WORDS:
            from lightning_diffeo.evaluation import check_checkpoint

            check_checkpoint(ckpt_path, module_class=ImageClassifier)

    # ------------------------------------------------------------ run folders
    def before_instantiate_classes(self) -> None:
        if self.subcommand:  # not for build_cli(run=False), which only builds the objects
            self._allocate_run_dir(self.config[self.subcommand])

    def _new_run_dir(self, root: Path) -> Path | None:
        """Rank 0 creates the folder; processes that a DDP launcher starts get it through the environment."""
        if _rank() == 0:
            run_dir = make_unique_dir(root, "version_")
            self.run_dirs.append(run_dir)
            os.environ[_RUN_DIR_ENV] = str(run_dir.resolve())
            return run_dir
        inherited = os.environ.get(_RUN_DIR_ENV)
        return Path(inherited) if inherited and Path(inherited).parent == root.resolve() else None

    def _allocate_run_dir(self, config: Namespace) -> None:
        """Give the run a version folder of its own, made with ``mkdir(exist_ok=False)``.

        Loggers pick ``version_<k>`` by listing the folder, so fits started together shared
        one. A CSV or TensorBoard logger gets the folder's number as its ``version``; without
        a logger, ``fit`` runs in ``<default_root_dir>/lightning_logs/version_<k>/`` (its
        checkpoints, config and stability results), never in the working directory itself.
        """
        logger = config.get("trainer.logger")
        if logger is False and self.subcommand == "fit":
            root = Path(config.trainer.get("default_root_dir") or ".") / "lightning_logs"
            run_dir = self._new_run_dir(root)
            if run_dir is not None:
                config.trainer.default_root_dir = str(run_dir)
                if config.get("stability.dirpath") is None:
                    config.stability.dirpath = str(run_dir)
            return
        if isinstance(logger, list) or not isinstance(logger, Namespace) or "init_args" not in logger:
            return
        init_args = logger.init_args
        if not {"save_dir", "name", "version"} <= set(vars(init_args)) or init_args.get("version") is not None:
            return
        run_dir = self._new_run_dir(Path(init_args.save_dir or ".") / (init_args.name or "lightning_logs"))
        if run_dir is not None:
            init_args.version = int(run_dir.name.removeprefix("version_"))

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> Any:
        # subcommand None: ``build_cli(..., run=False)``, whose caller fits (e.g. a sweep run)
        if self.subcommand in ("fit", None):
            callbacks = [*callbacks, EpochSeeds(), last_checkpoint(), InterruptCheckpoint()]
        return super()._instantiate_trainer(config, callbacks)

    # ------------------------------------------------------ before any work
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
        candidates = sorted(root.glob("version_*/checkpoints/last.ckpt"), key=lambda path: path.stat().st_mtime)
        if not candidates:
            raise CLIError(f"--ckpt_path last: no last.ckpt under {root}/version_*/checkpoints/; give a checkpoint path")
        config["ckpt_path"] = str(candidates[-1])
        print(f"lightning-diffeo: resuming from {candidates[-1]}", file=sys.stderr)

    def _check_before_work(self) -> None:
        """Everything that can be checked without data, before the datamodule loads anything."""
        from lightning_diffeo.evaluation import check_checkpoint

        self._resolve_last_checkpoint()
        ckpt_path = self.config_init[self.subcommand].get("ckpt_path")
        if ckpt_path is not None and str(ckpt_path) not in _CHECKPOINT_WORDS:
            check_checkpoint(ckpt_path, self.model)
        image_size = getattr(self.datamodule, "image_size", None)
        for callback in self.trainer.callbacks:
            if isinstance(callback, StabilityCallback):
                callback.check_settings(self.model, image_size if isinstance(image_size, int) else None)
        if self.trainer.progress_bar_callback is None and not any(isinstance(c, EpochLine) for c in self.trainer.callbacks):
            self.trainer.callbacks.insert(0, EpochLine())  # its last line before other callbacks' end of training

    def before_fit(self) -> None:
        self._check_before_work()

    def before_validate(self) -> None:
        self._check_before_work()

    def before_test(self) -> None:
        self._check_before_work()

    def before_predict(self) -> None:
        self._check_before_work()


def _expand_data_names(argv: list[str]) -> list[str]:
    """``--data cifar10`` (or ``CIFAR10DataModule``) -> ``--data lightning_diffeo.datamodules.CIFAR10DataModule``.

    Only the list given is changed (never ``sys.argv``): DDP launchers start the other
    processes with the original command line, which expands the same way there.

    Raises:
        CLIError: a bare name that is neither a short name nor a class name of the package.
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
            raise CLIError(
                f"--data {value}: unknown datamodule; expected one of {', '.join(DATAMODULES)} "
                "or a class path such as lightning_diffeo.datamodules.CIFAR10DataModule"
            )
    return expanded


def _fail(error: BaseException) -> None:
    if os.environ.get(_TRACEBACK_ENV):
        raise error
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    print(f"lightning-diffeo: error: {message}", file=sys.stderr)
    print(f"(set {_TRACEBACK_ENV}=1 for the full traceback)", file=sys.stderr)
    sys.exit(2)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith("💡 Tip")


def _quiet_lightning() -> None:
    """Silence Lightning's advertising tips and the ``srun`` hint (a run outside SLURM is no mistake)."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system")
    # Lightning's own use of a torch API torch deprecated: nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def build_probe_parser() -> ProbeParser:
    """The jsonargparse parser of ``lightning-diffeo probe`` (options: :func:`~lightning_diffeo.evaluation.run_probe`)."""
    from lightning_diffeo.evaluation import run_probe

    parser = ProbeParser(
        prog="lightning-diffeo probe",
        description="Measure D_f, G_f and R_f per layer of an ImageClassifier checkpoint on its datamodule's "
        "probe set, print a table and write JSON, CSV and a plot into a new folder of the run.",
    )
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="a YAML file of these options")
    parser.add_function_arguments(run_probe, as_group=False)
    return parser


def probe_main(argv: Sequence[str]) -> None:
    """``lightning-diffeo probe``: measure D_f, G_f, R_f of a saved ImageClassifier checkpoint."""
    from lightning_diffeo.evaluation import run_probe

    parser = build_probe_parser()
    config = parser.parse_args(list(argv))
    options = {k: v for k, v in vars(parser.instantiate_classes(config)).items() if k not in ("config", "__path__")}
    sizes = [name for name in ("deltas", "temperatures") if options.get(name) is not None] + (
        ["sweep"] if options.get("sweep") else [])
    try:
        if len(sizes) > 1:
            raise CLIError(f"give only one of --deltas, --temperatures or --sweep, got {', '.join(sizes)}")
        run_probe(**options)
    except (TypeError, ValueError, FileNotFoundError, FileExistsError) as error:
        _fail(error)


def build_cli(
    args: Sequence[str] | None = None, run: bool = True, run_dirs: list[Path] | None = None, save_config: bool = True
) -> DiffeoCLI:
    """The package's LightningCLI on ``args`` (None: ``sys.argv[1:]``).

    ``run=False`` parses and instantiates only. ``save_config=False`` writes no ``config.yaml``
    into the run folder (for callers that saved the run's config there themselves). ``--data`` short names are expanded in the
    argument list handed to LightningCLI; ``sys.argv`` is left as it is. The run folders made
    are appended to ``run_dirs``.
    """
    words = list(sys.argv[1:] if args is None else args)
    options = dict(
        parser_kwargs={"description": _DESCRIPTION},
        parser_class=DiffeoParser,
        subclass_mode_data=True,
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": False},
        run=run,
        run_dirs=run_dirs,
    )
    if not save_config:
        options["save_config_callback"] = None
    with warnings.catch_warnings():  # `args` is the whole command line here, whatever sys.argv holds
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return DiffeoCLI(ImageClassifier, ImageDataModule, args=_expand_data_names(words), **options)


def _remove_unused(run_dirs: list[Path]) -> None:
    """A failed start leaves no run folder: remove those holding nothing but the saved config."""
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            continue
        entries = list(run_dir.iterdir())
        if all(entry.is_file() and entry.name in _RUN_FILES for entry in entries):
            for entry in entries:
                entry.unlink()
            shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lightning-diffeo`` console script (``argv``: None for ``sys.argv[1:]``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    _quiet_lightning()
    if words and words[0] == "probe":
        probe_main(words[1:])
        return
    if words and words[0] == "report":
        from lightning_diffeo.analysis.report import main as report_main

        report_main(words[1:])
        return
    if words and words[0] in ("sweep", "collect"):
        from lightning_diffeo.studies.commands import collect_main, sweep_main

        (sweep_main if words[0] == "sweep" else collect_main)(words[1:])
        return
    run_dirs: list[Path] = []
    try:
        build_cli(words, run_dirs=run_dirs)
    except (TypeError, ValueError, FileNotFoundError, FileExistsError) as error:
        _remove_unused(run_dirs)
        _fail(error)
    except RuntimeError as error:
        found = re.search(r"SaveConfigCallback expected (.+?) to NOT exist", str(error))
        if found is None:
            _remove_unused(run_dirs)
            raise
        _fail(CLIError(f"{found.group(1)} exists: that run folder holds another run; leave "
                       "--trainer.logger.init_args.version unset to get a new folder"))
    except BaseException:
        _remove_unused(run_dirs)
        raise


if __name__ == "__main__":
    main()
