"""Defects drawn into a flange's layers, each returning its pixel mask.

Contrast is given in grey levels by the caller (a multiple of the sensor noise sigma), so that
difficulty is set in one place. Widths go down to 2-3 px, as on real turned parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from camera.sim.part import Layers, edge

DefectFn = Callable[[Layers, np.random.Generator, float], np.ndarray]


class Patch:
    """A window of the image around a defect, so that drawing costs its size, not the frame's."""

    def __init__(self, layers: Layers, cx: float, cy: float, radius: float) -> None:
        height, width = layers.surface.shape
        self.y0, self.y1 = max(0, int(cy - radius)), min(height, int(cy + radius) + 1)
        self.x0, self.x1 = max(0, int(cx - radius)), min(width, int(cx + radius) + 1)
        ys = np.arange(self.y0, self.y1, dtype=np.float32)[:, None]
        xs = np.arange(self.x0, self.x1, dtype=np.float32)[None, :]
        self.ys, self.xs = np.broadcast_arrays(ys, xs)
        self.full_shape = (height, width)

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def full_mask(self, local: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.full_shape, dtype=bool)
        mask[self.window] = local
        return mask


def surface_point(layers: Layers, rng: np.random.Generator, margin: float) -> tuple[float, float]:
    """A random point on bare metal, at least `margin` px from every edge and hole."""
    g = layers.geometry
    holes = [c for k, c in enumerate(g.hole_centres()) if k not in layers.omitted_holes]
    for _ in range(200):
        r = rng.uniform(g.r_bore + margin, g.r_outer - margin)
        a = rng.uniform(0.0, 2 * math.pi)
        x, y = g.cx + r * math.cos(a), g.cy + r * math.sin(a)
        if all(math.hypot(x - hx, y - hy) > g.r_hole + margin for hx, hy in holes):
            return x, y
    raise RuntimeError("no free surface point found; the flange geometry leaves no room")


