"""SLEAP pose files (``.slp``, through sleap-io): the instances of each labelled frame."""

from __future__ import annotations

from pathlib import Path

from ethoprism.errors import EthoprismError


def read_sleap_instances(path: Path, video: str | None):
    """-> (instances, labelled frames). Per frame, the user's instances win over predicted ones
    (as ``movement`` reads SLEAP files): a corrected frame is not polluted by the prediction it
    corrected; frames with predictions only keep those."""
    import sleap_io

    try:
        # the videos it names are never opened: ethoprism reads poses only, and a video path that is
        # a FIFO or a dead network mount would hang the read
        labels = sleap_io.load_file(str(path), open_videos=False)
    except Exception as exc:  # sleap-io raises many types for unreadable files
        raise EthoprismError(f"cannot read pose file ({exc.__class__.__name__}: {exc})", path) from exc
    tracks = {id(track): i for i, track in enumerate(labels.tracks)}
    instances, labelled = [], []
    for frame in labels.labeled_frames:
        name = (
            video
            or Path(
                frame.video.filename if isinstance(frame.video.filename, str) else frame.video.filename[0]
            ).name
        )
        labelled.append((name, int(frame.frame_idx)))
        for instance in frame.user_instances or frame.predicted_instances:
            track = tracks.get(id(instance.track), -1) if instance.track is not None else -1
            instances.append((name, int(frame.frame_idx), track, instance.numpy()))
    return instances, labelled
