import json

import numpy as np
import pandas as pd
import pytest

from ethoprism.errors import EthoprismError
from ethoprism.io import (
    detect_format,
    read_boris_binary,
    read_boris_events,
    read_bouts_csv,
    read_deepethogram,
    read_feral,
    read_labels,
    read_simba,
    write_boris_events,
    write_deepethogram,
)
from ethoprism.labels import VideoLabels, bouts_from_mask

BORIS8_HEADER = (
    "Observation id,Observation date,Description,Observation duration,Observation type,Source,"
    "Media duration (s),FPS,Subject,Behavior,Behavioral category,Behavior type,Time,Media file name,"
    "Image index,Image file path,Comment"
)


def boris8(rows):
    lines = [BORIS8_HEADER]
    for subject, behavior, status, time in rows:
        lines.append(
            f"obs1,2024-05-01 10:00:00,,20.0,Media file(s),player #1:/data/mouse1.mp4,10.0,10.0,"
            f"{subject},{behavior},,{status},{time},/data/mouse1.mp4,,,"
        )
    return "\n".join(lines) + "\n"


def test_model_distinguishes_unlabelled_from_background():
    targets = np.array([[1, 0], [0, 0], [-1, -1], [0, 1]])
    labels = VideoLabels("v.mp4", ["a", "b"], targets, exclusive=True)
    assert list(labels.labelled) == [True, True, False, True]
    assert list(labels.background) == [False, True, False, False]
    assert list(labels.class_index()) == [1, 0, -1, 2]
    with pytest.raises(EthoprismError, match="overlapping labels at frame 0"):
        VideoLabels("v.mp4", ["a", "b"], [[1, 1]], exclusive=True)
    with pytest.raises(EthoprismError, match="labels cover 4 frames but video 'v.mp4' has 5"):
        labels.check_against_video(5)
    with pytest.raises(EthoprismError, match="made at 30 fps but video 'v.mp4' is 25 fps"):
        VideoLabels("v.mp4", ["a"], [[1]], fps=30).check_against_video(1, 25)
    assert bouts_from_mask([0, 1, 1, 0, 1]) == [(1, 2), (4, 4)]


def test_deepethogram_round_trip_and_bad_values(tmp_path):
    path = tmp_path / "mouse1_labels.csv"
    pd.DataFrame({"background": [1, 0, 0, -1], "groom": [0, 1, 1, -1], "rear": [0, 0, 1, -1]}).to_csv(path)
    labels = read_deepethogram(path)
    assert labels.video == "mouse1" and labels.behaviors == ["groom", "rear"]
    assert labels.targets.tolist() == [[0, 0], [1, 0], [1, 1], [-1, -1]]
    out = tmp_path / "again_labels.csv"
    write_deepethogram(labels, out)
    assert read_deepethogram(out).targets.tolist() == labels.targets.tolist()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"background": [1, 2], "groom": [0, 0]}).to_csv(bad)
    with pytest.raises(EthoprismError, match="must be 0, 1 or -1"):
        read_deepethogram(bad)
    no_bg = tmp_path / "nobg.csv"
    pd.DataFrame({"groom": [0, 1]}).to_csv(no_bg)
    with pytest.raises(EthoprismError, match="no 'background' column"):
        read_deepethogram(no_bg)


def test_boris_tabular_events_states_points_subjects(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        boris8(
            [
                ("mouse A", "groom", "START", 1.0),
                ("mouse A", "groom", "STOP", 1.5),
                ("mouse A", "sniff", "POINT", 2.0),
                ("mouse B", "rear", "START", 0.0),
                ("mouse B", "rear", "STOP", 0.3),
            ]
        )
    )
    labels = read_boris_events(path)
    assert [(label.video, label.subject) for label in labels] == [
        ("mouse1.mp4", "mouse A"),
        ("mouse1.mp4", "mouse B"),
    ]
    a = labels[0]
    assert a.n_frames == 100 and a.fps == 10.0 and a.behaviors == ["groom", "rear", "sniff"]
    assert np.flatnonzero(a.targets[:, 0]).tolist() == [10, 11, 12, 13, 14]  # STOP frame excluded
    assert np.flatnonzero(a.targets[:, 2]).tolist() == [20]
    assert np.flatnonzero(labels[1].targets[:, 1]).tolist() == [0, 1, 2]


