"""Every ```python block of README.md and docs/*.md runs, so that the documented examples keep working.

The blocks are found when the tests are collected: a new block in any of these files is a new
test, without editing this file (a file with no python block has no test). Each block runs

- in a fresh namespace (``__name__ == "__doc_example__"``), compiled with the doc file as its
  file name and the doc's line numbers, so a traceback points at the line of the doc;
- in its own temporary working directory (``tmp_path``), so every relative path a block reads
  or writes (``logs/``, ``report/``, ``stability.json``, ``data/``, ``runs/``) lies there;
- offline: any connection to a network address fails;
- with matplotlib's Agg backend;
- on one torch thread: the blocks' networks are tiny, and on a machine whose cores are busy (two
  cores, the suite and another job) each multi-threaded operation waits for a busy core, which
  made the blocks several times slower (a 30-epoch fit 1.3 s idle, 6-12 s under load);
- with ``PL_TRAINER_MAX_EPOCHS=1`` in the environment, which Lightning reads as the default of
  ``Trainer(max_epochs=...)``: a block that leaves ``max_epochs`` to Lightning (1000 epochs)
  trains one; a block that sets it keeps its own value.

Some blocks are fragments of a reader's own project: they use names the reader brings (``model``,
``datamodule``, ``images``, ...) or files that an earlier step of the docs wrote (a run's
``stability.json``, a study folder, a collected table, a dataset). ``PREREQUISITES`` gives, per
block, a function that provides them, each built with the package's own public API and as small
as possible; its docstring says how. The heavier ones (a tiny two-run study on the offline
Digits data) are built once per session and copied into each test's ``tmp_path``.

``SKIPS`` may hold a block that cannot run offline at all, with the reason; it is empty.
Both dicts are keyed by (file, block number from 1) and give a piece of the block's text,
checked by ``test_tables_match_the_docs``, as are the names a prerequisite provides (each must
appear in the block): a block moved or rewritten fails loudly instead of running with the wrong
prerequisites.
"""

from __future__ import annotations

import re
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*python\b")


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root, e.g. "docs/callback.md"
    index: int  # 1 for the first python block of the file
    line: int  # line number (from 1) of the block's first code line in the file
    source: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.file, self.index)

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.source.splitlines() if line.strip()), "")

    @property
    def id(self) -> str:
        first = self.first_line
        return f"{self.file}#{self.index}({first[:60]}{'...' if len(first) > 60 else ''})"


def python_blocks(path: Path) -> list[Block]:
    """The fenced ```python blocks of a Markdown file, in order (indented fences dedented)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = match.group("indent"), match.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{path}:{i + 1}: python block never closed")
        blocks.append(Block(path.relative_to(ROOT).as_posix(), len(blocks) + 1, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


BLOCKS = [block for path in DOC_FILES for block in python_blocks(path)]


# --------------------------------------------------------------------------- prerequisites
# A tiny study on the offline Digits data, built once per session: the spec of
# configs/sweeps/digits_tiny.yaml (LeNet and fc2, base configs/quickstart.yaml) cut to one
# training-set size, one seed and one short epoch, so it plans two runs. They are planned and
# run in this process through lightning_diffeo.studies (plan_runs, execute_run: fit with the
# StabilityCallback, test at the best checkpoint, run.json), and collected with collect and
# write_table, as `lightning-diffeo sweep run` and `lightning-diffeo collect` do.
# The probe measures the output only, at c = 3, median: docs/reports.md's block then draws one
# figure (test error against D_f, G_f, R_f) and skips the others with their reason; every
# further layer, cutoff or average is one more figure, written as PNG and PDF (~0.7 s each).
_TINY_STUDY = {
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.limit_val_batches": 1,
    "trainer.limit_test_batches": 1,
    "trainer.log_every_n_steps": 1,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
    "data.batch_size": 32,
    "data.constant_steps": False,
    "stability.probe_size": 16,
    "stability.cutoffs": [3],
    "stability.layers": ["output"],
    "stability.average": "median",
    "stability.plot": False,
}


@pytest.fixture(scope="session")
def digits_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"study": the study folder, "table": its collected CSV}`` (two done runs: lenet, fc2)."""
    import yaml

    from lightning_diffeo.studies import collect, execute_run, parse_spec, plan_runs, write_table
    from lightning_diffeo.studies.state import prepare_runs

    root = tmp_path_factory.mktemp("doc_examples_study")
    raw = yaml.safe_load((ROOT / "configs" / "sweeps" / "digits_tiny.yaml").read_text(encoding="utf-8"))
    raw["set"] = {**raw.get("set", {}), **_TINY_STUDY}
    raw["grid"] = {"data.train_size": [128]}
    raw["seeds"] = 1
    raw["output"] = str(root / "runs" / "sweeps" / "digits_tiny")
    spec = parse_spec(raw, directory=ROOT / "configs" / "sweeps", name="digits_tiny")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("PL_TRAINER_MAX_EPOCHS", raising=False)  # set by doc_environment when built from a test
        _offline(patch)
        run_dirs = prepare_runs(plan_runs(spec))
        assert len(run_dirs) == 2, run_dirs
        for run_dir in run_dirs:
            record = execute_run(run_dir)
            assert record["status"] == "done", record
        table = write_table(collect(raw["output"]), root / "results.csv")
    return {"study": Path(raw["output"]), "table": table}


