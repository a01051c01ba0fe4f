"""SLEAP pose files (``.slp``, through sleap-io): the instances of each labelled frame."""

from __future__ import annotations

from pathlib import Path

from ethoprism.errors import EthoprismError


def _load(path: Path):
    import sleap_io

    try:
        # the videos it names are never opened: ethoprism reads poses only, and a video path that is
        # a FIFO or a dead network mount would hang the read
        return sleap_io.load_file(str(path), open_videos=False)
    except Exception as exc:  # sleap-io raises many types for unreadable files
        raise EthoprismError(f"cannot read pose file ({exc.__class__.__name__}: {exc})", path) from exc


def _video_name(frame) -> str:
    filename = frame.video.filename
    return Path(filename if isinstance(filename, str) else filename[0]).name


def read_sleap_tracks(path: Path) -> list[tuple[str, int, str, object]]:
    """-> ``(video name as the file names it, frame, track name, points [K, 2])`` per tracked
    instance, user instances winning over predicted ones on a frame. An instance without a track
    is refused: its animal is unknown."""
    labels = _load(path)
    out = []
    for frame in labels.labeled_frames:
        for instance in frame.user_instances or frame.predicted_instances:
            if instance.track is None:
                raise EthoprismError(
                    f"an instance on frame {int(frame.frame_idx)} has no track: track the animals in SLEAP "
                    "(or proofread the tracks) first",
                    path,
                )
            out.append((_video_name(frame), int(frame.frame_idx), str(instance.track.name), instance.numpy()))
    return out


def read_sleap_instances(path: Path, video: str | None):
    """-> (instances, labelled frames). Per frame, the user's instances win over predicted ones
    (as ``movement`` reads SLEAP files): a corrected frame is not polluted by the prediction it
    corrected; frames with predictions only keep those."""
    labels = _load(path)
    tracks = {id(track): i for i, track in enumerate(labels.tracks)}
    instances, labelled = [], []
    for frame in labels.labeled_frames:
        name = video or _video_name(frame)
        labelled.append((name, int(frame.frame_idx)))
        for instance in frame.user_instances or frame.predicted_instances:
            track = tracks.get(id(instance.track), -1) if instance.track is not None else -1
            instances.append((name, int(frame.frame_idx), track, instance.numpy()))
    return instances, labelled
