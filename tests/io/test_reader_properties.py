"""Property-based tests (Hypothesis) for every label, box and pose reader: any bytes, any table
with random values, any JSON either parse into labels that keep the model's invariants or raise
:class:`EthoprismError` — never another exception."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ethoprism.errors import EthoprismError
from ethoprism.io.boxes import read_boxes
from ethoprism.io.labels import read_labels
from ethoprism.labels.boxes import BOX_COLUMNS, BoxLabels
from ethoprism.labels.model import VideoLabels

N_FRAMES, FPS = 40, 10.0
VIDEOS = {
    "a.mp4": {"n_frames": N_FRAMES, "fps": FPS, "timestamps": np.arange(N_FRAMES) / FPS},
    "b.mp4": {"n_frames": N_FRAMES // 2, "fps": FPS, "timestamps": np.arange(N_FRAMES // 2) / FPS},
}
PROPERTY = settings(
    max_examples=int(os.environ.get("ETHOPRISM_PROPERTY_EXAMPLES", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# cells: what a hand-edited or broken export may hold
CELL = st.one_of(
    st.integers(-3, 60),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "NaN", "START", "STOP", "POINT", "a.mp4", "b.mp4", "walk", "x,y", '"']),
    st.text(max_size=6),
)


def check_labels(labels: list[VideoLabels]) -> None:
    """The internal label model's invariants, as every consumer relies on them."""
    for label in labels:
        assert label.video in VIDEOS
        assert label.targets.dtype == np.int8 and label.targets.ndim == 2
        assert label.targets.shape == (VIDEOS[label.video]["n_frames"], len(label.behaviors))
        assert np.isin(label.targets, (-1, 0, 1)).all()
        assert all(isinstance(b, str) and b for b in label.behaviors)
        assert len(set(label.behaviors)) == len(label.behaviors)
        if label.exclusive:
            assert (label.targets[label.labelled].sum(axis=1) <= 1).all()


def check_boxes(labels: BoxLabels) -> None:
    assert list(labels.boxes.columns) == BOX_COLUMNS
    for column in ("x0", "y0", "x1", "y1"):
        assert np.isfinite(labels.boxes[column].to_numpy(np.float64)).all()
    assert (labels.boxes.x1 >= labels.boxes.x0).all() and (labels.boxes.y1 >= labels.boxes.y0).all()
    assert (labels.boxes.frame >= 0).all() and (labels.frames.frame >= 0).all()
    labelled = set(zip(labels.frames.video, labels.frames.frame))
    assert set(zip(labels.boxes.video, labels.boxes.frame)) <= labelled


def read_or_refuse(read, check):
    try:
        result = read()
    except EthoprismError as exc:
        assert exc.problem
        return
    check(result)


def labels_from(path: Path, fmt: str = "auto"):
    return read_or_refuse(lambda: read_labels(path, VIDEOS, fmt), check_labels)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


SUFFIXES = ["labels.csv", "a_labels.csv", "a.tsv", "labels.json", "a.csv"]


@PROPERTY
@given(content=st.binary(max_size=600), name=st.sampled_from(SUFFIXES))
def test_any_bytes_as_labels(folder, content, name):
    path = folder / name
    path.write_bytes(content)
    labels_from(path)


def table(columns: dict, max_rows: int = 12):
    """Half the tables hold only plausible cells for their columns (so examples reach the reader's
    later checks), half mix in anything at all."""

    def rows(clean: bool):
        cell = {
            name: plausible if clean else st.one_of(plausible, CELL) for name, plausible in columns.items()
        }
        return st.lists(st.fixed_dictionaries(cell), min_size=1, max_size=max_rows)

    return (
        st.booleans().flatmap(rows).map(lambda r: pd.DataFrame(r, columns=list(columns)).to_csv(index=False))
    )


VIDEO = st.sampled_from(["a.mp4", "b.mp4"])
BEHAVIOR = st.sampled_from(["walk", "groom"])
FRAME = st.integers(0, N_FRAMES + 3)
BIT = st.sampled_from([0, 1])
FORMAT_TABLES = {
    "bouts": (
        "labels.csv",
        {"video": VIDEO, "behavior": BEHAVIOR, "start_frame": FRAME, "end_frame": FRAME},
    ),
    "boris-events": (
        "events.csv",
        {
            "Media file name": VIDEO,
            "FPS": st.just(FPS),
            "Subject": st.just(""),
            "Behavior": BEHAVIOR,
            "Behavior type": st.sampled_from(["START", "STOP", "POINT"]),
            "Time": st.floats(0, N_FRAMES / FPS),
        },
    ),
    "deepethogram": ("a_labels.csv", {"": FRAME, "background": BIT, "walk": BIT, "groom": BIT}),
    "simba": (
        "a.csv",
        {"": FRAME, "nose_x": st.floats(0, 99), "nose_y": st.floats(0, 99), "walk": BIT, "groom": BIT},
    ),
    "boris-binary": ("a_binary.csv", {"time": st.floats(0, 5), "walk": BIT, "groom": BIT}),
}


