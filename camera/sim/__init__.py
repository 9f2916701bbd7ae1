"""Seeded renderer of machined flanges on a conveyor, with labelled defects.

One renderer feeds the sample images, the model's training and test data, and the simulated
line camera, so that every consumer sees the same physics.
"""

from camera.sim.defects import DEFECT_KINDS, NOVEL_KINDS, TRAINING_KINDS
from camera.sim.scene import RenderedPart, SceneParams, render_part

__all__ = [
    "DEFECT_KINDS",
    "NOVEL_KINDS",
    "TRAINING_KINDS",
    "RenderedPart",
    "SceneParams",
    "render_part",
]
