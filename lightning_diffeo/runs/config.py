"""The fit config: its schema and parser (LightningCLI's), run folders, and the checks before any work.

One class, :class:`DiffeoCLI`, builds every run of the package: ``lightning-diffeo fit`` (and
validate, test, predict) and every run of a sweep. It adds the StabilityCallback
(``--stability.*``), the best-checkpoint ModelCheckpoint (``--checkpoint.*``), short datamodule
names (``--data cifar10``) and a run folder of its own to every run, through LightningCLI's
public hooks only.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from lightning_diffeo._atomic import make_unique_dir
from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.callbacks.progress import EpochLine, EpochSeeds, InterruptCheckpoint, last_checkpoint
from lightning_diffeo.datamodules import ImageDataModule
from lightning_diffeo.models import ImageClassifier

from .checkpoints import check_checkpoint
from .datanames import expand_data_names
from .layout import VERSION_PREFIX, last_checkpoints_under

__all__ = ["CHECKPOINT_WORDS", "DiffeoCLI", "EvaluateCLI", "build_cli", "fit_parser"]

RUN_DIR_ENV = "LIGHTNING_DIFFEO_RUN_DIR"
CHECKPOINT_WORDS = ("last", "best", "hpc", "registry")
"""``--ckpt_path`` values that name a checkpoint by role (Lightning's), not a file."""


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0) or 0)


