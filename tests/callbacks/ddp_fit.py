"""Fit a foreign model with StabilityCallback under DDP on 2 CPU processes (run by test_ddp.py)."""

import sys

import torch
from lightning import Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from lightning_diffeo.callbacks import StabilityCallback

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from test_stability_callback import ForeignNet  # noqa: E402

if __name__ == "__main__":
    root = sys.argv[1]
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 3, (64,), generator=g))
    probe = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    callback = StabilityCallback(probe_images=probe, cutoffs=[3], layers=["net.0", "output"], plot=False,
                                 monitor="val/score")
    trainer = Trainer(max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", default_root_dir=root,
                      callbacks=[callback], logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(ForeignNet(batch_norm=False), DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    if trainer.is_global_zero:
        print("STAGES", sorted(callback.results))
