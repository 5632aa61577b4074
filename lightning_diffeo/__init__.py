"""lightning-diffeo: relative stability of image classifiers to diffeomorphisms.

Subpackages:
    diffeo: maximum-entropy diffeomorphisms, interpolation, distortion (pure torch).
    stability: D_f, G_f, R_f at the output and at every layer (pure torch).
    models: architectures, their probe layers, and the ImageClassifier LightningModule.
    datamodules: LightningDataModules for the paper's datasets and an offline Digits set.
    callbacks: StabilityCallback for any Lightning Trainer.
    evaluation: reload a checkpoint through Lightning and measure it (``lightning-diffeo probe``).
    cli: the ``lightning-diffeo`` command.

The top-level package imports nothing heavy; import the subpackage you need.
"""

__version__ = "0.1.0"