@PROPERTY
@given(data=st.data(), fmt=st.sampled_from(sorted(FORMAT_TABLES)))
def test_any_table_in_every_label_format(folder, data, fmt):
    name, columns = FORMAT_TABLES[fmt]
    path = folder / name
    path.write_text(data.draw(table(columns)))
    labels_from(path, fmt)
    labels_from(path)  # and as auto-detection sees it


BOUT = st.tuples(VIDEO, BEHAVIOR, st.floats(0, N_FRAMES / FPS), st.floats(0, 1.5))
ODD_TIME = st.one_of(st.floats(-1, 0), st.floats(allow_nan=True, allow_infinity=True))


@PROPERTY
@given(
    bouts=st.lists(BOUT, max_size=6),
    drop=st.sets(st.integers(0, 11)),
    odd=st.dictionaries(st.integers(0, 11), ODD_TIME),
)
def test_boris_events_of_any_order_and_time(folder, bouts, drop, odd):
    """State events as BORIS writes them (START then STOP), some dropped (unpaired), some times odd
    (negative, NaN, infinite, past the end), overlapping bouts of one behaviour included."""
    events = []
    for video, behavior, start, length in bouts:
        events += [(video, behavior, "START", start), (video, behavior, "STOP", start + length)]
    events = [
        (video, behavior, status, odd.get(i, time))
        for i, (video, behavior, status, time) in enumerate(events)
        if i not in drop
    ]
    frame = pd.DataFrame(events, columns=["Media file name", "Behavior", "Behavior type", "Time"])
    path = folder / "events.csv"
    frame.assign(FPS=FPS).to_csv(path, index=False)
    labels_from(path, "boris-events")


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(), st.text(max_size=4)),
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@PROPERTY
@given(
    class_names=st.one_of(JSON, st.dictionaries(st.sampled_from(["0", "1", "2", "x"]), st.text(max_size=5))),
    labels=st.one_of(
        JSON,
        st.dictionaries(
            st.sampled_from(["a.mp4", "b.mp4", "c.mp4"]),
            st.one_of(
                st.lists(st.integers(-2, 3), min_size=0, max_size=N_FRAMES + 2),
                st.lists(st.lists(st.integers(-1, 1), max_size=3), max_size=N_FRAMES),
                JSON,
            ),
            max_size=2,
        ),
    ),
    multilabel=st.one_of(st.booleans(), JSON),
    splits=JSON,
)
# found by this test: multi-label class ids that are not vector positions crashed the reader
@example(class_names={"1": ""}, labels={"a.mp4": [[0]]}, multilabel=True, splits=None)
def test_any_feral_json(folder, class_names, labels, multilabel, splits):
    path = folder / "labels.json"
    document = {"class_names": class_names, "labels": labels, "is_multilabel": multilabel, "splits": splits}
    path.write_text(json.dumps(document))
    labels_from(path, "feral")


NUMBER = st.one_of(st.integers(-10, 200), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3))


@PROPERTY
@given(
    images=st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.integers(0, 4), st.text(max_size=2)),
                "file_name": st.sampled_from(["a.mp4", ""]),
            },
            optional={"frame": NUMBER, "frame_index": NUMBER},
        ),
        max_size=5,
    ),
    annotations=st.lists(
        st.fixed_dictionaries(
            {"image_id": st.one_of(st.integers(0, 5), st.text(max_size=2))},
            optional={"bbox": st.one_of(st.lists(NUMBER, max_size=5), JSON), "track_id": NUMBER},
        ),
        max_size=6,
    ),
)
def test_any_coco_boxes(folder, images, annotations):
    path = folder / "boxes.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    read_or_refuse(lambda: read_boxes(path), check_boxes)


@PROPERTY
@given(
    content=st.binary(max_size=400), name=st.sampled_from(["b.json", "b.slp", "b.h5", "CollectedData_x.csv"])
)
def test_any_bytes_as_boxes_or_pose(folder, content, name):
    path = folder / name
    path.write_bytes(content)
    read_or_refuse(lambda: read_boxes(path, video="a.mp4"), check_boxes)


