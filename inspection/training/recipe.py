"""The training recipe file: every number that decides what the bundled model becomes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field

from inspection.model_card import InputSpec, Thresholds
from inspection.strict import StrictModel


class SeedRange(StrictModel):
    start: int = Field(ge=0, description="first renderer seed")
    count: int = Field(ge=1, description="number of consecutive seeds")

    def seeds(self) -> range:
        return range(self.start, self.start + self.count)


class Recipe(StrictModel):
    name: str = Field(description="model name written into the card")
    version: str = Field(description="model version written into the card")
    description: str = Field(description="what the model inspects")
    seed: int = Field(description="torch and sampling seed")
    input: InputSpec
    train: SeedRange = Field(description="renderer seeds used for training")
    validation: SeedRange = Field(description="renderer seeds used to choose thresholds")
    release_test: SeedRange = Field(description="seeds for the metrics printed in the card")
    golden: SeedRange = Field(description="seeds rendered as golden reference images")
    iterations: int = Field(ge=1, description="optimizer steps")
    batch_size: int = Field(ge=1, description="images per step")
    learning_rate: float = Field(gt=0, description="peak AdamW learning rate (one-cycle schedule)")
    weight_decay: float = Field(ge=0, description="AdamW weight decay")
    pixel_pos_share: float = Field(gt=0, lt=1, description="share of the pixel loss given to defect cells")
    image_loss_weight: float = Field(ge=0, description="weight of the image-level loss")
    target_escape_rate: float = Field(gt=0, lt=1, description="defect share allowed below pass_below on validation")
    target_false_reject_rate: float = Field(gt=0, lt=1, description="good share allowed above reject_above")
    review_budget: float = Field(ge=0, lt=1, description="share of validation parts the uncertain band may hold")
    region_threshold: float = Field(gt=0, lt=1, description="map value marking defect pixels")
    torch_threads: int = Field(default=2, ge=1, description="CPU threads for training")

    def thresholds(self, pass_below: float, reject_above: float) -> Thresholds:
        return Thresholds(
            version=f"{self.name}-{self.version}-default",
            pass_below=pass_below,
            reject_above=reject_above,
            region_threshold=self.region_threshold,
        )


def load_recipe(path: Path) -> Recipe:
    with path.open("rb") as fh:
        return Recipe.model_validate(tomllib.load(fh))
