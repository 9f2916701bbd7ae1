"""The bundled network: a small fully-convolutional defect segmenter with an image score.

Three stride-2 stages reach 1/8 resolution, where dilated convolutions see a whole bolt-hole
pitch (a missing hole is only visible from its neighbours); the context is fused back at 1/4
resolution, which is where the defect map is predicted. About 0.3 GFLOP at 256x256.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FlangeNet(nn.Module):
    """Returns defect logits at 1/4 of the input resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, 8), conv_bn_relu(8, 24, stride=2), conv_bn_relu(24, 32, stride=2))
        self.down = conv_bn_relu(32, 48, stride=2)
        self.context = nn.Sequential(
            conv_bn_relu(48, 48, dilation=2), conv_bn_relu(48, 48, dilation=4), conv_bn_relu(48, 48, dilation=8)
        )
        self.lateral = nn.Conv2d(48, 32, 1)
        self.fuse = conv_bn_relu(32, 32)
        self.head = nn.Conv2d(32, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quarter = self.stem(x)
        context = self.context(self.down(quarter))
        up = F.interpolate(self.lateral(context), scale_factor=2.0, mode="bilinear", align_corners=False)
        logits: torch.Tensor = self.head(self.fuse(quarter + up))
        return logits


def image_logit(logits: torch.Tensor) -> torch.Tensor:
    """The image is as defective as its worst cell."""
    worst: torch.Tensor = logits.amax(dim=(1, 2, 3))
    return worst


class ExportedFlangeNet(nn.Module):
    """What ships in ONNX: a full-resolution probability map and the image score, both 0..1."""

    def __init__(self, net: FlangeNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(x)
        prob = torch.sigmoid(F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return prob, torch.sigmoid(image_logit(logits))
