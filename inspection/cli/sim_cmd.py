"""`inspection sim render`: labelled folders of synthetic parts."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import cv2

from camera.sim import DEFECT_KINDS, SceneParams, render_part
from inspection.progress import progress


@click.group()
def sim() -> None:
    """The synthetic part renderer."""


@sim.command("render")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--count", default=100, show_default=True, help="Parts to render.")
@click.option("--seed", "first_seed", default=1_000_000_000, show_default=True, help="Seed of the first part.")
@click.option("--defect-share", default=0.5, show_default=True, help="Share of defective parts.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(sorted(DEFECT_KINDS)), help="Defect kinds (repeat).")
def render(out: Path, count: int, first_seed: int, defect_share: float, kinds: tuple[str, ...]) -> None:
    """Render COUNT parts into OUT/good and OUT/defect (with masks/), listed in OUT/labels.csv.

    Rendering into an existing folder adds to it, so a set can be built kind by kind.
    """
    params = SceneParams(defect_probability=defect_share)
    for sub in ("good", "defect/masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    labels = out / "labels.csv"
    new = not labels.exists()
    with labels.open("a", newline="") as fh, progress("render", count) as advance:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["path", "label", "kinds", "seed"])
        for seed in range(first_seed, first_seed + count):
            part = render_part(seed, kinds=kinds or None, params=params)
            label = "defect" if part.is_defective else "good"
            name = f"{label}/part-{seed}.png"
            cv2.imwrite(str(out / name), part.image)
            if part.is_defective:
                cv2.imwrite(str(out / "defect" / "masks" / f"part-{seed}.png"), part.mask)
            writer.writerow([name, label, "+".join(part.defects), seed])
            advance()
    click.echo(f"rendered {count} parts into {out}")
