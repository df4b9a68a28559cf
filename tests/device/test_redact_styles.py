"""Obscuring styles: strong enough to be irreversible, and touching only their region."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from edge.device.redact.styles import MaskedArea, clip_box, obscure_rect, obscured
from edge.device.zones import polygon_mask


def detailed_image(h: int = 360, w: int = 640, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def high_frequency_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def test_fill_leaves_a_single_colour() -> None:
    out = obscured(detailed_image(60, 80), "fill")
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1


@pytest.mark.parametrize("width", [12, 30, 64, 200, 1280])
def test_mosaic_has_at_most_eight_blocks_across(width: int) -> None:
    region = detailed_image(width // 2 + 2, width)
    out = obscured(region, "mosaic")
    row = out[out.shape[0] // 2].astype(int)
    blocks = 1 + int(np.any(np.diff(row, axis=0) != 0, axis=1).sum())
    assert blocks <= 8


def test_blur_is_as_strong_as_a_gaussian_of_a_sixth_of_the_width() -> None:
    region = detailed_image(120, 180)
    reference = cv2.GaussianBlur(region, (0, 0), 180 / 6)
    ours = obscured(region, "blur")
    assert high_frequency_energy(ours) <= high_frequency_energy(reference) * 1.5
    # ... and it is a blur, not a fill: the broad shading survives.
    gradient = np.dstack([np.tile(np.linspace(0, 255, 180), (120, 1))] * 3).astype(np.uint8)
    blurred = obscured(gradient, "blur")
    assert blurred[:, -20:].mean() > blurred[:, :20].mean() + 50


@pytest.mark.parametrize("style", ["fill", "mosaic", "blur"])
def test_only_the_region_changes(style: str) -> None:
    image = detailed_image()
    before = image.copy()
    obscure_rect(image, (100, 50, 220, 170), style)
    outside = np.ones(image.shape[:2], bool)
    outside[50:170, 100:220] = False
    assert np.array_equal(image[outside], before[outside])
    assert high_frequency_energy(image[50:170, 100:220]) < 0.05 * high_frequency_energy(
        before[50:170, 100:220]
    )


def test_box_is_clipped_to_the_frame() -> None:
    assert clip_box(-10.4, 5.5, 30.0, 20.0, 100, 50) == (0, 5, 20, 26)
    assert clip_box(95.0, 45.0, 30.0, 30.0, 100, 50) == (95, 45, 100, 50)
    assert clip_box(120.0, 10.0, 5.0, 5.0, 100, 50) is None


@pytest.mark.parametrize("style", ["fill", "mosaic", "blur"])
def test_public_area_polygon_is_obscured_and_nothing_else(style: str) -> None:
    image = detailed_image(360, 640)
    before = image.copy()
    triangle = [(0.1, 0.1), (0.6, 0.1), (0.1, 0.9)]
    band = [(0.0, 0.0), (1.0, 0.0), (1.0, 0.05), (0.0, 0.05)]
    mask = polygon_mask([triangle, band], 640, 360)
    MaskedArea(mask).apply(image, style)
    assert np.array_equal(image[~mask], before[~mask])
    inside = polygon_mask([[(0.15, 0.2), (0.45, 0.2), (0.15, 0.7)]], 640, 360)
    changed = np.abs(image.astype(int) - before.astype(int)).sum(axis=2) > 0
    assert changed[inside].mean() > 0.9


def test_face_cut_by_the_frame_edge_gets_blocks_as_coarse_as_the_whole_face() -> None:
    visible_part = detailed_image(200, 40)  # a 150 x 200 face, 40 px of it in the frame
    out = obscured(visible_part, "mosaic", extent=200.0)
    column = out[:, 0].astype(int)
    blocks = 1 + int(np.any(np.diff(column, axis=0) != 0, axis=1).sum())
    assert blocks <= 8


# Large regions are summed block by block: exact means. Small ones go through INTER_AREA:
# exact when the blocks are whole pixels (96 = 8 x 12), else its fractional block edges
# may take a pixel's width from the next block (75 x 61).
@pytest.mark.parametrize(
    ("h", "w", "tolerance"), [(216, 1280, 0.5), (400, 1280, 0.5), (96, 96, 0.5), (75, 61, 6)]
)
def test_each_mosaic_block_is_the_mean_of_its_own_pixels(h: int, w: int, tolerance: float) -> None:
    # A gradient under noise: a block coloured from its neighbours' pixels is off by a lot.
    rows, cols = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(3).normal(0, 20, (h, w, 3))
    ramp = np.dstack([cols * 255 / w, rows * 255 / h, (cols + rows) % 97 * 2.5])
    region = np.clip(ramp + noise, 0, 255).astype(np.uint8)
    out = obscured(region, "mosaic")
    edges_x = [0, *np.flatnonzero(np.any(np.diff(out[0].astype(int), axis=0), axis=1)) + 1, w]
    edges_y = [0, *np.flatnonzero(np.any(np.diff(out[:, 0].astype(int), axis=0), axis=1)) + 1, h]
    for y0, y1 in itertools.pairwise(edges_y):
        for x0, x1 in itertools.pairwise(edges_x):
            block = out[y0:y1, x0:x1].reshape(-1, 3)
            assert (block == block[0]).all()
            mean = region[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - block[0]).max() <= tolerance


@pytest.mark.parametrize("style", ["fill", "mosaic", "blur"])
@pytest.mark.parametrize(("h", "w"), [(120, 90), (216, 1280)])
def test_obscuring_in_place_gives_what_the_copy_gives(style: str, h: int, w: int) -> None:
    region = detailed_image(h, w)
    copy = obscured(region, style, extent=1.5 * max(h, w))
    assert np.array_equal(region, detailed_image(h, w)), "the copy left its input alone"
    assert obscured(region, style, extent=1.5 * max(h, w), out=region) is region
    assert np.array_equal(region, copy)