def _stability_json(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``logs/lightning_logs/version_0/stability.json``, written as docs/callback.md's first block
    writes it: a ``StabilityCallback`` with its default settings (stages init and best, both
    averages, c = 3, 5, 15) in a ``Trainer`` with ``CSVLogger("logs")``, here fitting LeNet
    (``ImageClassifier``) for one epoch of 64 images of the offline ``DigitsDataModule``, 16 probe images."""
    from lightning import Trainer
    from lightning.pytorch.loggers import CSVLogger

    from lightning_diffeo.callbacks import StabilityCallback
    from lightning_diffeo.datamodules import DigitsDataModule
    from lightning_diffeo.models import ImageClassifier

    callback = StabilityCallback(probe_size=16, plot=False, verbose=False)
    trainer = Trainer(max_epochs=1, callbacks=[callback], logger=CSVLogger("logs"), accelerator="cpu",
                      enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(ImageClassifier("lenet", in_channels=1, num_classes=10, image_size=28),
                datamodule=DigitsDataModule(batch_size=64, train_size=64, val_size=64))
    assert Path("logs/lightning_logs/version_0/stability.json").is_file(), callback.results_path
    return {}


def _study_folder(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``runs/sweeps/digits_tiny``: a copy of the session study (two done runs)."""
    shutil.copytree(request.getfixturevalue("digits_study")["study"], "runs/sweeps/digits_tiny")
    return {}


def _results_table(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``results.csv``: the session study collected (``collect`` then ``write_table``)."""
    shutil.copyfile(request.getfixturevalue("digits_study")["table"], "results.csv")
    return {}


def _fashion_mnist_files(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``data/FashionMNIST/raw/``: the four IDX files in their real format (uncompressed), random
    pixels, with the fewest images the block's options allow: 6024 training images (the default
    5000 validation images plus train_size=1024) and 500 test images (the default probe set)."""
    import struct

    import numpy as np

    rng = np.random.default_rng(0)
    raw = Path("data/FashionMNIST/raw")
    raw.mkdir(parents=True)
    for prefix, count in (("train", 5000 + 1024), ("t10k", 500)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", (np.arange(count) % 10).astype(np.uint8))):
            header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{prefix}-{kind}-ubyte").write_bytes(header + array.tobytes())
    return {}


def _readme_callback_names(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The reader's objects of README.md's callback example, from the package: the offline
    ``DigitsDataModule`` (64 training and 64 validation images, one batch each), an
    ``ImageClassifier`` (LeNet) for it, 32 of its probe images as ``test_images`` and its
    ``normalize_images``. The block's ``Trainer()`` leaves max_epochs to Lightning: one epoch here."""
    from lightning_diffeo.datamodules import DigitsDataModule
    from lightning_diffeo.models import ImageClassifier

    datamodule = DigitsDataModule(batch_size=64, train_size=64, val_size=64)
    test_images, _ = datamodule.probe_set(32)
    return {
        "test_images": test_images,
        "my_normalize": datamodule.normalize_images,
        "my_module": ImageClassifier("lenet", in_channels=1, num_classes=10, image_size=28),
        "datamodule": datamodule,
    }


def _readme_library_names(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``model``, ``images``, ``normalize`` of README.md's library example: a LeNet from
    ``create_model`` (it has ``probe_layers``, used by ``layers=None``), 32 probe images of the
    offline ``DigitsDataModule`` and its ``normalize_images``."""
    from lightning_diffeo.datamodules import DigitsDataModule
    from lightning_diffeo.models import create_model

    datamodule = DigitsDataModule()
    images, _ = datamodule.probe_set(32)
    return {
        "model": create_model("lenet", in_channels=1, num_classes=10, image_size=28),
        "images": images,
        "normalize": datamodule.normalize_images,
    }


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class _OwnModel(L.LightningModule):
    """A reader's own classifier of 3x32x32 images: a ``backbone`` with ``layer1`` .. ``layer4``, logging ``val_acc``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        return nn.functional.cross_entropy(self(images), labels)

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        self.log("val_acc", (self(images).argmax(1) == labels).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _OwnData(L.LightningDataModule):
    """A reader's own data: 16 random 3x32x32 images with labels, one batch, for training and validation."""

    def setup(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(16, 3, 32, 32, generator=generator)
        self.data = torch.utils.data.TensorDataset(images, torch.randint(0, 10, (16,), generator=generator))

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.data, batch_size=16, shuffle=True)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.data, batch_size=16)


def _callback_own_project_names(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``model`` and ``datamodule`` of docs/callback.md's first block, "any LightningModule and
    any data": a tiny LightningModule of the reader's own (not the package's) with the layers the
    block probes (``backbone.layer1``, ``backbone.layer4``) that logs the block's monitor
    ``val_acc``, and a datamodule of 16 random 3x32x32 images, one batch per epoch."""
    return {"model": _OwnModel(), "datamodule": _OwnData()}


PREREQUISITES: dict[tuple[str, int], tuple[str, Callable[[pytest.FixtureRequest], dict[str, Any]]]] = {
    ("README.md", 1): ("Trainer(callbacks=[callback]).fit(my_module, datamodule)", _readme_callback_names),
    ("README.md", 2): ("result = measure_stability(model, images,", _readme_library_names),
    ("docs/callback.md", 1): ('layers=["backbone.layer1", "backbone.layer4", "output"]', _callback_own_project_names),
    ("docs/callback.md", 2): ('StabilityResult.from_json("logs/lightning_logs/version_0/stability.json")', _stability_json),
    ("docs/data.md", 1): ('FashionMNISTDataModule(data_dir="data"', _fashion_mnist_files),
    ("docs/reports.md", 1): ('load_table("results.csv")', _results_table),
    ("docs/studies.md", 1): ('collect("runs/sweeps/digits_tiny")', _study_folder),
}
"""(file, block number) -> (text the block contains, what provides its names and files)."""

SKIPS: dict[tuple[str, int], tuple[str, str]] = {}
"""(file, block number) -> (text the block contains, why it cannot run here). Keep it empty if you can."""


# --------------------------------------------------------------------------- the environment
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection to a network address (local sockets still work)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"the doc examples run offline: connection to {address!r} refused")

    def connect(self, address):
        refuse(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        refuse(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


def _repository_entries() -> set[str]:
    """Files and folders at the top of the repository and of docs/: a block must add none (hidden
    ones, such as the .pytest_cache of a pytest run beside this one, are not counted)."""
    return {p.relative_to(ROOT).as_posix() for folder in (ROOT, ROOT / "docs") for p in folder.iterdir()
            if not p.name.startswith(".")}


@pytest.fixture
def doc_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import matplotlib

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PL_TRAINER_MAX_EPOCHS", "1")
    matplotlib.use("Agg")
    _offline(monkeypatch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    before = _repository_entries()
    try:
        yield tmp_path
    finally:
        torch.set_num_threads(threads)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    assert _repository_entries() == before, "a doc example wrote into the repository instead of its working directory"


# --------------------------------------------------------------------------- the tests
def test_blocks_are_found() -> None:
    """The parser sees the blocks (a broken fence pattern would otherwise collect nothing)."""
    assert BLOCKS, "no ```python block found in README.md or docs/*.md"
    assert {block.file for block in BLOCKS} >= {"README.md"}


def test_tables_match_the_docs() -> None:
    """Every entry of PREREQUISITES and SKIPS names an existing block, recognised by a piece of its text."""
    blocks = {block.key: block for block in BLOCKS}
    for table_name, table in (("PREREQUISITES", PREREQUISITES), ("SKIPS", SKIPS)):
        for key, (text, _) in table.items():
            assert key in blocks, f"{table_name}[{key}]: no such python block (was it moved or removed?)"
            assert text in blocks[key].source, (
                f"{table_name}[{key}] is for a block containing {text!r}, but python block {key[1]} of "
                f"{key[0]} (line {blocks[key].line}) does not contain it: update the entry"
            )


@pytest.mark.parametrize("block", [pytest.param(block, id=block.id) for block in BLOCKS])
def test_doc_example_runs(block: Block, request: pytest.FixtureRequest, doc_environment: Path) -> None:
    if block.key in SKIPS:
        pytest.skip(SKIPS[block.key][1])
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    if block.key in PREREQUISITES:
        provided = PREREQUISITES[block.key][1](request)
        unused = [name for name in provided if not re.search(rf"\b{name}\b", block.source)]
        assert not unused, f"PREREQUISITES[{block.key}] provides {unused}, which the block does not use: update the entry"
        namespace.update(provided)
    code = compile("\n" * (block.line - 1) + block.source, str(ROOT / block.file), "exec")
    exec(code, namespace)