def test_boris_times_map_by_video_timestamps(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text(boris8([("", "groom", "START", 0.5), ("", "groom", "STOP", 1.0)]).replace(",", "\t"))
    timestamps = np.array([0.0, 0.1, 0.45, 0.6, 0.9, 1.01, 1.2])  # variable frame rate
    (labels,) = read_boris_events(path, n_frames=7, timestamps=timestamps)
    assert np.flatnonzero(labels.targets[:, 0]).tolist() == [2, 3, 4]


@pytest.mark.parametrize(
    "rows,problem",
    [
        ([("A", "groom", "START", 1.0), ("A", "groom", "START", 2.0)], "unpaired START"),
        ([("A", "groom", "STOP", 1.0)], "unpaired STOP"),
        ([("A", "groom", "START", 1.0)], "never stopped"),
    ],
)
def test_boris_unpaired_events(tmp_path, rows, problem):
    path = tmp_path / "events.csv"
    path.write_text(boris8(rows))
    with pytest.raises(EthoprismError, match=problem) as info:
        read_boris_events(path)
    assert str(path) in str(info.value)


def test_boris_export_round_trips_through_the_reader(tmp_path):
    bouts = pd.DataFrame(
        {"behavior": ["groom", "rear"], "start_s": [1.0, 3.0], "end_s": [1.9, 3.0], "score": [0.9, 0.7]}
    )
    path = tmp_path / "pred.boris.tsv"
    write_boris_events(bouts, path, fps=10.0, media_file="mouse1.mp4", duration_s=10.0)
    table = pd.read_csv(path, sep="\t")
    assert table["Behavior type"].tolist() == ["START", "STOP", "START", "STOP"]
    (labels,) = read_boris_events(path)
    assert np.flatnonzero(labels.targets[:, labels.behaviors.index("groom")]).tolist() == list(range(10, 20))
    assert np.flatnonzero(labels.targets[:, labels.behaviors.index("rear")]).tolist() == [30]


def test_boris_binary_table(tmp_path):
    path = tmp_path / "mouse1_binary.tsv"
    pd.DataFrame(
        {"time": [0.0, 0.2, 0.4, 0.6], "mouse A # groom": [0, 1, 1, 0], "mouse A # rear": [0, 0, 0, 1]}
    ).to_csv(path, sep="\t", index=False)
    labels = read_boris_binary(path, "mouse1.mp4", n_frames=10, fps=10.0)
    assert labels.behaviors == ["groom", "rear"] and labels.subject == "mouse A"
    assert labels.targets[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 0, -1, -1, -1]


def test_feral_single_and_multi_label(tmp_path):
    path = tmp_path / "feral.json"
    path.write_text(
        json.dumps(
            {
                "is_multilabel": False,
                "class_names": {"0": "other", "1": "groom", "2": "rear"},
                "splits": {"train": ["a.mp4"], "val": [], "test": ["b.mp4"], "inference": []},
                "labels": {"a.mp4": [0, 1, 1, 2, -1], "b.mp4": [2, 2, 0]},
            }
        )
    )
    labels, splits = read_feral(path)
    assert [label.video for label in labels] == ["a.mp4", "b.mp4"] and splits["test"] == ["b.mp4"]
    assert labels[0].targets.tolist() == [[0, 0], [1, 0], [1, 0], [0, 1], [-1, -1]] and labels[0].exclusive
    multi = tmp_path / "multi.json"
    multi.write_text(
        json.dumps(
            {
                "is_multilabel": True,
                "class_names": {"0": "other", "1": "groom", "2": "rear"},
                "labels": {"a.mp4": [[1, 0, 0], [0, 1, 1]]},
            }
        )
    )
    (m,), _ = read_feral(multi)
    assert m.targets.tolist() == [[0, 0], [1, 1]] and not m.exclusive
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EthoprismError, match="malformed JSON"):
        read_feral(broken)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"class_names": {"0": "other"}, "labels": {"a.mp4": [0, 5]}}))
    with pytest.raises(EthoprismError, match=r"class ids \[5\]"):
        read_feral(unknown)


