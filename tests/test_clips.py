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
