"""``lightning-diffeo probe``: measure D_f, G_f and R_f per layer of a saved checkpoint or a pretrained model.

    lightning-diffeo probe --ckpt_path runs/quickstart/version_0/checkpoints/last.ckpt --deltas [0.5,1,2]
    lightning-diffeo probe --model timm:resnet50 --weights resnet50.safetensors --images photos/
"""

from __future__ import annotations

from collections.abc import Sequence

from jsonargparse import ActionConfigFile, ArgumentParser

from .argv import option_values
from .errors import OneLineErrors, fail

__all__ = ["build_parser", "main"]


class ProbeParser(OneLineErrors, ArgumentParser):
    """The ``probe`` parser with one-line errors."""


def build_parser() -> ProbeParser:
    """The jsonargparse parser of ``lightning-diffeo probe`` (options: :func:`~lightning_diffeo.evaluation.run_probe`)."""
    from lightning_diffeo.evaluation import run_probe

    parser = ProbeParser(
        prog="lightning-diffeo probe",
        description="Measure D_f, G_f and R_f per layer of an ImageClassifier checkpoint on its datamodule's "
        "probe set (--ckpt_path), or of a timm or torchvision model on a folder of images (--model, --weights, "
        "--images), print a table and write JSON, CSV and a plot into a new folder.",
    )
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="a YAML file of these options")
    parser.add_function_arguments(run_probe, as_group=False)
    return parser


def main(argv: Sequence[str]) -> None:
    """``lightning-diffeo probe``: measure D_f, G_f, R_f of a saved checkpoint or a pretrained model."""
    from lightning_diffeo.runs.checkpoints import require_checkpoint_file

    for ckpt_path in option_values(argv, "--ckpt_path"):  # a missing file answers before torch loads
        try:
            require_checkpoint_file(ckpt_path)
        except ValueError as error:
            fail(error)
    from lightning_diffeo.evaluation import run_probe

    parser = build_parser()
    config = parser.parse_args(list(argv))
    options = {k: v for k, v in vars(parser.instantiate_classes(config)).items() if k not in ("config", "__path__")}
    try:
        run_probe(**options)
    except (TypeError, ValueError, FileNotFoundError, FileExistsError) as error:
        fail(error)