def test_simba_targets_inserted(tmp_path):
    path = tmp_path / "mouse1.csv"
    table = pd.DataFrame(
        {
            "Nose_1_x": [1.5, 2.5, 3.5],
            "Nose_1_y": [4.0, 5.0, 6.0],
            "Nose_1_p": [0.9, 1.0, 0.8],
            "Attack": [0, 1, 1],
            "Sniffing": [1, 0, 0],
        }
    )
    table.to_csv(path)
    labels = read_simba(path, fps=30)
    assert labels.behaviors == ["Attack", "Sniffing"] and labels.video == "mouse1.mp4"
    assert labels.targets.tolist() == [[0, 1], [1, 0], [1, 0]]
    with pytest.raises(EthoprismError, match="unknown behaviour names"):
        read_simba(path, behaviors=["Grooming"])


def test_bouts_csv_and_validation(tmp_path):
    path = tmp_path / "bouts.csv"
    path.write_text(
        "video,behavior,start_frame,end_frame\nv1.mp4,groom,2,4\nv1.mp4,rear,6,6\nv2.mp4,groom,0,0\n"
    )
    labels = read_bouts_csv(path, {"v1.mp4": 8, "v2.mp4": 3})
    assert labels[0].targets[:, 0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    with pytest.raises(EthoprismError, match="outside video 'v1.mp4'"):
        read_bouts_csv(path, {"v1.mp4": 5, "v2.mp4": 3})
    with pytest.raises(EthoprismError, match="not among the videos"):
        read_bouts_csv(path, {"v1.mp4": 8})
    with pytest.raises(EthoprismError, match="unknown behaviour names"):
        read_bouts_csv(path, {"v1.mp4": 8, "v2.mp4": 3}, behaviors=["groom"])
    overlap = tmp_path / "overlap.csv"
    overlap.write_text("video,behavior,start_frame,end_frame\nv1.mp4,groom,2,4\nv1.mp4,rear,4,5\n")
    with pytest.raises(EthoprismError, match="overlapping labels at frame 4"):
        read_bouts_csv(overlap, {"v1.mp4": 8}, exclusive=True)


def test_read_labels_detects_formats_and_checks_videos(tmp_path):
    videos = {"mouse1.mp4": {"n_frames": 100, "fps": 10.0, "timestamps": np.arange(100) / 10}}
    boris = tmp_path / "events.csv"
    boris.write_text(boris8([("", "groom", "START", 1.0), ("", "groom", "STOP", 2.0)]))
    assert detect_format(boris) == "boris-events"
    (labels,) = read_labels(boris, videos)
    assert labels.targets[:, 0].sum() == 10
    deg = tmp_path / "mouse1_labels.csv"
    pd.DataFrame({"background": [1] * 90, "groom": [0] * 90}).to_csv(deg)
    assert detect_format(deg) == "deepethogram"
    with pytest.raises(EthoprismError, match="labels cover 90 frames but video 'mouse1.mp4' has 100"):
        read_labels(deg, videos)
    wrong_fps = {"mouse1.mp4": {"n_frames": 100, "fps": 25.0, "timestamps": np.arange(100) / 25}}
    with pytest.raises(EthoprismError, match="made at 10 fps but video 'mouse1.mp4' is 25 fps"):
        read_labels(boris, wrong_fps)
    with pytest.raises(EthoprismError, match="unknown behaviour names"):
        read_labels(boris, videos, behaviors=["rear"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(EthoprismError, match="label file is empty"):
        read_labels(empty, videos)


def _deepethogram_csv(path, n, groom_frames):
    groom = np.zeros(n, int)
    groom[groom_frames] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"background": 1 - groom, "groom": groom}).to_csv(path)


def test_label_sets_from_project_folders_globs_and_several_files(tmp_path):
    videos = {
        f"mouse{i}.mp4": {"n_frames": 20, "fps": 10.0, "timestamps": np.arange(20) / 10} for i in (1, 2)
    }
    project = tmp_path / "deg_project"
    for i in (1, 2):
        _deepethogram_csv(project / "DATA" / f"mouse{i}" / f"mouse{i}_labels.csv", 20, slice(i, i + 3))
    for source in (
        [project],
        [project / "DATA"],
        [str(project / "DATA" / "*" / "*_labels.csv")],
        [
            project / "DATA" / "mouse1" / "mouse1_labels.csv",
            project / "DATA" / "mouse2" / "mouse2_labels.csv",
        ],
    ):
        labels = sorted(read_labels(source, videos), key=lambda label: label.video)
        assert [label.video for label in labels] == ["mouse1.mp4", "mouse2.mp4"]
        assert [int(label.targets[:, 0].sum()) for label in labels] == [3, 3]
        assert labels[1].targets[2:5, 0].tolist() == [1, 1, 1]

    simba = tmp_path / "simba" / "project_folder" / "csv" / "targets_inserted"
    simba.mkdir(parents=True)
    for i in (1, 2):
        attack = np.zeros(20, int)
        attack[i * 5 : i * 5 + 2] = 1
        pd.DataFrame({"nose_x": np.arange(20.0), "nose_y": 1.0, "nose_p": 0.9, "attack": attack}).to_csv(
            simba / f"mouse{i}.csv"
        )
    labels = read_labels(tmp_path / "simba", videos)
    assert {label.video: int(np.flatnonzero(label.targets[:, 0])[0]) for label in labels} == {
        "mouse1.mp4": 5,
        "mouse2.mp4": 10,
    }

    with pytest.raises(EthoprismError, match="glob matched no label files"):
        read_labels([str(tmp_path / "nothing" / "*.csv")], videos)
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(EthoprismError, match="folder holds no label files"):
        read_labels(empty, videos)
    copy = tmp_path / "copy" / "mouse1_labels.csv"
    _deepethogram_csv(copy, 20, slice(0, 1))
    with pytest.raises(EthoprismError, match="labels for video 'mouse1.mp4' come from two files"):
        read_labels([project, copy], videos)


def test_exclusive_auto_is_decided_from_the_labels(tmp_path):
    n_frames = {"v1.mp4": {"n_frames": 8, "fps": 10.0, "timestamps": np.arange(8) / 10}}
    apart = tmp_path / "apart.csv"
    apart.write_text("video,behavior,start_frame,end_frame\nv1.mp4,groom,0,2\nv1.mp4,rear,4,5\n")
    assert all(label.exclusive for label in read_labels(apart, n_frames))
    overlap = tmp_path / "overlap.csv"
    overlap.write_text("video,behavior,start_frame,end_frame\nv1.mp4,groom,0,4\nv1.mp4,rear,4,5\n")
    assert not any(label.exclusive for label in read_labels(overlap, n_frames))
    assert not any(label.exclusive for label in read_labels(apart, n_frames, exclusive=False))
    with pytest.raises(EthoprismError, match="overlapping labels at frame 4"):
        read_labels(overlap, n_frames, exclusive=True)
    videos = {"mouse1.mp4": {"n_frames": 200, "fps": 10.0, "timestamps": np.arange(200) / 10}}
    boris = tmp_path / "events.csv"
    boris.write_text(
        boris8(
            [
                ("", "groom", "START", 1.0),
                ("", "groom", "STOP", 2.0),
                ("", "rear", "START", 3.0),
                ("", "rear", "STOP", 4.0),
            ]
        )
    )
    assert read_labels(boris, videos)[0].exclusive
    boris.write_text(
        boris8(
            [
                ("", "groom", "START", 1.0),
                ("", "groom", "STOP", 2.0),
                ("", "rear", "START", 1.5),
                ("", "rear", "STOP", 4.0),
            ]
        )
    )
    assert not read_labels(boris, videos)[0].exclusive


def test_boris_times_map_to_the_nearest_timestamp_with_or_without_the_video(tmp_path):
    boris = tmp_path / "events.csv"
    # 0.15 s lies half-way between frames 1 and 2 at 10 fps: the earlier frame wins, either way
    boris.write_text(boris8([("", "sniff", "POINT", 0.15)]))
    (alone,) = read_boris_events(boris, n_frames=100, fps=10.0)
    (with_video,) = read_boris_events(boris, n_frames=100, timestamps=np.arange(100) / 10)
    assert np.flatnonzero(alone.targets[:, 0]).tolist() == [1]
    assert np.flatnonzero(with_video.targets[:, 0]).tolist() == [1]


def test_formats_are_chosen_by_their_validators(tmp_path):
    bouts = tmp_path / "b.csv"
    bouts.write_text("video,behavior,start_frame,end_frame\nv.mp4,groom,0,3\n")
    deg = tmp_path / "v_labels.csv"
    pd.DataFrame({"background": [1, 0, -1], "groom": [0, 1, -1]}).to_csv(deg)
    binary = tmp_path / "binary.tsv"
    binary.write_text("time\tgroom\trear\n0.0\t0\t1\n0.1\t1\t0\n")
    simba = tmp_path / "simba.csv"
    pd.DataFrame({"Nose_x": [1.5, 2.5], "Nose_y": [3.0, 4.0], "Nose_p": [0.9, 0.8], "attack": [0, 1]}).to_csv(
        simba
    )
    boris = tmp_path / "events.csv"
    boris.write_text(boris8([("", "groom", "START", 1.0), ("", "groom", "STOP", 2.0)]))
    feral = tmp_path / "f.json"
    feral.write_text(json.dumps({"class_names": {"0": "other"}, "labels": {}}))
    assert [detect_format(p) for p in (bouts, deg, binary, simba, boris, feral)] == [
        "bouts",
        "deepethogram",
        "boris-binary",
        "simba",
        "boris-events",
        "feral",
    ]
    # a table no validator accepts is refused, not read as SimBA by default
    other = tmp_path / "scores.csv"
    other.write_text("frame,score,name\n0,0.37,a\n1,2.5,b\n")
    with pytest.raises(EthoprismError, match="not a label file ethoprism can read"):
        detect_format(other)
    # "time" alone no longer makes a BORIS binary table: its columns must be 0/1
    with pytest.raises(EthoprismError, match="not a label file"):
        detect_format(tmp_path.joinpath("t.csv").write_text("time,speed\n0.0,3.2\n") and tmp_path / "t.csv")
    json_other = tmp_path / "other.json"
    json_other.write_text(json.dumps({"images": []}))
    with pytest.raises(EthoprismError, match="not a FERAL file"):
        detect_format(json_other)


def test_several_subjects_are_never_merged_into_one_animal(tmp_path):
    """A resident/intruder BORIS file: refused with the subjects named, or one subject kept."""
    path = tmp_path / "events.csv"
    path.write_text(
        boris8(
            [
                ("resident", "attack", "START", 1.0),
                ("resident", "attack", "STOP", 1.5),
                ("intruder", "attack", "START", 3.0),
                ("intruder", "attack", "STOP", 3.5),
            ]
        )
    )
    videos = {"mouse1.mp4": {"n_frames": 100, "fps": 10.0, "timestamps": None}}
    with pytest.raises(EthoprismError, match=r"several subjects \(intruder, resident\).*--subject") as info:
        read_labels(path, videos)
    assert str(path) in str(info.value)
    (resident,) = read_labels(path, videos, subject="resident")
    assert resident.subject == "resident" and np.flatnonzero(resident.targets[:, 0]).tolist() == list(
        range(10, 15)
    )
    with pytest.raises(EthoprismError, match="no subject 'mouse'.*intruder, resident"):
        read_labels(path, videos, subject="mouse")
    # the binary table: "subject # behaviour" columns of two subjects were one column name twice
    binary = tmp_path / "mouse1_binary.tsv"
    pd.DataFrame({"time": [0.0, 0.5], "resident # attack": [0, 1], "intruder # attack": [1, 0]}).to_csv(
        binary, sep="\t", index=False
    )
    with pytest.raises(EthoprismError, match=r"several subjects \(intruder, resident\)"):
        read_labels(binary, videos)
    (intruder,) = read_labels(binary, videos, subject="intruder")
    assert intruder.behaviors == ["attack"] and intruder.targets[:10, 0].tolist() == [1] * 5 + [0] + [-1] * 4
    # a file of one subject needs no choice, and --subject does not refuse files without subjects
    single = tmp_path / "one.csv"
    single.write_text(boris8([("resident", "attack", "START", 1.0), ("resident", "attack", "STOP", 1.5)]))
    assert read_labels(single, videos)[0].subject == "resident"


def test_subject_option_reaches_the_commands(tmp_path):
    from typer.testing import CliRunner

    from ethoprism.cli import app

    path = tmp_path / "events.csv"
    path.write_text(
        boris8([("resident", "attack", "START", 1.0), ("resident", "attack", "STOP", 1.5)])
        + boris8([("intruder", "attack", "START", 3.0), ("intruder", "attack", "STOP", 3.5)]).split("\n", 1)[
            1
        ]
    )
    for command in ("train", "evaluate", "fewshot"):
        result = CliRunner().invoke(
            app,
            [
                command,
                str(tmp_path / "nostore"),
                "--labels",
                str(path),
                "--out",
                str(tmp_path / "o"),
                "--subject",
                "resident",
            ],
        )
        assert "No such option" not in result.output, command
    for command in ("suggest", "export-nwb", "app"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert "--subject" in result.output, command


def test_simba_gaps_and_duplicate_columns_are_refused_not_dropped(tmp_path):
    path = tmp_path / "mouse1.csv"
    table = pd.DataFrame({"Nose_1_x": [1.5, 2.5, 3.5], "Attack": [0, 1, 1], "Sniffing": [1, 0, 0]})
    table.loc[1, "Sniffing"] = np.nan
    table.to_csv(path)
    with pytest.raises(
        EthoprismError, match=r"row 3 \(frame 1\) has an empty cell in behaviour column 'Sniffing'"
    ) as info:
        read_simba(path, fps=30)
    assert str(path) in str(info.value)
    path.write_text(",Nose_1_x,Attack,Attack\n0,1.5,0,1\n1,2.5,1,0\n")
    with pytest.raises(EthoprismError, match="names column 'Attack' twice"):
        read_simba(path, fps=30)


def test_mabe_annotations_name_the_agent_and_end_before_stop_frame(tmp_path):
    from ethoprism.io.labels import detect_format, read_labels

    table = pd.DataFrame(
        {
            "agent_id": [1, 2, 1],
            "target_id": ["2", "2", "self"],
            "action": ["attack", "selfgroom", "rear"],
            "start_frame": [10, 0, 30],
            "stop_frame": [20, 5, 31],
        }
    )
    path = tmp_path / "session7.parquet"
    table.to_parquet(path)
    assert detect_format(path) == "mabe"
    videos = {"session7.mp4": {"n_frames": 50, "fps": 30.0}, "other.mp4": {"n_frames": 50, "fps": 30.0}}
    labels = {(label.video, label.subject): label for label in read_labels(path, videos, animals=True)}
    assert set(labels) == {("session7.mp4", "mouse1"), ("session7.mp4", "mouse2")}
    mouse1 = labels[("session7.mp4", "mouse1")]
    attack = mouse1.targets[:, mouse1.behaviors.index("attack")]
    assert attack[10:20].all() and attack.sum() == 10  # stop_frame is the first frame after the bout
    assert mouse1.targets[30, mouse1.behaviors.index("rear")] == 1
    # a video_id column names the video; a stop before the start is refused with its row
    table.assign(video_id="other").to_csv(tmp_path / "any_name.csv", index=False)
    assert {label.video for label in read_labels(tmp_path / "any_name.csv", videos, animals=True)} == {
        "other.mp4"
    }
    table.assign(stop_frame=[20, 0, 31]).to_csv(tmp_path / "session7.csv", index=False)
    with pytest.raises(EthoprismError, match="row 2: stop_frame 0 is not after start_frame 0"):
        read_labels(tmp_path / "session7.csv", videos, animals=True)
