"""Evaluation: a model source and an image source -> D_f, G_f, R_f per layer (``lightning-diffeo probe``).

Today's model source is a checkpoint of this package (its ImageClassifier and datamodule
rebuilt through Lightning), its images the datamodule's probe set. From Python::

    from lightning_diffeo.evaluation import load_checkpoint, probe_checkpoint
    loaded = load_checkpoint("runs/quickstart/version_0/checkpoints/last.ckpt")
    result = probe_checkpoint(loaded, probe_size=300)
"""

from lightning_diffeo.runs import CheckpointError, check_checkpoint

from .checkpoint_source import LoadedCheckpoint, load_checkpoint
from .probe import OUTPUT_FILES, check_output_dir, probe_checkpoint, run_probe, write_outputs

__all__ = [
    "OUTPUT_FILES",
    "CheckpointError",
    "LoadedCheckpoint",
    "check_checkpoint",
    "check_output_dir",
    "load_checkpoint",
    "probe_checkpoint",
    "run_probe",
    "write_outputs",
]
