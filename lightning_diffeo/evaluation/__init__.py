"""Evaluation: a model source and an image source -> D_f, G_f, R_f per layer (``lightning-diffeo probe``).

Model sources: a checkpoint of this package (its ImageClassifier and datamodule rebuilt through
Lightning, probed on the datamodule's probe set), or a pretrained timm/torchvision model by name
(:func:`load_pretrained`), probed on a folder of images (:func:`load_folder_images`). From Python::

    from lightning_diffeo.evaluation import load_checkpoint, probe_checkpoint
    loaded = load_checkpoint("runs/quickstart/version_0/checkpoints/last.ckpt")
    result = probe_checkpoint(loaded, probe_size=300)

    from lightning_diffeo.evaluation import load_folder_images, load_pretrained, probe_pretrained
    built = load_pretrained("timm:resnet50", weights="resnet50.safetensors")
    folder = load_folder_images("photos/", built.transform, probe_size=100)
    result = probe_pretrained(built, folder, cutoffs=[3, 15])
"""

from lightning_diffeo.runs import CheckpointError, check_checkpoint

from .checkpoint_source import LoadedCheckpoint, load_checkpoint
from .efficientnet_lite import convert_efficientnet_lite, convert_efficientnet_lite_file, lite_weights_file
from .images import FolderImages, list_images, load_folder_images
from .labels import imagenet_label_index, read_class_index, top_k_errors
from .outputs import OUTPUT_FILES, check_output_dir, write_outputs
from .pretrained import PretrainedModel, check_pretrained, load_pretrained, parse_model_name, published_top1
from .pretrained_layers import PatchTokens
from .pretrained_probe import DELTA_UNITS, DeltaUnit, probe_pretrained, scale_deltas, top_k_on_folder
from .probe import probe_checkpoint, run_probe

__all__ = [
    "DELTA_UNITS",
    "OUTPUT_FILES",
    "CheckpointError",
    "DeltaUnit",
    "FolderImages",
    "LoadedCheckpoint",
    "PatchTokens",
    "PretrainedModel",
    "check_checkpoint",
    "check_output_dir",
    "check_pretrained",
    "convert_efficientnet_lite",
    "convert_efficientnet_lite_file",
    "imagenet_label_index",
    "lite_weights_file",
    "list_images",
    "load_checkpoint",
    "load_folder_images",
    "load_pretrained",
    "parse_model_name",
    "probe_checkpoint",
    "probe_pretrained",
    "published_top1",
    "read_class_index",
    "run_probe",
    "scale_deltas",
    "top_k_errors",
    "top_k_on_folder",
    "write_outputs",
]