@PROPERTY
@given(
    values=st.lists(
        st.lists(
            st.one_of(st.floats(-50, 500), st.floats(allow_nan=True, allow_infinity=True), st.just("")),
            min_size=6,
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_values_in_a_deeplabcut_table(folder, values):
    """A DeepLabCut analysis CSV with the real three-row header and random coordinates."""
    header = [
        ["scorer"] + ["DLC_resnet50"] * 6,
        ["bodyparts"] + ["nose"] * 3 + ["tail"] * 3,
        ["coords"] + ["x", "y", "likelihood"] * 2,
    ]
    rows = [
        [str(i)] + ["" if isinstance(v, str) or math.isnan(v) else repr(v) for v in row]
        for i, row in enumerate(values)
    ]
    path = folder / "aDLC_resnet50.csv"
    path.write_text("\n".join(",".join(r) for r in header + rows) + "\n")
    read_or_refuse(lambda: read_boxes(path, video="a.mp4"), check_boxes)


# -- the other half: every valid file parses, into exactly what it says --------------------------
BEHAVIORS = ["groom", "walk"]


def _targets(draw, n_frames: int, exclusive: bool, unlabelled: bool = True) -> np.ndarray:
    """A valid per-frame label matrix: exclusive rows hold at most one behaviour; some rows may be
    unlabelled (-1) where the format can say so."""
    if exclusive:
        classes = draw(st.lists(st.integers(0, len(BEHAVIORS)), min_size=n_frames, max_size=n_frames))
        targets = np.zeros((n_frames, len(BEHAVIORS)), np.int8)
        for row, c in enumerate(classes):
            if c:
                targets[row, c - 1] = 1
    else:
        bits = draw(st.lists(st.sampled_from([0, 1]), min_size=n_frames * 2, max_size=n_frames * 2))
        targets = np.array(bits, np.int8).reshape(n_frames, len(BEHAVIORS))
    if unlabelled:
        gaps = draw(st.lists(st.booleans(), min_size=n_frames, max_size=n_frames))
        targets[np.array(gaps, bool)] = -1
    return targets


@PROPERTY
@given(data=st.data(), exclusive=st.booleans())
def test_every_deepethogram_file_round_trips(folder, data, exclusive):
    from ethoprism.io.deepethogram import write_deepethogram

    targets = _targets(data.draw, N_FRAMES, exclusive)
    path = folder / "a_labels.csv"
    write_deepethogram(VideoLabels("a.mp4", BEHAVIORS, targets, FPS, exclusive), path)
    (label,) = read_labels(path, VIDEOS, "deepethogram", exclusive=exclusive)
    check_labels([label])
    assert label.video == "a.mp4" and label.behaviors == BEHAVIORS
    np.testing.assert_array_equal(label.targets, targets)


def _bouts(draw, video: str, overlapping: bool):
    """Bouts in frames inside ``video``; without overlap, each frame in at most one bout."""
    n = VIDEOS[video]["n_frames"]
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=8)) | {0, n})
    bouts = []
    for a, b in zip(cuts, cuts[1:]):
        behavior = draw(st.sampled_from([None, *BEHAVIORS]))
        if behavior is not None and b > a:
            bouts.append((behavior, a, b - 1))
    if overlapping and bouts:
        behavior, a, b = bouts[0]
        other = BEHAVIORS[1 - BEHAVIORS.index(behavior)]
        bouts.append((other, a, min(b + 2, n - 1)))
    return bouts


def _expected(bouts, n_frames):
    targets = np.zeros((n_frames, len(BEHAVIORS)), np.int8)
    for behavior, a, b in bouts:
        targets[a : b + 1, BEHAVIORS.index(behavior)] = 1
    return targets


@PROPERTY
@given(data=st.data(), overlapping=st.booleans())
def test_every_bouts_csv_parses_into_its_bouts(folder, data, overlapping):
    from ethoprism.io.bouts_csv import write_bouts_csv

    rows, expected = [], {}
    for video in VIDEOS:
        bouts = _bouts(data.draw, video, overlapping)
        rows += [{"video": video, "behavior": b, "start_frame": s, "end_frame": e} for b, s, e in bouts]
        expected[video] = _expected(bouts, VIDEOS[video]["n_frames"])
    # both behaviours must occur somewhere for a two-behaviour label set
    rows += [
        {"video": "a.mp4", "behavior": b, "start_frame": 0, "end_frame": 0} for b in BEHAVIORS if overlapping
    ]
    if overlapping:
        expected["a.mp4"][0] = 1
    path = folder / "labels.csv"
    write_bouts_csv(pd.DataFrame(rows, columns=["video", "behavior", "start_frame", "end_frame"]), path)
    if not rows:
        return
    labels = read_labels(path, VIDEOS, "bouts", behaviors=BEHAVIORS)
    check_labels(labels)
    for label in labels:
        np.testing.assert_array_equal(label.targets, expected[label.video])
    assert labels[0].exclusive == (not any(label.has_overlaps() for label in labels))


