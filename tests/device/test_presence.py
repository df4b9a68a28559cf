"""Who counts as someone at the door: feet deep in the zone, or moving toward the camera."""

from __future__ import annotations

import numpy as np

from edge.device.presence import FootTracks, zone_depth

H, W = 180, 320
ZONE_TOP = 60


def zone() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[ZONE_TOP:] = True
    return mask


def tracks() -> FootTracks:
    return FootTracks(zone(), min_inside=0.45, foot_margin=0.1, whole_frame=False)


def test_depth_counts_zone_rows_above_each_pixel() -> None:
    depth = zone_depth(zone())
    assert depth[ZONE_TOP - 1, 5] == 0
    assert depth[ZONE_TOP, 5] == 1
    assert depth[H - 1, 5] == H - ZONE_TOP


def test_passer_by_walking_along_the_far_edge_never_counts() -> None:
    feet = tracks()
    # Legs 30 rows (0.6 of a 50-row body) over the zone's edge, walking sideways.
    for k in range(40):
        feet.start_frame(k / 15)
        assert not feet.counts(10.0 + 6 * k, ZONE_TOP + 29, 50, k / 15)


def test_visitor_coming_up_from_the_same_edge_counts_once_they_come_closer() -> None:
    feet = tracks()
    counted = []
    for k in range(30):
        feet.start_frame(k / 15)
        counted.append(feet.counts(160.0, ZONE_TOP + 20 + k, 50, k / 15))
    assert not counted[0]
    assert any(counted[:15])
    assert all(counted[15:])


def test_someone_standing_deep_in_the_zone_counts_at_once() -> None:
    feet = tracks()
    feet.start_frame(0.0)
    assert feet.counts(160.0, H - 1, 100, 0.0)


def test_feet_outside_the_zone_never_count() -> None:
    feet = tracks()
    for k in range(10):
        feet.start_frame(k / 15)
        assert not feet.counts(160.0, ZONE_TOP - 5 + 0 * k, 40, k / 15)


def test_without_zones_everything_counts() -> None:
    feet = FootTracks(np.ones((H, W), bool), 0.45, 0.1, whole_frame=True)
    feet.start_frame(0.0)
    assert feet.counts(160.0, 10.0, 50, 0.0)


def test_someone_cut_by_the_frame_bottom_counts_at_once_however_still() -> None:
    # A visitor close to the camera at the side of the frame: the shape runs off the
    # bottom, taller than the zone is deep, and does not move. Their feet are below the
    # picture, inside the zone: they count. The same shape ending a row higher does not.
    feet = tracks()
    for k in range(5):
        feet.start_frame(k / 15)
        assert feet.counts(40.0, H - 1, 250, k / 15)
    feet = tracks()
    feet.start_frame(0.0)
    assert not feet.counts(40.0, H - 2, 250, 0.0)


def test_a_shape_cut_by_the_bottom_outside_the_zone_does_not_count() -> None:
    mask = np.zeros((H, W), bool)
    mask[ZONE_TOP:, W // 2 :] = True  # the zone is only the right half
    feet = FootTracks(mask, min_inside=0.45, foot_margin=0.1, whole_frame=False)
    feet.start_frame(0.0)
    assert not feet.counts(40.0, H - 1, 170, 0.0)
    assert feet.counts(W - 40.0, H - 1, 170, 0.0)