class DiffeoCLI(LightningCLI):
    """LightningCLI with the package's model, datamodules, checkpointing and StabilityCallback.

    The model is ``ImageClassifier`` (``--model.arch`` picks the architecture); ``--data``
    takes a datamodule short name (``digits``, ``mnist``, ``fashionmnist``, ``svhn``,
    ``cifar10``, ``tinyimagenet32``) or class. Channels, classes and image size flow from the
    datamodule to the model. ``--stability.*`` configures the StabilityCallback (on by default;
    ``--stability.when []`` turns it off) and ``--checkpoint.*`` the best-checkpoint
    ModelCheckpoint (on ``val/acc``). A fitting run also writes ``last.ckpt`` at the end of every
    epoch and ``interrupted.ckpt`` on SIGTERM or Ctrl-C.

    Args:
        run_dirs: the folders this CLI makes are appended here, outermost first: the run folder
            and the parents it had to create.
        fit_command: the ``lightning-diffeo fit`` command (with ``run=False``): adds a
            ``--ckpt_path`` option and gives the run a ``version_<k>`` folder of its own,
            allocated atomically. Without it, a ``run=False`` CLI only builds the objects of a
            config whose logger already names its folder (a sweep run).
        new_run: False to build a run from its own saved config, in its own folder (a resume).
    """

    def __init__(self, *args: Any, run_dirs: list[Path] | None = None, fit_command: bool = False,
                 new_run: bool = True, **kwargs: Any) -> None:
        self.run_dirs = run_dirs if run_dirs is not None else []
        self.fit_command = fit_command
        self.new_run = new_run
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
        if self.fit_command:
            parser.add_argument(
                "--ckpt_path", type=Optional[str], default=None,
                help="resume from this checkpoint; 'last': the newest last.ckpt of earlier runs of this config",
            )

    def command_config(self, config: Any = None) -> Any:
        """The part of ``config`` (default: the parsed config) that the command's options live in."""
        config = self.config if config is None else config
        subcommand = getattr(self, "subcommand", None) or config.get("subcommand")
        return config[subcommand] if subcommand else config

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check a ``--ckpt_path`` file before Lightning reads hyper-parameters from it."""
        super().parse_arguments(parser, args)
        ckpt_path = self.command_config().get("ckpt_path")
        if ckpt_path is not None and str(ckpt_path) not in CHECKPOINT_WORDS:
            check_checkpoint(ckpt_path, module_class=ImageClassifier)

    # ------------------------------------------------------------ run folders
    def before_instantiate_classes(self) -> None:
        if self.new_run and (self.subcommand or self.fit_command):  # a sweep run's config already names its folder
            self._allocate_run_dir(self.command_config())

    def _new_run_dir(self, root: Path) -> Path | None:
        """Rank 0 creates the folder; processes that a DDP launcher starts get it through the environment."""
        if _rank() == 0:
            created = [folder for folder in (root, *root.parents) if not folder.exists()]
            run_dir = make_unique_dir(root, VERSION_PREFIX)
            self.run_dirs.extend([*reversed(created), run_dir])  # outermost first
            os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
            return run_dir
        inherited = os.environ.get(RUN_DIR_ENV)
        return Path(inherited) if inherited and Path(inherited).parent == root.resolve() else None

    def _allocate_run_dir(self, config: Any) -> None:
        """Give the run a version folder of its own, made with ``mkdir(exist_ok=False)``.

        Loggers pick ``version_<k>`` by listing the folder, so fits started together shared
        one. A CSV or TensorBoard logger gets the folder's number as its ``version``; without
        a logger, ``fit`` runs in ``<default_root_dir>/lightning_logs/version_<k>/`` (its
        checkpoints, config and stability results), never in the working directory itself.
        """
        logger = config.get("trainer.logger")
        if logger is False and self.fit_command:
            root = Path(config.trainer.get("default_root_dir") or ".") / "lightning_logs"
            run_dir = self._new_run_dir(root)
            if run_dir is not None:
                config.trainer.default_root_dir = str(run_dir)
                if config.get("stability.dirpath") is None:
                    config.stability.dirpath = str(run_dir)
            return
        if isinstance(logger, list) or not hasattr(logger, "init_args"):
            return
        init_args = logger.init_args
        if not {"save_dir", "name", "version"} <= set(vars(init_args)):
            return
        if init_args.get("version") is not None:
            self._evaluate_inside_the_run(init_args)
            return
        run_dir = self._new_run_dir(Path(init_args.save_dir or ".") / (init_args.name or "lightning_logs"))
        if run_dir is not None:
            init_args.version = int(run_dir.name.removeprefix(VERSION_PREFIX))

    def _evaluate_inside_the_run(self, init_args: Any) -> None:
        """``validate``/``test``/``predict`` on a run's own config log into a new ``<run>/<subcommand>-<k>/``.

        Lightning's CSVLogger would otherwise clear the run's own ``metrics.csv``.
        """
        version = init_args.version
        folder = version if isinstance(version, str) else f"{VERSION_PREFIX}{version}"
        run_dir = Path(init_args.save_dir or ".") / (init_args.name or "") / folder
        if not self.subcommand or not run_dir.is_dir() or _rank() != 0:
            return
        inner = make_unique_dir(run_dir, f"{self.subcommand}-")
        self.run_dirs.append(inner)
        init_args.version = f"{folder}/{inner.name}"

    # ------------------------------------------------------ before any work
    def _resolve_last_checkpoint(self, ckpt_path: str | None) -> str | None:
        """``validate``/``test``/``predict --ckpt_path last``: the newest ``last.ckpt`` of the runs of this config.

        Lightning's own "last" looks in the new evaluation folder and would find nothing.
        (``fit --ckpt_path last`` resumes a run in place instead: :mod:`~lightning_diffeo.runs.resume`.)
        """
        if ckpt_path != "last":
            return ckpt_path
        logger = self.trainer.logger
        root = Path(getattr(logger, "root_dir", None) or Path(self.trainer.default_root_dir) / "lightning_logs")
        candidates = last_checkpoints_under(root)
        if not candidates:
            raise ValueError(f"--ckpt_path last: no last.ckpt under {root}/{VERSION_PREFIX}*/checkpoints/; give a checkpoint path")
        print(f"lightning-diffeo: resuming from {candidates[-1]}", file=sys.stderr)
        return str(candidates[-1])

    def check_before_work(self, ckpt_path: str | None) -> str | None:
        """Everything that can be checked without data, before the datamodule loads anything.

        Resolves ``ckpt_path="last"``, checks a checkpoint file against the model and the
        StabilityCallback's settings against the model and image size, and adds the one-line
        epoch log when there is no progress bar.

        Returns:
            The checkpoint to start from (``"last"`` resolved to a file).
        """
        ckpt_path = self._resolve_last_checkpoint(ckpt_path)
        if ckpt_path is not None and str(ckpt_path) not in CHECKPOINT_WORDS:
            check_checkpoint(ckpt_path, self.model)
        image_size = getattr(self.datamodule, "image_size", None)
        for callback in self.trainer.callbacks:
            if isinstance(callback, StabilityCallback):
                callback.check_settings(self.model, image_size if isinstance(image_size, int) else None)
        if self.trainer.progress_bar_callback is None and not any(isinstance(c, EpochLine) for c in self.trainer.callbacks):
            self.trainer.callbacks.insert(0, EpochLine())  # its last line before other callbacks' end of training
        return ckpt_path

    def _before_subcommand(self) -> None:
        config = self.config_init[self.subcommand]
        config["ckpt_path"] = self.check_before_work(config.get("ckpt_path"))

    def before_validate(self) -> None:
        self._before_subcommand()

    def before_test(self) -> None:
        self._before_subcommand()

    def before_predict(self) -> None:
        self._before_subcommand()


class EvaluateCLI(DiffeoCLI):
    """``validate``, ``test`` and ``predict`` on a model from a config (fitting goes through :func:`~lightning_diffeo.runs.fit.fit_and_test`)."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {name: keys for name, keys in LightningCLI.subcommands().items() if name != "fit"}