@PROPERTY
@given(data=st.data())
def test_every_boris_export_round_trips(folder, data):
    """Bouts -> BORIS events file (ethoprism's writer, as BORIS lays it out) -> the same frames."""
    from ethoprism.io.boris import write_boris_events

    bouts = _bouts(data.draw, "a.mp4", overlapping=False)
    if not bouts:
        return
    stamps = VIDEOS["a.mp4"]["timestamps"]
    table = pd.DataFrame(
        [{"behavior": b, "start_s": stamps[s], "end_s": stamps[e]} for b, s, e in bouts],
        columns=["behavior", "start_s", "end_s"],
    )
    path = folder / "events.tsv"
    write_boris_events(table, path, FPS, "a.mp4", N_FRAMES / FPS)
    (label,) = read_labels(path, {"a.mp4": VIDEOS["a.mp4"]}, "boris-events")
    check_labels([label])
    names = sorted({b for b, _, _ in bouts})
    expected = _expected(bouts, N_FRAMES)[:, [BEHAVIORS.index(n) for n in names]]
    assert label.behaviors == names
    np.testing.assert_array_equal(label.targets, expected)


@PROPERTY
@given(data=st.data())
def test_every_simba_and_binary_table_parses_into_its_values(folder, data):
    targets = _targets(data.draw, N_FRAMES, exclusive=False, unlabelled=False)
    simba = folder / "a.csv"
    pd.DataFrame(
        {"nose_x": np.linspace(0, 9, N_FRAMES), "nose_y": 1.0, "groom": targets[:, 0], "walk": targets[:, 1]}
    ).to_csv(simba)
    (label,) = read_labels(simba, VIDEOS, "simba")
    check_labels([label])
    np.testing.assert_array_equal(label.targets, targets)
    binary = folder / "a_binary.csv"
    pd.DataFrame({"time": np.arange(N_FRAMES) / FPS, "groom": targets[:, 0], "walk": targets[:, 1]}).to_csv(
        binary, index=False
    )
    (label,) = read_labels(binary, VIDEOS, "boris-binary")
    check_labels([label])
    np.testing.assert_array_equal(label.targets, targets)


@PROPERTY
@given(data=st.data(), multilabel=st.booleans())
def test_every_feral_document_parses_into_its_labels(folder, data, multilabel):
    n = VIDEOS["a.mp4"]["n_frames"]
    targets = _targets(data.draw, n, exclusive=not multilabel, unlabelled=False)
    if multilabel:
        # FERAL multi-label: per frame a 0/1 vector indexed by class id (0: other)
        frames = [[int(not row.any()), *map(int, row)] for row in targets]
    else:
        frames = [int(row.argmax()) + 1 if row.any() else 0 for row in targets]
    document = {
        "class_names": {"0": "other", "1": BEHAVIORS[0], "2": BEHAVIORS[1]},
        "is_multilabel": multilabel,
        "labels": {"a.mp4": frames},
        "splits": {"train": ["a.mp4"], "val": [], "test": [], "inference": []},
    }
    path = folder / "labels.json"
    path.write_text(json.dumps(document))
    (label,) = read_labels(path, VIDEOS, "feral")
    check_labels([label])
    np.testing.assert_array_equal(label.targets[:, [label.behaviors.index(b) for b in BEHAVIORS]], targets)


@PROPERTY
@given(
    boxes=st.lists(
        st.tuples(
            st.integers(0, N_FRAMES - 1),
            st.floats(0, 90),
            st.floats(0, 90),
            st.floats(1, 30),
            st.floats(1, 30),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_every_coco_file_round_trips(folder, boxes):
    from ethoprism.io.coco import read_coco, write_coco

    table = pd.DataFrame(
        [
            {"video": "a.mp4", "frame": f, "track": i, "x0": x, "y0": y, "x1": x + w, "y1": y + h}
            for i, (f, x, y, w, h) in enumerate(boxes)
        ],
        columns=BOX_COLUMNS,
    )
    path = folder / "boxes.json"
    write_coco(table, path, {"a.mp4": (128, 128)})
    read = read_coco(path)
    check_boxes(read)
    got = read.boxes.sort_values(["frame", "x0", "y0"]).reset_index(drop=True)
    want = table.sort_values(["frame", "x0", "y0"]).reset_index(drop=True)
    np.testing.assert_allclose(
        got[["x0", "y0", "x1", "y1"]].to_numpy(float),
        want[["x0", "y0", "x1", "y1"]].to_numpy(float),
        atol=1e-6,
    )
    assert got.frame.tolist() == want.frame.tolist()
