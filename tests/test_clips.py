import numpy as np
import pytest

from ethoprism.clips import ClipSpec, plan_clips


@pytest.mark.parametrize("n_frames", [1, 7, 16, 17, 40, 101])
@pytest.mark.parametrize("frames,overlap,step", [(16, 4, 1), (8, 0, 1), (4, 1, 2), (16, 8, 3)])
def test_tiled_plan_gives_every_frame_its_most_central_row(n_frames, frames, overlap, step):
    spec = ClipSpec(frames=frames, overlap=overlap, frame_step=step)
    plan = plan_clips(n_frames, spec)
    assert plan.source_clip.shape == (n_frames,)
    # every frame's row is a frame of that clip, and the nearest one to it
    chosen = plan.clip_frames[plan.source_clip, plan.source_row]
    assert np.all(
        np.abs(chosen - np.arange(n_frames)) <= step // 2 + (n_frames < (frames - 1) * step + 1) * n_frames
    )
    # about one clip per (frames - overlap) * step frames
    hop = (frames - overlap) * step
    assert plan.n_clips <= max(1, int(np.ceil(max(n_frames - (frames - 1) * step - 1, 0) / hop)) + 2)


def test_tiled_frames_sit_centrally():
    plan = plan_clips(40, ClipSpec(frames=16, overlap=4))
    assert list(plan.clip_frames[:, 0]) == [0, 12, 24]
    # frame 14 is at row 14 of clip 0 but row 2 of clip 1: clip 1 is more central
    assert plan.source_clip[14] == 1 and plan.source_row[14] == 2
    assert plan.source_clip[5] == 0 and plan.source_clip[39] == 2


def test_centered_plan_one_clip_per_frame():
    plan = plan_clips(10, ClipSpec(frames=5, protocol="centered", frame_step=2))
    assert plan.n_clips == 10
    assert list(plan.clip_frames[5]) == [1, 3, 5, 7, 9]
    assert list(plan.clip_frames[0]) == [0, 0, 0, 2, 4]  # clamped at the start
    assert np.all(plan.clip_frames[plan.source_clip, plan.source_row] == np.arange(10))


def test_spec_validation_and_key():
    with pytest.raises(ValueError):
        ClipSpec(frames=4, overlap=4)
    with pytest.raises(ValueError):
        ClipSpec(square="stretch")
    assert ClipSpec().key == ClipSpec().key != ClipSpec(size=224).key


def _quadratic_plan(n_frames, spec):
    """The original all-clips-by-all-frames plan, kept as the reference for the linear one."""
    offsets = np.arange(spec.frames) * spec.frame_step
    if spec.protocol == "centered":
        starts = np.arange(n_frames) - offsets[spec.frames // 2]
        clip_frames = np.clip(starts[:, None] + offsets[None, :], 0, n_frames - 1)
        return clip_frames, np.arange(n_frames), np.full(n_frames, spec.frames // 2)
    span = (spec.frames - 1) * spec.frame_step + 1
    hop = (spec.frames - spec.overlap) * spec.frame_step
    last_start = max(n_frames - span, 0)
    starts = list(range(0, last_start + 1, hop))
    if starts[-1] != last_start:
        starts.append(last_start)
    starts = np.asarray(starts)
    clip_frames = np.clip(starts[:, None] + offsets[None, :], 0, n_frames - 1)
    frames = np.arange(n_frames)
    position = (frames[None, :] - starts[:, None]) / spec.frame_step
    inside = (position >= -0.5) & (position <= spec.frames - 0.5)
    distance = np.where(inside, np.abs(position - (spec.frames - 1) / 2), np.inf)
    source_clip = np.argmin(distance, axis=0)
    row = np.floor(position[source_clip, frames] + 0.5 - 1e-9).astype(np.int64)
    return clip_frames, source_clip, np.clip(row, 0, spec.frames - 1)


def test_linear_plan_equals_the_quadratic_reference_exhaustively():
    cases = 0
    for frames in (1, 2, 3, 4, 5, 8, 16):
        for overlap in range(frames):
            for step in (1, 2, 3):
                for protocol in ("tiled", "centered"):
                    if protocol == "centered" and overlap:
                        continue
                    spec = ClipSpec(frames=frames, overlap=overlap, frame_step=step, protocol=protocol)
                    for n_frames in [*range(1, 50), 97, 300]:
                        clip_frames, source_clip, source_row = _quadratic_plan(n_frames, spec)
                        plan = plan_clips(n_frames, spec)
                        np.testing.assert_array_equal(plan.clip_frames, clip_frames)
                        np.testing.assert_array_equal(plan.source_clip, source_clip)
                        np.testing.assert_array_equal(plan.source_row, source_row)
                        cases += 1
    assert cases > 4000


@pytest.mark.parametrize("protocol", ["tiled", "centered"])
def test_long_plans_stay_linear_and_consistent(protocol):
    n_frames = 24 * 3600 * 30  # a 24 h recording at 30 fps
    spec = ClipSpec(frames=16, overlap=4, protocol=protocol)
    plan = plan_clips(n_frames, spec)
    assert plan.source_clip.shape == (n_frames,) and plan.starts.nbytes < 8 * n_frames + 1
    probe = np.random.default_rng(0).integers(0, n_frames, 2000)
    chosen = plan.frames_of(plan.source_clip[probe])[np.arange(len(probe)), plan.source_row[probe]]
    np.testing.assert_array_equal(chosen, probe)  # every frame's row is that very frame
    order, bounds = plan.frames_by_clip()
    assert bounds[-1] == n_frames and (np.diff(bounds) >= 0).all()
    np.testing.assert_array_equal(plan.source_clip[order[bounds[5] : bounds[6]]], 5)
