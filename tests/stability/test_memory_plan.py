"""max_memory: the plan within a budget (smaller batch, layer groups) gives the unplanned numbers; too small a
budget is refused in one line before any work."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import (
    check_max_memory,
    estimate_peak,
    footprint,
    measure_noise_stability,
    measure_stability,
    model_mode,
    plan_memory,
)

QUANTITIES = ("D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise")
# Another batch size may change the last bits of the convolutions (sums of 9 C products) and
# so of every squared difference; the medians select among them and sum in float64.
FLOAT32 = 1e-5


class Net(nn.Module):
    """Conv, batch-norm, an in-place ReLU (its output is copied), a second conv, a head."""

    probe_layers = ("conv1", "act1", "conv2", "pool", "output")

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act1(self.bn(self.conv1(x))))
        return self.head(torch.relu_(self.pool(y)).flatten(1))


def _net() -> Net:
    torch.manual_seed(0)
    return Net()


def _measure(model, images, measure=measure_stability, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # T above T_max at c = 5 on 28 px: not the subject
        return measure(model, images, generator=torch.Generator().manual_seed(3), progress=False, **kwargs)


def _budget_for(model, images, kind: str, mode: str = "eval", **settings) -> int:
    """The largest budget (in 2% steps below the unplanned estimate) whose plan is of ``kind``."""
    names = list(model.probe_layers)
    with torch.no_grad(), model_mode(model, mode):
        fp = footprint(model, images, names, None)
    batch = images.shape[0] if mode == "init" else 128
    common = dict(count=images.shape[0], batch_size=batch, averages=("median", "mean"), keep_batch=mode == "init",
                  **settings)
    requested = estimate_peak(fp, names, count=images.shape[0], batch_size=batch, averages=("median", "mean"),
                              **settings).total
    for step in range(49, 0, -1):
        budget = requested * step // 50
        try:
            if plan_memory(fp, names, budget=budget, **common).kind == kind:
                return budget
        except ValueError:
            break
    raise AssertionError(f"no budget gives a plan of kind {kind!r}")


def _assert_same_records(planned, plain):
    assert [(r["layer"], r["cutoff"], r["average"]) for r in planned.records] == [
        (r["layer"], r["cutoff"], r["average"]) for r in plain.records]
    for got, want in zip(planned.records, plain.records):
        for key in QUANTITIES:
            assert got[key] == pytest.approx(want[key], rel=FLOAT32, abs=0), (got["layer"], key)
        assert got["fraction_diffeomorphic"] == want["fraction_diffeomorphic"]


def test_a_smaller_batch_and_layer_groups_give_the_unplanned_numbers(digits):
    images, model = digits[:24], _net()
    settings = dict(cutoffs=[3], diffeos_per_image=2)
    plain = _measure(model, images, **settings)
    assert plain.metadata["memory"]["plan"] == "as requested"
    budget = _budget_for(model, images, "smaller batch, layer groups", rows_per_image=2, perturbation="bilinear")
    planned = _measure(model, images, max_memory=budget, **settings)
    memory = planned.metadata["memory"]
    assert memory["plan"] == "smaller batch, layer groups" and memory["max_memory"] == budget
    assert memory["estimate"] <= budget < memory["estimate_as_requested"]
    groups = memory["groups"]
    assert len(groups) > 1 and sorted(sum(groups, [])) == sorted(Net.probe_layers)
    # each group repeats the clean pass and (deformed + noisy) x 2 copies
    assert memory["forward_passes"] == len(groups) * memory["forward_passes_as_requested"] == len(groups) * 5
    assert planned.metadata["batch_size"] < plain.metadata["batch_size"]
    assert planned.metadata["layers"] == plain.metadata["layers"]
    _assert_same_records(planned, plain)


def test_in_init_mode_the_plan_keeps_the_batch_statistics(digits):
    images, model = digits[:24], _net()
    plain = _measure(model, images, cutoffs=[3], mode="init")
    budget = _budget_for(model, images, "layer groups", mode="init", rows_per_image=1, perturbation="bilinear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the batches are the whole probe set, as asked
        planned = measure_stability(model, images, cutoffs=[3], mode="init", max_memory=budget,
                                    generator=torch.Generator().manual_seed(3), progress=False)
    assert planned.metadata["memory"]["plan"] == "layer groups"
    assert planned.metadata["batch_size"] == images.shape[0]
    _assert_same_records(planned, plain)
    # where only smaller batches fit, init mode says that batch-norm then sees other statistics
    budget = _budget_for(model, images, "smaller batch, layer groups", mode="init", rows_per_image=1,
                         perturbation="bilinear")
    with pytest.warns(RuntimeWarning, match="batch-norm normalises each batch with its own statistics"):
        measure_stability(model, images, cutoffs=[3], mode="init", max_memory=budget, progress=False,
                          generator=torch.Generator().manual_seed(3))


def test_the_noise_sweep_plans_the_same_way(digits):
    images, model = digits[:24], _net()
    plain = _measure(model, images, measure_noise_stability, noise_norms=[0.5, 2.0])
    budget = _budget_for(model, images, "smaller batch, layer groups", rows_per_image=1, perturbation="noise")
    planned = _measure(model, images, measure_noise_stability, noise_norms=[0.5, 2.0], max_memory=budget)
    assert len(planned.metadata["memory"]["groups"]) > 1
    for got, want in zip(planned.records, plain.records):
        assert (got["layer"], got["noise_norm"]) == (want["layer"], want["noise_norm"])
        assert got["G_f"] == pytest.approx(want["G_f"], rel=FLOAT32, abs=0)


def test_a_budget_too_small_is_refused_in_one_line_before_any_work(digits):
    images, model = digits[:40], _net()
    names = list(Net.probe_layers)
    with torch.no_grad(), model_mode(model, "eval"):
        fp = footprint(model, images, names, None)
    settings = dict(rows_per_image=1, averages=("median", "mean"), perturbation="bilinear")
    # the least any plan needs for 15 images: one layer at a time, batches of one image
    budget = max(estimate_peak(fp, [name], count=15, batch_size=1, **settings).total for name in names)
    batches = []
    model.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    with pytest.raises(ValueError) as info:
        measure_stability(model, images, cutoffs=[3], max_memory=budget, generator=generator, progress=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"max_memory={budget / 1e6:.3g} MB is too small")
    assert re.search(r"needs about [\d.]+ [kMG]B as asked \(40 images, 5 layers, batches of 128\)", message)
    # only the sizing pass of two images (run twice: a later in-place ReLU modifies the hooked
    # output of ``pool``, so the capture copies it and runs the batch again): no measuring pass ...
    assert batches == [2, 2]
    assert torch.equal(generator.get_state(), state)  # ... and no perturbation drawn
    largest = int(re.search(r"at most (\d+) images fit", message).group(1))
    assert 15 <= largest < 40
    plan = plan_memory(fp, names, count=largest, batch_size=128, budget=budget, **settings)
    assert plan.estimate <= budget
    with pytest.raises(ValueError, match=f"at most {largest} images fit"):
        plan_memory(fp, names, count=largest + 1, batch_size=128, budget=budget, **settings)


def test_not_even_two_images_and_the_messages_of_the_option():
    with pytest.raises(ValueError, match=r"not even 2 images fit \(give fewer images or layers"):
        measure_stability(_net(), torch.rand(4, 1, 28, 28), cutoffs=[3], max_memory=1000, progress=False)
    assert check_max_memory(None) is None
    assert check_max_memory("4GB") == check_max_memory(4e9) == check_max_memory("4 gb") == 4 * 10**9
    assert check_max_memory("512MiB") == 512 * 2**20 and check_max_memory("2.5e3") == 2500
    expected = "max_memory must be None, a positive number of bytes or a string such as '4GB' or '512MiB', got "
    for bad in ("4XB", "GB", "-1GB", "0.5", 0, -3, float("nan"), float("inf")):
        with pytest.raises(ValueError) as info:
            check_max_memory(bad)
        assert str(info.value) == expected + repr(bad)
    for bad in (True, [4], b"4GB"):
        with pytest.raises(TypeError, match=re.escape(expected)):
            check_max_memory(bad)
