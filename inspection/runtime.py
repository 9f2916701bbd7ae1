"""Loads an ONNX defect model with its card, checks one against the other, and runs it.

Replay, the inline station and the review tools all go through this one runtime, so a model
behaves the same everywhere it is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inspection.errors import ModelLoadError
from inspection.model_card import (
    AnomalyOutput,
    ClassifierOutput,
    ModelCard,
    Roi,
    card_path_for,
    load_card,
)
from inspection.outputs import ModelOutput, interpret
from inspection.preprocess import Preprocessor

_GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_ONNX_FLOAT = "tensor(float)"


@dataclass(frozen=True)
class SessionSettings:
    """How onnxruntime may use the line PC's cores."""

    intra_op_threads: int = 2
    graph_optimization: str = "all"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_session(path: Path, settings: SessionSettings) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = _GRAPH_LEVELS[settings.graph_optimization]
    # Idle intra-op threads otherwise spin and burn ~60% of a core that acquisition needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise ModelLoadError(
            f"model {path} could not be loaded by onnxruntime ({type(exc).__name__}: {exc}); "
            "the file may be truncated or not an ONNX model: re-copy or re-export it"
        ) from None


def expected_outputs(card: ModelCard) -> dict[str, int]:
    """Output name -> the rank(s) the card's convention implies (0 means 'any rank, one value')."""
    out = card.output
    if isinstance(out, ClassifierOutput):
        return {out.logits: 2}
    if isinstance(out, AnomalyOutput):
        return {out.map: 4, out.score: 0}
    named = {out.map: 4}
    if out.score is not None:
        named[out.score] = 0
    return named


def contract_problems(session: ort.InferenceSession, card: ModelCard) -> list[str]:
    """Every way the ONNX graph's inputs and outputs disagree with the card."""
    problems: list[str] = []
    inputs = session.get_inputs()
    spec = card.input
    if len(inputs) != 1:
        problems.append(f"model has {len(inputs)} inputs {[i.name for i in inputs]}, the station feeds exactly 1")
    else:
        got = inputs[0]
        if got.name != spec.name:
            problems.append(f"input name is {got.name!r}, card says {spec.name!r}")
        if got.type != _ONNX_FLOAT:
            problems.append(f"input type is {got.type}, card says float32")
        shape = list(got.shape)
        if len(shape) != 4:
            problems.append(f"input rank is {len(shape)} ({shape}), card says 4 ({list(spec.shape)})")
        else:
            for axis, (have, want) in enumerate(zip(shape, spec.shape, strict=True)):
                if isinstance(have, int) and have != want:
                    problems.append(
                        f"input axis {axis} is {have}, card says {want} (shape {shape} vs {list(spec.shape)})"
                    )
    outputs = {o.name: o for o in session.get_outputs()}
    for name, rank in expected_outputs(card).items():
        if name not in outputs:
            problems.append(f"output {name!r} named by the card is missing; the model has {sorted(outputs)}")
            continue
        o = outputs[name]
        if o.type != _ONNX_FLOAT:
            problems.append(f"output {name!r} type is {o.type}, expected float32")
        if rank == 4 and len(o.shape) not in (3, 4):
            problems.append(f"output {name!r} has shape {o.shape}; a map must be (1, 1, H, W) or (1, H, W)")
        if rank == 2 and len(o.shape) != 2:
            problems.append(f"output {name!r} has shape {o.shape}; class scores must be (1, classes)")
    if isinstance(card.output, ClassifierOutput) and card.output.logits in outputs:
        classes = outputs[card.output.logits].shape[-1]
        if isinstance(classes, int) and card.output.defect_class >= classes:
            problems.append(f"defect_class {card.output.defect_class} is out of range for {classes} classes")
    return problems


class ModelRuntime:
    """A loaded, checked and warmed-up model; `run` takes a frame and returns its output."""

    def __init__(
        self, path: Path, card: ModelCard, settings: SessionSettings = SessionSettings(), card_dir: Path | None = None
    ) -> None:
        self.path = path
        self.card = card
        self.card_dir = card_dir or path.parent  # golden images are named relative to the card
        sha = file_sha256(path)
        if sha != card.sha256:
            raise ModelLoadError(
                f"model {path} has sha256 {sha}, but its card says {card.sha256}: "
                "the file and the card do not belong together (re-export, or update the card after review)"
            )
        self.model_id = sha
        self.session = make_session(path, settings)
        problems = contract_problems(self.session, card)
        if problems:
            raise ModelLoadError(f"model {path} does not match its card: " + "; ".join(problems))
        self.preprocess = Preprocessor(card.input)
        self._output_names = list(expected_outputs(card))
        # The first run builds kernels and allocates arenas; do it now, not on the first part.
        self.infer(np.zeros(card.input.shape, dtype=np.float32))

    @classmethod
    def load(
        cls, path: Path, card_path: Path | None = None, settings: SessionSettings = SessionSettings()
    ) -> ModelRuntime:
        if not path.is_file():
            raise ModelLoadError(f"model file {path} not found; check model.path in the config")
        card_path = card_path or card_path_for(path)
        return cls(path, load_card(card_path), settings, card_path.parent)

    def use_roi(self, roi: Roi) -> None:
        """Crops differently from the card, for a camera mounted differently from training."""
        self.preprocess = Preprocessor(self.card.input.model_copy(update={"roi": roi}))

    def infer(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self._output_names, {self.card.input.name: tensor})
        return dict(zip(self._output_names, values, strict=True))

    def run(self, image: np.ndarray) -> ModelOutput:
        """Preprocesses, infers and interprets one frame."""
        return interpret(self.infer(self.preprocess(image)), self.card.output)
