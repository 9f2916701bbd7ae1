"""Fits the bundled network on rendered flanges and exports it to ONNX."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from inspection.progress import progress
from inspection.training.data import Dataset
from inspection.training.net import ExportedFlangeNet, FlangeNet, image_logit
from inspection.training.recipe import Recipe

log = logging.getLogger(__name__)


def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror images: flanges have no handedness, and mirrored frames are still valid frames."""
    if torch.rand(1, generator=generator).item() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if torch.rand(1, generator=generator).item() < 0.5:
        x, y = x.flip(-2), y.flip(-2)
    return x, y


def loss_fn(logits: torch.Tensor, target: torch.Tensor, label: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """Class-balanced pixel BCE plus image BCE on the worst cell.

    A defect covers ~0.3% of the cells: in a plain mean the clean cells drown it out, so the
    defect cells and the clean cells each get their own mean, weighted by the recipe.
    """
    per_cell = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    positive = target > 0.5
    clean = per_cell[~positive].mean()
    pixel = (
        clean
        if not positive.any()
        else (recipe.pixel_pos_share * per_cell[positive].mean() + (1.0 - recipe.pixel_pos_share) * clean)
    )
    image = F.binary_cross_entropy_with_logits(image_logit(logits), label)
    return pixel + recipe.image_loss_weight * image


def fit(data: Dataset, recipe: Recipe) -> tuple[FlangeNet, dict[str, object]]:
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.torch_threads)
    generator = torch.Generator().manual_seed(recipe.seed)
    net = FlangeNet()
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.learning_rate, total_steps=recipe.iterations
    )
    inputs, targets = torch.from_numpy(data.inputs), torch.from_numpy(data.targets)
    labels = torch.from_numpy(data.labels)
    n = len(labels)
    net.train()
    started = time.perf_counter()
    running = 0.0
    with progress("train", recipe.iterations) as advance:
        for step in range(recipe.iterations):
            idx = torch.randint(0, n, (recipe.batch_size,), generator=generator)
            x, y = augment(inputs[idx], targets[idx], generator)
            loss = loss_fn(net(x), y, labels[idx], recipe)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
            advance()
            if step % 250 == 0 or step == recipe.iterations - 1:
                log.info(
                    "step %d/%d loss %.4f (%.0f s)", step, recipe.iterations, running, time.perf_counter() - started
                )
    net.eval()
    return net, {"final_loss": round(running, 5), "fit_seconds": round(time.perf_counter() - started, 1)}


def export_onnx(net: FlangeNet, recipe: Recipe, path: Path) -> None:
    """Exports with a static batch of 1: the station decides one part at a time."""
    wrapped = ExportedFlangeNet(net).eval()
    example = torch.zeros(recipe.input.shape, dtype=torch.float32)
    torch.onnx.export(
        wrapped,
        (example,),
        str(path),
        input_names=[recipe.input.name],
        output_names=["defect_map", "score"],
        opset_version=17,
        dynamo=False,
    )


def torch_scores(net: FlangeNet, inputs: np.ndarray) -> np.ndarray:
    """Scores straight from torch, to compare with the exported model's."""
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), 32):
            logits = net(torch.from_numpy(inputs[i : i + 32]))
            out.append(torch.sigmoid(image_logit(logits)).numpy())
    return np.concatenate(out)
