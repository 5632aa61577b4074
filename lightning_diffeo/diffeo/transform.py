"""The ``Diffeo`` transform: random maximum-entropy diffeomorphisms drawn per image, replayable."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._checks import check_cutoff, check_images, check_interpolation, check_log_cutoff, check_temperature
from ._samples import as_float_image, is_mask, map_leaves, sample_images
from .beta import sample_beta
from .deform import deform, deform_with_coefficients, image_count
from .fields import sample_coefficients
from .scales import temperature_from_displacement, temperature_range

__all__ = ["Diffeo", "DiffeoParams", "deform", "deform_with_coefficients"]


@dataclass(frozen=True)
class DiffeoParams:
    """Everything a ``Diffeo`` call drew, to replay it on the same or other images.

    Attributes:
        cutoff: ``[B]`` cutoff of each field.
        temperature: ``[B]`` temperature of each field.
        coefficients: ``[B, 2, M, M]`` sine-series coefficients (unit-square coordinates).
        image_size: n the temperatures were drawn for (they depend on n when drawn from
            ``delta`` or from the allowed range).
    """

    cutoff: torch.Tensor
    temperature: torch.Tensor
    coefficients: torch.Tensor
    image_size: int

    @property
    def batch_size(self) -> int:
        return int(self.coefficients.shape[0])


def _check_beta(shape: tuple[float, float], name: str) -> tuple[float, float]:
    if len(shape) != 2 or not all(float(v) > 0 for v in shape):
        raise ValueError(f"{name} must be two positive Beta shapes (alpha, beta), got {shape!r}")
    return float(shape[0]), float(shape[1])


def _check_cutoff_option(cutoff: float | tuple[int, int]) -> float | tuple[int, int]:
    if isinstance(cutoff, (tuple, list)):
        if len(cutoff) != 2 or any(int(c) != c for c in cutoff) or not 1 <= cutoff[0] <= cutoff[1]:
            raise ValueError(f"a cutoff range must be two integers 1 <= c_min <= c_max, got {cutoff!r}")
        return int(cutoff[0]), int(cutoff[1])
    check_cutoff("cutoff", cutoff)
    return float(cutoff)


def _check_temperature_option(temperature: float | tuple[float, float] | None) -> float | tuple[float, float] | None:
    if isinstance(temperature, (tuple, list)):
        if len(temperature) != 2 or not 0 <= temperature[0] <= temperature[1]:
            raise ValueError(f"a temperature range must be two numbers 0 <= lo <= hi, got {temperature!r}")
        check_temperature("temperature", torch.tensor([float(t) for t in temperature]))
        return float(temperature[0]), float(temperature[1])
    if temperature is not None:
        check_temperature("temperature", temperature)
        return float(temperature)
    return None


class Diffeo(nn.Module):
    """Random maximum-entropy diffeomorphisms as a transform, one field per image.

    Works on one ``[C, n, n]`` image (a torchvision v2 pipeline after ``ToImage`` and
    ``ToDtype(torch.float32, scale=True)``) and on batches ``[..., C, n, n]`` on any device.
    Three ways to choose (T, c):

    - fixed: ``Diffeo(cutoff=3, temperature=1e-3)`` or ``Diffeo(cutoff=3, delta=1.0)``;
    - random cutoff: ``cutoff=(c_min, c_max)`` draws an integer c per image from a discrete
      Beta(``cutoff_beta``) on [c_min, c_max], as the authors' augmentation does;
    - random temperature: ``temperature=(lo, hi)`` draws T per image from Beta(``temperature_beta``)
      on [lo, hi]; with neither ``temperature`` nor ``delta``, T is drawn from the Beta on the
      allowed range [T_min(n, c), T_max(c)] of each image's cutoff (the authors' default).

    Every call stores what it drew in ``last_params``; ``forward(images, params=...)`` replays it.
    Temperatures above T_max are allowed, with one warning that the map may fold.

    Args:
        cutoff: c >= 1, or an integer range (c_min, c_max).
        temperature: T >= 0, a range (lo, hi), or None.
        delta: typical displacement in pixels, instead of a temperature (needs c > 1).
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        cutoff_beta: Beta shapes (alpha, beta) for random cutoffs; (1, 1) is uniform.
        temperature_beta: Beta shapes (alpha, beta) for random temperatures. The authors
            parametrise Beta by s = alpha + beta and r = alpha / beta.
        generator: source of randomness (default: the global RNG, which PyTorch seeds differently
            in every DataLoader worker). A generator passed here is copied into each worker
            with the same state, so workers would repeat each other's fields: with
            ``num_workers > 0`` leave it None (the datamodules of this package seed per worker).

    >>> transform = Diffeo(cutoff=(2, 8), generator=torch.Generator().manual_seed(0))
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = transform(x)
    >>> bool((transform(x, params=transform.last_params) == y).all())
    True
    """

    def __init__(
        self,
        cutoff: float | tuple[int, int] = 3,
        temperature: float | tuple[float, float] | None = None,
        delta: float | None = None,
        interpolation: str = "bilinear",
        cutoff_beta: tuple[float, float] = (1.0, 1.0),
        temperature_beta: tuple[float, float] = (1.0, 1.0),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.cutoff = _check_cutoff_option(cutoff)
        if temperature is not None and delta is not None:
            raise ValueError("give at most one of temperature and delta")
        self.temperature = _check_temperature_option(temperature)
        if delta is not None:
            check_temperature("delta", delta)
        if temperature is None:  # delta or the allowed range: both need ln c
            check_log_cutoff("cutoff", min(self.cutoff) if isinstance(self.cutoff, tuple) else self.cutoff)
        self.delta = delta
        self.interpolation = check_interpolation("interpolation", interpolation)
        self.cutoff_beta = _check_beta(cutoff_beta, "cutoff_beta")
        self.temperature_beta = _check_beta(temperature_beta, "temperature_beta")
        self.generator = generator
        self.last_params: DiffeoParams | None = None
        self._warned_folding = False

    def _draw_cutoffs(self, batch_size: int) -> torch.Tensor:
        if not isinstance(self.cutoff, tuple):
            return torch.full((batch_size,), self.cutoff, dtype=torch.float64)
        low, high = self.cutoff
        unit = sample_beta(*self.cutoff_beta, batch_size, self.generator)
        return (low + (unit * (high + 1 - low)).floor()).clamp(max=high)

    def _draw_temperatures(self, cutoffs: torch.Tensor, n: int) -> torch.Tensor:
        if isinstance(self.temperature, float):
            return torch.full_like(cutoffs, self.temperature)
        if self.delta is not None:
            return temperature_from_displacement(self.delta, cutoffs, n)
        unit = sample_beta(*self.temperature_beta, len(cutoffs), self.generator)
        if isinstance(self.temperature, tuple):
            low, high = self.temperature
            return low + unit * (high - low)
        low, high = temperature_range(n, cutoffs)
        return low + unit * (high - low)

    def make_params(self, batch_size: int, image_size: int) -> DiffeoParams:
        """Draw cutoffs, temperatures and coefficients for ``batch_size`` images of side n."""
        cutoffs = self._draw_cutoffs(batch_size)
        temperatures = self._draw_temperatures(cutoffs, image_size)
        coefficients = sample_coefficients(
            batch_size, temperatures, cutoffs, generator=self.generator, dtype=torch.float32
        )
        return DiffeoParams(cutoffs, temperatures, coefficients, int(image_size))

    def forward(self, *inputs: Any, params: DiffeoParams | None = None) -> Any:
        """Deform images, one field per leading index, or replay ``params``; torchvision v2's input convention.

        ``inputs`` is one ``[..., C, n, n]`` tensor, or a sample as torchvision v2 transforms
        take it: a PIL image (deformed and returned as a PIL image), an ``(image, label)``
        tuple, a dict, or several arguments. The images in it (``tv_tensors.Image``/``Video``,
        PIL images, else the first plain tensor) are deformed with the same fields;
        ``tv_tensors.Mask`` entries follow the same fields with nearest interpolation; labels
        and every other entry pass through unchanged. Bounding boxes and key points are
        refused: a diffeomorphism does not map a box to a box.
        """
        if len(inputs) == 1 and isinstance(inputs[0], torch.Tensor) and not is_mask(inputs[0]):
            return self._deform_images(inputs[0], params)
        sample = inputs if len(inputs) > 1 else inputs[0]
        images = sample_images(sample)
        first = as_float_image(images[0])
        if params is None:  # the images themselves are checked when deformed
            params = self.make_params(image_count(first), int(first.shape[-1]))
        targets = {id(image) for image in images}
        return map_leaves(sample, lambda leaf: self._deform_leaf(leaf, params) if id(leaf) in targets or is_mask(leaf)
                          else leaf)

    def _deform_leaf(self, leaf: Any, params: DiffeoParams) -> Any:
        if is_mask(leaf):
            n = leaf.shape[-1]
            masks = leaf.reshape(params.batch_size, -1, leaf.shape[-2], n).to(torch.float32)
            out = deform_with_coefficients(masks, params.coefficients, "nearest").round()
            return out.reshape(leaf.shape).to(leaf.dtype).as_subclass(type(leaf))
        if isinstance(leaf, torch.Tensor):
            return self._deform_images(leaf, params)
        from torchvision.transforms.v2 import functional as F  # a PIL image

        out = self._deform_images(as_float_image(leaf), params)
        return F.to_pil_image(out.clamp(0, 1))

    def _deform_images(self, images: torch.Tensor, params: DiffeoParams | None) -> torch.Tensor:
        n = check_images("images", images)
        batch_size = image_count(images)
        if params is None:
            params = self.make_params(batch_size, n)
        elif params.batch_size != batch_size:
            raise ValueError(f"params hold {params.batch_size} fields but the images need {batch_size}")
        elif params.image_size != n:
            raise ValueError(
                f"params were drawn for {params.image_size}x{params.image_size} images, got {n}x{n}: the same "
                "coefficients would give other pixel displacements"
            )
        self.last_params = params
        self._warn_if_folding(params)
        out = deform_with_coefficients(images, params.coefficients, self.interpolation)
        if type(images) is not torch.Tensor:  # keep torchvision tv_tensors.Image and friends
            out = out.as_subclass(type(images))
        return out

    def _warn_if_folding(self, params: DiffeoParams) -> None:
        has_log = params.cutoff > 1  # T_max is undefined for c = 1
        if self._warned_folding or not bool(has_log.any()):
            return
        cutoffs, temperatures = params.cutoff[has_log], params.temperature[has_log]
        t_max = temperature_range(params.image_size, cutoffs)[1]
        above = temperatures > t_max
        if bool(above.any()):
            i = int(above.nonzero()[0])
            warnings.warn(
                f"temperature {float(temperatures[i]):.3g} exceeds T_max = {float(t_max[i]):.3g} for cutoff "
                f"{float(cutoffs[i]):g}: the map may not be a diffeomorphism (warned once per transform)",
                stacklevel=3,
            )
            self._warned_folding = True

    def extra_repr(self) -> str:
        if self.temperature is not None:
            size = f"temperature={self.temperature}"
        elif self.delta is not None:
            size = f"delta={self.delta}"
        else:
            size = f"temperature=allowed range, temperature_beta={self.temperature_beta}"
        return f"cutoff={self.cutoff}, {size}, interpolation={self.interpolation!r}"