def fit_callbacks() -> list:
    """The callbacks every fitting run gets: epoch-seeded shuffling, ``last.ckpt``, ``interrupted.ckpt``."""
    return [EpochSeeds(), last_checkpoint(), InterruptCheckpoint()]


def _options(**extra: Any) -> dict[str, Any]:
    """The LightningCLI options shared by every CLI the package builds."""
    return dict(subclass_mode_data=True, seed_everything_default=0, auto_configure_optimizers=False, **extra)


def build_cli(
    args: Sequence[str] | None = None,
    run: bool = False,
    run_dirs: list[Path] | None = None,
    save_config: bool = True,
    fit_command: bool = False,
    new_run: bool = True,
    parser_class: type[LightningArgumentParser] = LightningArgumentParser,
    parser_kwargs: dict[str, Any] | None = None,
) -> DiffeoCLI:
    """The package's LightningCLI on ``args`` (None: ``sys.argv[1:]``).

    ``run=False`` (the default) parses and instantiates a fit config (model, datamodule, trainer
    with every callback of a fitting run): :func:`~lightning_diffeo.runs.fit.fit_and_test` then
    fits it. ``run=True`` runs ``validate``, ``test`` or ``predict`` (the first word of
    ``args``). ``save_config=False`` writes no ``config.yaml`` into the run folder (for callers
    that saved the run's config there themselves). ``--data`` short names are expanded in the
    argument list handed to LightningCLI; ``sys.argv`` is left as it is. ``new_run=False``
    builds a run from its own saved config, in its own folder (see :mod:`~lightning_diffeo.runs.resume`).

    Raises:
        ValueError: an unknown ``--data`` short name, a checkpoint that does not fit.
    """
    words = list(sys.argv[1:] if args is None else args)
    options = _options(parser_class=parser_class, save_config_kwargs={"overwrite": False}, run=run,
                       run_dirs=run_dirs, parser_kwargs=parser_kwargs or {})
    if not run:
        options.update(trainer_defaults={"callbacks": fit_callbacks()}, fit_command=fit_command, new_run=new_run)
    if not save_config:
        options["save_config_callback"] = None
    with warnings.catch_warnings():  # `args` is the whole command line here, whatever sys.argv holds
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        cls = EvaluateCLI if run else DiffeoCLI
        return cls(ImageClassifier, ImageDataModule, args=expand_data_names(words), **options)


class _ParseOnly(DiffeoCLI):
    def instantiate_classes(self) -> None:  # a parser only: no model, data or trainer built
        pass


_PARSER: LightningArgumentParser | None = None


def fit_parser() -> LightningArgumentParser:
    """The fit config's parser (the options of ``lightning-diffeo fit`` but ``--ckpt_path``), built once per process.

    Building it instantiates nothing and leaves every random generator as it was. It raises
    on bad input instead of exiting, and refuses abbreviated option names.
    """
    global _PARSER
    if _PARSER is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            # seed_everything=false for this one parse: LightningCLI seeds the global RNGs otherwise
            cli = _ParseOnly(ImageClassifier, ImageDataModule, run=False, **_options(),
                             args=["--data=lightning_diffeo.datamodules.DigitsDataModule", "--seed_everything=false"])
        _PARSER = cli.parser
        _PARSER.exit_on_error = False
        _PARSER.allow_abbrev = False  # a misspelt key must be an error, not a prefix match
    return _PARSER
