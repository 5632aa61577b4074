"""The paper's training recipes (appendix E.1) as optimizer + learning-rate schedule builders.

- ``sgd``: SGD, lr 0.1, momentum 0.9, weight decay 5e-4, cosine annealing to 0 over the
  whole run, stepped every optimizer step.
- ``adam``: Adam, lr 0.1, no weight decay, no schedule (the fully connected nets).
- ``transfer``: SGD, momentum 0.9, weight decay 1e-3, lr 1e-3 for the body and 1e-2 for
  the classification head, both multiplied by 0.975 after every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from lightning_diffeo.validation import check_choice, check_number

__all__ = ["Recipe", "RecipeName", "RECIPES", "resolve_recipe", "split_head_parameters", "build_optimization"]

RecipeName = Literal["sgd", "adam", "transfer"]
"""Names of the recipes in ``RECIPES``."""


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one training recipe.

    Attributes:
        name: recipe name.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate (of the body when ``head_lr`` is set).
        momentum: SGD momentum (unused by Adam).
        weight_decay: L2 penalty passed to the optimizer.
        schedule: ``"cosine"`` (per step, over the run), ``"exponential"`` (per epoch) or ``"none"``.
        head_lr: learning rate of the classification head; ``None`` for one parameter group.
        lr_decay: per-epoch factor of the ``"exponential"`` schedule.
    """

    name: str
    optimizer: Literal["sgd", "adam"]
    lr: float
    momentum: float
    weight_decay: float
    schedule: Literal["cosine", "exponential", "none"]
    head_lr: float | None = None
    lr_decay: float | None = None


RECIPES: dict[str, Recipe] = {
    "sgd": Recipe("sgd", "sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="cosine"),
    "adam": Recipe("adam", "adam", lr=0.1, momentum=0.0, weight_decay=0.0, schedule="none"),
    "transfer": Recipe(
        "transfer", "sgd", lr=1e-3, momentum=0.9, weight_decay=1e-3, schedule="exponential",
        head_lr=1e-2, lr_decay=0.975,
    ),
}


def resolve_recipe(
    name: RecipeName,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    head_lr: float | None = None,
    lr_decay: float | None = None,
) -> Recipe:
    """The named recipe with the given values overridden (``None`` keeps the default).

    Args:
        name: ``"sgd"``, ``"adam"`` or ``"transfer"``.
        lr: learning rate (the body's, for ``transfer``).
        momentum: SGD momentum; not accepted for ``adam``.
        weight_decay: L2 penalty.
        head_lr: head learning rate; for any recipe, gives the head its own parameter group.
        lr_decay: per-epoch lr factor; only for ``transfer``.

    Raises:
        ValueError: unknown recipe, negative values, or an override the recipe does not use.

    Example:
        >>> resolve_recipe("transfer", head_lr=0.05).head_lr
        0.05
    """
    check_choice("recipe", name, RECIPES)
    for arg, value in (("lr", lr), ("head_lr", head_lr), ("lr_decay", lr_decay)):
        if value is not None:
            check_number(arg, value, exclusive_minimum=0)
    for arg, value in (("momentum", momentum), ("weight_decay", weight_decay)):
        if value is not None:
            check_number(arg, value, minimum=0)
    recipe = RECIPES[name]
    if momentum is not None and recipe.optimizer == "adam":
        raise ValueError(f"recipe {name!r} uses Adam, which takes no momentum (got momentum={momentum})")
    if lr_decay is not None and recipe.schedule != "exponential":
        raise ValueError(f"lr_decay only applies to the 'transfer' recipe, got recipe={name!r}")
    overrides = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, head_lr=head_lr, lr_decay=lr_decay)
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def split_head_parameters(
    model: nn.Module, head_name: str
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters of ``model`` split into (body, head).

    Args:
        model: the network.
        head_name: module name of the head inside ``model`` (e.g. ``"fc"``).

    Raises:
        ValueError: ``head_name`` is not a submodule of ``model`` or holds no trainable parameter.
    """
    try:
        head = model.get_submodule(head_name)
    except AttributeError as err:
        raise ValueError(f"model has no submodule {head_name!r} to use as classification head") from err
    head_params = [p for p in head.parameters() if p.requires_grad]
    if not head_params:
        raise ValueError(f"head module {head_name!r} has no trainable parameters")
    head_ids = {id(p) for p in head_params}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return body, head_params


def _find_head_name(model: nn.Module) -> str:
    name = getattr(model, "head_name", None)
    if isinstance(name, str):
        return name
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("cannot find the classification head: the model has no `head_name` and no nn.Linear")
    return linears[-1]


def build_optimization(model: nn.Module, recipe: Recipe, total_steps: int | float) -> dict:
    """Optimizer and scheduler of ``recipe`` for ``model``, in ``configure_optimizers`` format.

    The head (``model.head_name``, else the last ``nn.Linear``) gets its own parameter group
    when ``recipe.head_lr`` is set; the body group comes first.

    Args:
        model: the network to optimise.
        recipe: from :func:`resolve_recipe`.
        total_steps: optimizer steps of the whole run (``trainer.estimated_stepping_batches``);
            the cosine schedule reaches 0 after exactly this many steps.

    Returns:
        ``{"optimizer": ...}`` plus ``"lr_scheduler": {"scheduler", "interval", "frequency"}``
        when the recipe has a schedule.

    Raises:
        ValueError: ``total_steps`` is not a positive finite number for the cosine schedule.
    """
    if recipe.head_lr is not None:
        body, head = split_head_parameters(model, _find_head_name(model))
        groups: list[dict] = [{"params": body, "lr": recipe.lr}, {"params": head, "lr": recipe.head_lr}]
        groups = [g for g in groups if g["params"]]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": recipe.lr}]
    if recipe.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    else:
        optimizer = torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.schedule == "none":
        return {"optimizer": optimizer}
    if recipe.schedule == "cosine":
        if not (isinstance(total_steps, (int, float)) and math.isfinite(total_steps) and total_steps >= 1):
            raise ValueError(
                f"the cosine schedule needs a finite number of steps >= 1, got {total_steps!r} "
                "(set max_epochs or max_steps on the Trainer)"
            )
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=int(total_steps)
        )
        interval = "step"
    else:
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=recipe.lr_decay)
        interval = "epoch"
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval, "frequency": 1}}
