"""Tiny real ONNX graphs for each output convention, with cards, for runtime tests.

They are not defect models; they exercise the runtime's contract checks and conventions with
outputs whose values a test can compute by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from inspection.model_card import (
    AnomalyOutput,
    ClassifierOutput,
    GoldenSample,
    InputSpec,
    ModelCard,
    SegmentationOutput,
    Thresholds,
    card_path_for,
    save_card,
)
from inspection.runtime import file_sha256

SIDE = 8
SPEC = InputSpec(name="image", shape=(1, 1, SIDE, SIDE), layout="NCHW", colour="gray", mean=(0.5,), std=(0.25,))


def _value(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(
    nodes: list[onnx.NodeProto],
    outputs: list[onnx.ValueInfoProto],
    path: Path,
    initializers: list[onnx.TensorProto] | None = None,
) -> Path:
    graph = helper.make_graph(
        nodes, "tiny", [_value("image", [1, 1, SIDE, SIDE])], outputs, initializer=initializers or []
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def segmentation_model(path: Path, map_channels: int = 1, poison: float | None = None) -> Path:
    """defect_map = sigmoid(image) (optionally times `poison`), score = max of the map."""
    nodes = [helper.make_node("Sigmoid", ["image"], ["prob"])]
    inits = []
    if map_channels != 1:
        nodes.append(helper.make_node("Concat", ["prob"] * map_channels, ["defect_map"], axis=1))
    elif poison is not None:
        inits.append(helper.make_tensor("poison", TensorProto.FLOAT, [], [poison]))
        nodes.append(helper.make_node("Mul", ["prob", "poison"], ["defect_map"]))
    else:
        nodes.append(helper.make_node("Identity", ["prob"], ["defect_map"]))
    nodes.append(helper.make_node("ReduceMax", ["defect_map"], ["score"], axes=[1, 2, 3], keepdims=0))
    outs = [_value("defect_map", [1, map_channels, SIDE, SIDE]), _value("score", [1])]
    return _save(nodes, outs, path, inits)


def anomaly_model(path: Path) -> Path:
    """anomalib's names: anomaly_map = 10 * image, pred_score = max(anomaly_map)."""
    inits = [helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0])]
    nodes = [
        helper.make_node("Mul", ["image", "ten"], ["anomaly_map"]),
        helper.make_node("ReduceMax", ["anomaly_map"], ["pred_score"], axes=[1, 2, 3], keepdims=0),
    ]
    return _save(nodes, [_value("anomaly_map", [1, 1, SIDE, SIDE]), _value("pred_score", [1])], path, inits)


def classifier_model(path: Path) -> Path:
    """logits = [-mean(image), mean(image)]: class 1 ('defect') grows with brightness."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Neg", ["m"], ["neg"]),
        helper.make_node("Concat", ["neg", "m"], ["logits"], axis=1),
    ]
    return _save(nodes, [_value("logits", [1, 2])], path)


def write_card(model: Path, output: Any = None, golden: tuple[GoldenSample, ...] = (), **changes: Any) -> ModelCard:
    card = ModelCard(
        name=model.stem,
        version="0.0.1",
        description="tiny test graph",
        file=model.name,
        sha256=file_sha256(model),
        input=SPEC,
        output=output or SegmentationOutput(map="defect_map", score="score"),
        thresholds=Thresholds(version="t1", pass_below=0.3, reject_above=0.7),
        golden=golden,
    )
    card = card.model_copy(update=changes)
    save_card(card, card_path_for(model))
    return card


def tensor_value(grey: float) -> float:
    """What a constant grey level becomes after SPEC's normalisation."""
    return (grey / 255.0 - 0.5) / 0.25


def sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


__all__ = [
    "SPEC",
    "AnomalyOutput",
    "ClassifierOutput",
    "anomaly_model",
    "classifier_model",
    "segmentation_model",
    "sigmoid",
    "tensor_value",
    "write_card",
]
