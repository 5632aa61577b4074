"""Capture flattened activations of named modules with forward hooks.

Forward hooks work on any ``nn.Module`` (control flow included, unlike torch.fx tracing);
they are always removed when the capture ends, also when a forward pass raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from lightning_diffeo.stability.settings import OUTPUT, check_layers

__all__ = ["OUTPUT", "ActivationCapture", "relative_depths", "resolve_layers"]

_MAX_LISTED = 40


def _first_tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, torch.Tensor):
                return item
    raise TypeError(f"{where} returned {type(value).__name__}, expected a tensor or a tuple/list holding one")


def _valid_names(model: nn.Module) -> list[str]:
    return [OUTPUT] + [name for name, _ in model.named_modules() if name]


def resolve_layers(model: nn.Module, layers: str | Sequence[str] | None) -> list[str]:
    """Names of the layers to probe, validated against ``model.named_modules()``.

    Args:
        model: the network.
        layers: None for ``getattr(model, "probe_layers", ("output",))``; a single name; or a
            sequence of module names as in ``named_modules()``. ``"output"`` is the model's
            return value.

    Returns:
        The names in probe order, duplicates removed.

    Raises:
        TypeError, ValueError: ``layers`` that is not a name or a non-empty list of names
            (:func:`~lightning_diffeo.stability.settings.check_layers`), or a name that is
            not a module of the model (the message lists valid names).
    """
    names = check_layers(layers)
    if names is None:
        names = check_layers(getattr(model, "probe_layers", None)) or (OUTPUT,)
    modules = dict(model.named_modules())
    unknown = [name for name in names if name != OUTPUT and (name == "" or name not in modules)]
    if unknown:
        valid = _valid_names(model)
        shown = ", ".join(repr(v) for v in valid[:_MAX_LISTED])
        more = f", ... ({len(valid) - _MAX_LISTED} more)" if len(valid) > _MAX_LISTED else ""
        raise ValueError(f"unknown layer name(s) {unknown} for {type(model).__name__}; valid names: {shown}{more}")
    return list(names)


def relative_depths(names: Sequence[str]) -> list[float]:
    """Relative depth i / (L - 1) of each probed layer in probe order; a single layer gets 1.0."""
    count = len(names)
    if count == 1:
        return [1.0]
    return [i / (count - 1) for i in range(count)]


class ActivationCapture:
    """Run a model and return the flattened activations of the named layers.

    Use as a context manager: hooks are registered on entry and removed on exit (also when
    the body raises). Each call returns ``{name: tensor [B, D_name]}`` float32 on ``device``
    (default: CPU), detached. When a module runs several times in one forward pass, its last
    output is kept.

    A later in-place operation (e.g. ``ReLU(inplace=True)``) may overwrite a hooked output, so
    by default (``copy="always"``) every hooked output is copied when the hook runs. With
    ``copy="when_modified"`` outputs are kept without a copy, and the call checks each tensor's
    version counter after the forward pass: a layer whose output was modified in place is
    copied from then on and the batch is run again, so results never depend on the choice.

    Args:
        model: the network.
        layers: validated layer names (see :func:`resolve_layers`).
        device: where captured activations are moved; None keeps them where computed.
        copy: ``"always"`` or ``"when_modified"``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with ActivationCapture(net, ["2", "output"]) as capture:
        ...     acts = capture(torch.randn(5, 1, 2, 2))
        >>> {name: tuple(t.shape) for name, t in acts.items()}
        {'2': (5, 3), 'output': (5, 2)}
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        device: torch.device | str | None = "cpu",
        copy: Literal["always", "when_modified"] = "always",
    ) -> None:
        if copy not in ("always", "when_modified"):
            raise ValueError(f"copy must be one of 'always', 'when_modified', got {copy!r}")
        self.model = model
        self.layers = resolve_layers(model, layers)
        self.device = None if device is None else torch.device(device)
        self.copy = copy
        self.modified_in_place: set[str] = set()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._store: dict[str, tuple[torch.Tensor, torch.Tensor, int | None]] = {}

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            value = _first_tensor(output, f"module {name!r} ({type(module).__name__})").detach()
            copy = self.copy == "always" or name in self.modified_in_place
            self._store[name] = (self._convert(value, copy=copy), value, _version(value))

        return hook

    def __enter__(self) -> ActivationCapture:
        modules = dict(self.model.named_modules())
        try:
            for name in self.layers:
                if name != OUTPUT:
                    self._handles.append(modules[name].register_forward_hook(self._hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this capture registered (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._store.clear()

    def _convert(self, value: torch.Tensor, copy: bool) -> torch.Tensor:
        device = value.device if self.device is None else self.device
        return value.to(device=device, dtype=torch.float32, copy=copy)

    def _flatten(self, name: str, value: torch.Tensor, batch: int, check_finite: bool) -> torch.Tensor:
        if value.dim() == 0 or value.shape[0] != batch:
            raise ValueError(
                f"layer {name!r} produced shape {tuple(value.shape)}, expected a leading batch dimension of {batch}"
            )
        flat = value.reshape(batch, -1)
        # A NaN or inf makes the sum non-finite; the full elementwise check runs only then
        # (the sum may also overflow on finite values).
        if check_finite and not torch.isfinite(flat.sum()) and not torch.isfinite(flat).all():
            raise ValueError(f"layer {name!r} produced non-finite values (NaN or inf)")
        return flat

    def _overwritten(self) -> list[str]:
        """Layers whose uncopied output was modified in place after its hook ran."""
        found = []
        for name, (stored, original, version) in self._store.items():
            if version is None or _version(original) != version:
                self.modified_in_place.add(name)
                if stored.data_ptr() == original.data_ptr():
                    found.append(name)
        return found

    def __call__(self, images: torch.Tensor, check_finite: bool = True) -> dict[str, torch.Tensor]:
        """Forward ``images`` [B, ...] and return ``{name: [B, D_name]}`` in probe order.

        ``check_finite=False`` skips the per-layer NaN/inf check (for callers that check
        reductions of the activations instead).
        """
        if not self._handles and any(name != OUTPUT for name in self.layers):
            raise RuntimeError("ActivationCapture must be entered (with ...) before it is called")
        self._store.clear()
        try:
            output = self.model(images)
            if self._overwritten():  # now copied: run the batch again
                return self(images, check_finite)
            batch = images.shape[0]
            result = {}
            for name in self.layers:
                if name == OUTPUT:
                    value = self._convert(_first_tensor(output, f"{type(self.model).__name__}.forward").detach(), copy=False)
                elif name in self._store:
                    value = self._store[name][0]
                else:
                    raise ValueError(f"layer {name!r} was not called during the forward pass")
                result[name] = self._flatten(name, value, batch, check_finite)
            return result
        finally:
            self._store.clear()


def _version(value: torch.Tensor) -> int | None:
    """The tensor's in-place version counter (None for inference tensors, which have none)."""
    try:
        return value._version
    except RuntimeError:
        return None