def polyline_distance(points: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel to a polyline, and the fraction along it of the nearest point."""
    best = np.full(ys.shape, np.inf, dtype=np.float32)
    along = np.zeros(ys.shape, dtype=np.float32)
    seg_len = np.hypot(*(points[1:] - points[:-1]).T)
    cumulative = np.concatenate([[0.0], np.cumsum(seg_len)])
    total = max(float(cumulative[-1]), 1e-6)
    for i in range(len(points) - 1):
        (x0, y0), (x1, y1) = points[i], points[i + 1]
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * vx + (ys - y0) * vy) / max(vx * vx + vy * vy, 1e-6), 0.0, 1.0)
        d = np.hypot(xs - (x0 + t * vx), ys - (y0 + t * vy))
        closer = d < best
        best = np.where(closer, d, best)
        along = np.where(closer, (cumulative[i] + t * seg_len[i]) / total, along)
    return best, along


def draw_stroke(layers: Layers, points: np.ndarray, width: np.ndarray | float, delta: float) -> np.ndarray:
    """Adds `delta` grey levels along an anti-aliased polyline on the metal; returns its mask."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    radius = float(np.max(hi - lo)) / 2 + 6
    patch = Patch(layers, float(centre[0]), float(centre[1]), radius)
    dist, along = polyline_distance(points, patch.ys, patch.xs)
    w = np.interp(along, [0.0, 1.0], width) if isinstance(width, np.ndarray) else width
    profile = edge(w / 2 - dist)
    metal = layers.coverage[patch.window]
    layers.surface[patch.window] += delta * profile
    return patch.full_mask((profile > 0.3) & (metal > 0.5))


def scratch(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    x, y = surface_point(layers, rng, margin=10.0)
    length = rng.uniform(30.0, 110.0)
    heading = rng.uniform(0.0, 2 * math.pi)
    bend = rng.uniform(-0.012, 0.012)
    steps = 12
    pts = []
    for _ in range(steps + 1):
        pts.append((x, y))
        x += math.cos(heading) * length / steps
        y += math.sin(heading) * length / steps
        heading += bend * length / steps
    sign = 1.0 if rng.random() < 0.6 else -1.0  # fresh scratches on steel mostly glint
    return draw_stroke(layers, np.array(pts, dtype=np.float32), float(rng.uniform(2.0, 3.2)), sign * contrast)


def crack(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """A jagged dark line that starts at the rim or the bore and tapers as it runs in."""
    g = layers.geometry
    a = rng.uniform(0.0, 2 * math.pi)
    from_rim = rng.random() < 0.5
    r = g.r_outer - 1.0 if from_rim else g.r_bore + 1.0
    length = rng.uniform(25.0, 70.0)
    steps = int(length / 4)
    x, y = g.cx + r * math.cos(a), g.cy + r * math.sin(a)
    heading = a + math.pi if from_rim else a  # run into the metal
    pts = [(x, y)]
    for _ in range(steps):
        heading += rng.normal(0.0, 0.35)
        x += 4.0 * math.cos(heading)
        y += 4.0 * math.sin(heading)
        pts.append((x, y))
    widths = np.array([rng.uniform(2.2, 3.0), 1.6], dtype=np.float32)
    return draw_stroke(layers, np.array(pts, dtype=np.float32), widths, -contrast * 1.3)


def pit(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """A small dent: dark floor, a bright lip on the side facing the light."""
    x, y = surface_point(layers, rng, margin=12.0)
    radius = rng.uniform(2.5, 6.0)
    patch = Patch(layers, x, y, radius * 3)
    d = np.hypot(patch.xs - x, patch.ys - y) / radius
    light = rng.uniform(0.0, 2 * math.pi)
    lx, ly = math.cos(light), math.sin(light)
    facing = ((patch.xs - x) * lx + (patch.ys - y) * ly) / (radius * np.maximum(d, 1e-3))
    floor = edge((1.0 - d) * radius)
    lip = np.exp(-((d - 1.15) ** 2) / 0.04) * np.clip(facing, 0.0, 1.0)
    layers.surface[patch.window] += contrast * (0.7 * lip - floor)
    return patch.full_mask(d < 1.3)


def stain(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """Oil or coolant residue: an irregular soft blob, darker than the metal."""
    x, y = surface_point(layers, rng, margin=16.0)
    size = rng.uniform(9.0, 24.0)
    patch = Patch(layers, x, y, size * 2.2)
    blob = np.zeros(patch.ys.shape, dtype=np.float32)
    for _ in range(int(rng.integers(3, 7))):
        bx, by = x + rng.normal(0.0, size / 2.5), y + rng.normal(0.0, size / 2.5)
        s = size * rng.uniform(0.3, 0.6)
        blob += np.exp(-((patch.xs - bx) ** 2 + (patch.ys - by) ** 2) / (2 * s * s))
    blob = np.clip(blob, 0.0, 1.0)
    metal = layers.coverage[patch.window]
    layers.surface[patch.window] -= contrast * blob
    return patch.full_mask((blob > 0.35) & (metal > 0.5))


def edge_chip(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """A piece broken off the rim: metal is removed, the belt shows through."""
    del contrast  # a missing chunk of metal is as visible as the rim itself
    g = layers.geometry
    a = rng.uniform(0.0, 2 * math.pi)
    ex, ey = g.cx + g.r_outer * math.cos(a), g.cy + g.r_outer * math.sin(a)
    depth, half_width = rng.uniform(4.0, 11.0), rng.uniform(6.0, 15.0)
    patch = Patch(layers, ex, ey, half_width + 4)
    radial = (patch.xs - ex) * math.cos(a) + (patch.ys - ey) * math.sin(a)
    tangential = -(patch.xs - ex) * math.sin(a) + (patch.ys - ey) * math.cos(a)
    ellipse = np.sqrt((radial / depth) ** 2 + (tangential / half_width) ** 2)
    notch = edge((1.0 - ellipse) * min(depth, half_width))
    before = layers.coverage[patch.window].copy()
    layers.coverage[patch.window] = before * (1.0 - notch)
    # A fresh fracture face glints along the broken edge.
    layers.surface[patch.window] += 30.0 * np.exp(-((ellipse - 1.0) ** 2) / 0.02)
    return patch.full_mask((notch > 0.5) & (before > 0.5))


def missing_hole(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """A bolt hole that was never drilled; the scene must have been rendered without it."""
    del rng, contrast
    if not layers.omitted_holes:
        raise ValueError("missing_hole needs the scene rendered with an omitted hole")
    g = layers.geometry
    k = next(iter(layers.omitted_holes))
    hx, hy = g.hole_centres()[k]
    patch = Patch(layers, hx, hy, g.r_hole + 3)
    return patch.full_mask(np.hypot(patch.xs - hx, patch.ys - hy) <= g.r_hole + 1.0)


def imprint(layers: Layers, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """A ring pressed into the face by a misplaced washer; kept out of training as a novel shape."""
    x, y = surface_point(layers, rng, margin=18.0)
    radius = rng.uniform(6.0, 12.0)
    angles = np.linspace(0.0, 2 * math.pi, 25)
    ring = np.stack([x + radius * np.cos(angles), y + radius * np.sin(angles)], axis=1).astype(np.float32)
    return draw_stroke(layers, ring, float(rng.uniform(2.0, 3.0)), -contrast)


DEFECT_KINDS: dict[str, DefectFn] = {
    "scratch": scratch,
    "pit": pit,
    "crack": crack,
    "stain": stain,
    "edge_chip": edge_chip,
    "missing_hole": missing_hole,
    "imprint": imprint,
}
TRAINING_KINDS: tuple[str, ...] = ("scratch", "pit", "crack", "stain", "edge_chip", "missing_hole")
NOVEL_KINDS: tuple[str, ...] = ("imprint",)
