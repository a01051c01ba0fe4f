import numpy as np
import pytest

from conftest import OPENFIELD, needs_shared, write_video
from ethoprism.errors import EthoprismError
from ethoprism.video import VideoReader


@needs_shared(OPENFIELD)
def test_metadata_of_real_video():
    meta = VideoReader(OPENFIELD).metadata
    assert meta.n_frames == 2330
    assert meta.width == 640 and meta.height == 480
    assert meta.fps == pytest.approx(30.0003, abs=1e-3)
    assert meta.codec == "h264" and meta.pix_fmt == "yuv444p"
    assert not meta.variable_frame_rate
    assert meta.duration_s == pytest.approx(2330 / 30.0003, rel=1e-3)


@needs_shared(OPENFIELD)
def test_random_access_matches_sequential_decoding():
    reader = VideoReader(OPENFIELD)
    sequential = {}
    wanted = [0, 3, 700, 701, 1500, 2329]
    for index, frame in enumerate(reader.iter_frames(size=48)):
        if index in wanted:
            sequential[index] = frame
    order = [2329, 3, 1500, 0, 701, 700, 3]
    frames = reader.read_frames(order, size=48)
    for got, index in zip(frames, order):
        np.testing.assert_array_equal(got, sequential[index])


def test_grey_and_odd_sized_video(tmp_path):
    path = write_video(tmp_path / "grey.mp4", n_frames=6, height=33, width=47, pix_fmt="gray")
    reader = VideoReader(path)
    assert reader.metadata.n_frames == 6
    full = next(reader.iter_frames())
    assert full.shape == (33, 47, 3)
    for square in ("crop", "pad"):
        frame = next(reader.iter_frames(size=32, square=square))
        assert frame.shape == (32, 32, 3)
    padded = next(reader.iter_frames(size=47, square="pad"))
    assert padded[0].max() == 0 and padded[-1].max() == 0  # black bars above and below


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = np.cumsum([0] + [0.04 if i % 3 else 0.1 for i in range(29)])
    path = write_video(tmp_path / "vfr.mp4", n_frames=30, pts=times)
    reader = VideoReader(path)
    assert reader.metadata.variable_frame_rate
    np.testing.assert_allclose(reader.timestamps, times, atol=1e-4)
    # times map to the nearest frame by timestamp, not time * fps
    assert list(reader.frame_at_time([0.0, 0.11, 0.45, 10.0])) == [0, 1, 7, 29]


def test_out_of_range_frame_is_an_error(small_video):
    with pytest.raises(EthoprismError, match="out of range"):
        VideoReader(small_video).read_frames([0, 20])


@pytest.mark.parametrize(
    "content,problem", [(b"", "empty"), (b"this is not a video at all" * 50, "not a readable video")]
)
def test_bad_files(tmp_path, content, problem):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(EthoprismError, match=problem) as info:
        VideoReader(path)
    assert str(path) in str(info.value)


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(EthoprismError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(EthoprismError, match="directory"):
        VideoReader(tmp_path)
