"""The error contract, case by case: well over 150 malformed inputs and faults across every command
and reader, generated here (no committed media). Each must end with exit code 2, exactly one
``error:`` line naming the problem, no traceback, and every finished output untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ethoprism.cli import app

V0 = "video_00.mp4"  # names in the session's synthetic store (150 frames at 30 fps, 96 px)
N_FRAMES = 150


@pytest.fixture(scope="module")
def world(synthetic_store, tmp_path_factory):
    """Finished work a failing command must not touch: a store with an index, a classification
    head and its predictions, a box head and its boxes."""
    root = tmp_path_factory.mktemp("world")
    store = root / "store"
    shutil.copytree(synthetic_store["store"], store)
    data = synthetic_store["root"] / "data"
    runner = CliRunner()
    steps = [
        ["index", str(store)],
        ["train", str(store), "--labels", str(synthetic_store["labels"]), "--out", str(root / "heads/lin")],
        ["predict", str(store), "--head", str(root / "heads/lin.json"), "--out", str(root / "pred")],
        [
            "localize",
            "train",
            str(store),
            "--boxes",
            str(data / "boxes.json"),
            "--out",
            str(root / "heads/box"),
        ]
        + ["--epochs", "2"],
        [
            "localize",
            "predict",
            str(store),
            "--head",
            str(root / "heads/box.json"),
            "--out",
            str(root / "boxes"),
        ],
    ]
    for argv in steps:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
    return {
        "root": root,
        "store": store,
        "labels": synthetic_store["labels"],
        "coco": data / "boxes.json",
        "video": data / V0,
        "head": root / "heads/lin.json",
        "box_head": root / "heads/box.json",
        "pred_frames": root / "pred" / "video_00.frames.csv",
        "boxes_csv": root / "boxes" / "boxes.csv",
    }


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Case:
    name: str
    argv: Callable[[dict, Path], list[str]]  # (world, tmp) -> command line


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# ---------------------------------------------------------------- label files, every reader
BOUTS = "video,behavior,start_frame,end_frame\n"
BORIS = "Media file name,FPS,Subject,Behavior,Behavior type,Time\n"
DEG = ",background,walk,groom\n"
SIMBA = ",nose_x,nose_y,walk,groom\n"
BINARY = "time,walk,groom\n"


def feral(labels, classes=None, **extra):
    return json.dumps({"class_names": classes or {"0": "other", "1": "walk"}, "labels": labels, **extra})


LABEL_FILES: dict[str, tuple[str, object]] = {
    # bouts CSV
    "bouts-empty": ("labels.csv", b""),
    "bouts-header-only": ("labels.csv", BOUTS),
    "bouts-binary-garbage": ("labels.csv", bytes(range(256)) * 8),
    "bouts-utf16": ("labels.csv", (BOUTS + f"{V0},walk,1,5\n").encode("utf-16")),
    "bouts-nan-start": ("labels.csv", BOUTS + f"{V0},walk,,10\n"),
    "bouts-negative-start": ("labels.csv", BOUTS + f"{V0},walk,-5,10\n"),
    "bouts-end-before-start": ("labels.csv", BOUTS + f"{V0},walk,20,10\n"),
    "bouts-fractional-frame": ("labels.csv", BOUTS + f"{V0},walk,3.5,10\n"),
    "bouts-overflow-frame": ("labels.csv", BOUTS + f"{V0},walk,1,99999999999999999999999\n"),
    "bouts-past-end": ("labels.csv", BOUTS + f"{V0},walk,10,100000\n"),
    "bouts-string-frame": ("labels.csv", BOUTS + f"{V0},walk,abc,10\n"),
    "bouts-unknown-video": ("labels.csv", BOUTS + "nosuch.mp4,walk,1,10\n"),
    "bouts-empty-behaviour": ("labels.csv", BOUTS + f"{V0},,1,10\n"),
    "bouts-missing-column": ("labels.csv", "video,behavior,start_frame\n" + f"{V0},walk,1\n"),
    "bouts-ragged-rows": ("labels.csv", BOUTS + f"{V0},walk,1,10,3,4,5\n{V0},walk\n"),
    # BORIS tabular events
    "boris-header-only": ("events.csv", BORIS),
    "boris-nan-time": ("events.csv", BORIS + f"{V0},30,,walk,START,\n{V0},30,,walk,STOP,2.0\n"),
    "boris-negative-time": ("events.csv", BORIS + f"{V0},30,,walk,START,-1.0\n{V0},30,,walk,STOP,2.0\n"),
    "boris-time-past-end": ("events.csv", BORIS + f"{V0},30,,walk,START,1.0\n{V0},30,,walk,STOP,60.0\n"),
    "boris-string-time": ("events.csv", BORIS + f"{V0},30,,walk,START,soon\n{V0},30,,walk,STOP,2.0\n"),
    "boris-empty-fps": ("events.csv", BORIS + f"{V0},,,walk,START,1.0\n{V0},,,walk,STOP,2.0\n"),
    "boris-unpaired-start": ("events.csv", BORIS + f"{V0},30,,walk,START,1.0\n{V0},30,,walk,START,2.0\n"),
    "boris-stop-without-start": ("events.csv", BORIS + f"{V0},30,,walk,STOP,1.0\n"),
    "boris-unknown-media": (
        "events.csv",
        BORIS + "nosuch.mp4,30,,walk,START,1.0\nnosuch.mp4,30,,walk,STOP,2\n",
    ),
    "boris-infinite-time": ("events.csv", BORIS + f"{V0},30,,walk,START,1.0\n{V0},30,,walk,STOP,inf\n"),
    "boris-stop-before-start": ("events.csv", BORIS + f"{V0},30,,walk,STOP,1.0\n{V0},30,,walk,START,2.0\n"),
    # DeepEthogram
    "deg-header-only": ("video_00_labels.csv", DEG),
    "deg-value-two": ("video_00_labels.csv", DEG + "".join(f"{i},0,2,0\n" for i in range(N_FRAMES))),
    "deg-nan": ("video_00_labels.csv", DEG + "".join(f"{i},1,,0\n" for i in range(N_FRAMES))),
    "deg-strings": ("video_00_labels.csv", DEG + "".join(f"{i},1,yes,0\n" for i in range(N_FRAMES))),
    "deg-too-many-rows": ("video_00_labels.csv", DEG + "".join(f"{i},1,0,0\n" for i in range(N_FRAMES * 2))),
    "deg-unknown-video": ("nosuch_labels.csv", DEG + "".join(f"{i},1,0,0\n" for i in range(N_FRAMES))),
    "deg-no-behaviours": (
        "video_00_labels.csv",
        ",background\n" + "".join(f"{i},1\n" for i in range(N_FRAMES)),
    ),
    # SimBA targets_inserted
    "simba-header-only": ("video_00.csv", SIMBA),
    "simba-value-two": ("video_00.csv", SIMBA + "".join(f"{i},1.5,2.5,2,0\n" for i in range(N_FRAMES))),
    "simba-too-many-rows": ("video_00.csv", SIMBA + "".join(f"{i},1.5,2.5,1,0\n" for i in range(999))),
    "simba-negative": ("video_00.csv", SIMBA + "".join(f"{i},1.5,2.5,-1,0\n" for i in range(N_FRAMES))),
    # BORIS binary table
    "binary-header-only": ("video_00_binary.csv", BINARY),
    "binary-nan-time": ("video_00_binary.csv", BINARY + "".join(f",{i % 2},0\n" for i in range(50))),
    "binary-negative-time": ("video_00_binary.csv", BINARY + "".join(f"{-i},1,0\n" for i in range(50))),
    "binary-decreasing-time": ("video_00_binary.csv", BINARY + "".join(f"{50 - i},1,0\n" for i in range(50))),
    # FERAL JSON
    "feral-invalid-json": ("labels.json", '{"class_names": {"0": "other"'),
    "feral-json-list": ("labels.json", "[1, 2, 3]"),
    "feral-missing-labels": ("labels.json", json.dumps({"class_names": {"0": "other"}})),
    "feral-class-names-list": ("labels.json", feral({V0: [0] * N_FRAMES}, classes=["other", "walk"])),
    "feral-class-id-not-int": ("labels.json", feral({V0: [0] * N_FRAMES}, classes={"a": "other"})),
    "feral-labels-list": ("labels.json", feral([[0] * N_FRAMES])),
    "feral-ragged": (
        "labels.json",
        json.dumps(
            {"class_names": {"0": "o", "1": "w"}, "is_multilabel": True, "labels": {V0: [[0, 1], [1]] * 75}}
        ),
    ),
    "feral-strings": ("labels.json", feral({V0: ["walk"] * N_FRAMES})),
    "feral-floats": ("labels.json", feral({V0: [0.5] * N_FRAMES})),
    "feral-unknown-class": ("labels.json", feral({V0: [7] * N_FRAMES})),
    "feral-nested-objects": ("labels.json", feral({V0: [{"a": 1}] * N_FRAMES})),
    "feral-frames-null": ("labels.json", feral({V0: None})),
    "feral-wrong-length": ("labels.json", feral({V0: [0, 1] * 10})),
    "feral-unknown-video": ("labels.json", feral({"nosuch.mp4": [0, 1] * 75})),
    "feral-splits-wrong": ("labels.json", feral({V0: [0, 1] * 75}, splits={"train": "video_00.mp4"})),
    "feral-multilabel-wrong-width": (
        "labels.json",
        json.dumps(
            {
                "class_names": {"0": "o", "1": "w"},
                "is_multilabel": True,
                "labels": {V0: [[0, 1, 1]] * N_FRAMES},
            }
        ),
    ),
    "feral-huge-int": ("labels.json", feral({V0: [10**30] * N_FRAMES})),
}


def _label_case(command: str, label_key: str) -> Case:
    name, content = LABEL_FILES[label_key]

    def argv(w, tmp):
        labels = write(tmp / "labels" / name, content)
        out = str(tmp / "out")
        if command == "train":
            return ["train", str(w["store"]), "--labels", str(labels), "--out", out + "/head"]
        if command == "evaluate":
            return ["evaluate", str(w["store"]), "--labels", str(labels), "--out", out]
        if command == "fewshot":
            return ["fewshot", str(w["store"]), "--labels", str(labels), "--out", out, "--shots", "2"]
        return ["evaluate-retrieval", str(w["store"]), "--labels", str(labels), "--out", out]

    return Case(f"{command}:{label_key}", argv)


LABEL_COMMANDS = ("train", "evaluate", "fewshot", "evaluate-retrieval")
CASES: list[Case] = [_label_case(c, k) for k in LABEL_FILES for c in LABEL_COMMANDS]


def case(name):
    def register(argv):
        CASES.append(Case(name, argv))
        return argv

    return register


def lab(w):
    return ["--labels", str(w["labels"])]


# ---------------------------------------------------------------- options
for option, value in [
    ("--head", "nosuch"),
    ("--format", "nosuch"),
    ("--exclusive", "maybe"),
    ("--smooth", "0"),
    ("--min-bout", "-1"),
    ("--backbone", "nosuch"),
    ("--weights", "nosuch"),
    ("--dtype", "fp16"),
]:
    CASES.append(
        Case(
            f"train:option{option}={value}",
            lambda w, tmp, o=option, v=value: [
                "train",
                str(w["store"]),
                *lab(w),
                "--out",
                str(tmp / "h"),
                o,
                v,
            ],
        )
    )
for option, value in [
    ("--folds", "0"),
    ("--folds", "1"),
    ("--folds", "99"),
    ("--split", "nosuch"),
    ("--head", "nosuch"),
    ("--smooth", "-2"),
]:
    CASES.append(
        Case(
            f"evaluate:option{option}={value}",
            lambda w, tmp, o=option, v=value: [
                "evaluate",
                str(w["store"]),
                *lab(w),
                "--out",
                str(tmp / "r"),
                o,
                v,
            ],
        )
    )
for extra in (
    ["--shots", "0"],
    ["--shots", "-3"],
    ["--seeds", "0"],
    ["--test-video", "nosuch.mp4"],
    [
        "--test-video",
        "video_00.mp4",
        "--test-video",
        "video_01.mp4",
        "--test-video",
        "video_02.mp4",
        "--test-video",
        "video_03.mp4",
    ],
    ["--head", "nosuch"],
):
    CASES.append(
        Case(
            "fewshot:option" + "=".join(extra[:2]) + ("(all videos)" if len(extra) > 2 else ""),
            lambda w, tmp, e=extra: ["fewshot", str(w["store"]), *lab(w), "--out", str(tmp / "r"), *e],
        )
    )
for extra in (
    ["--batch-size", "0"],
    ["--batch-size", "-1"],
    ["--token-step", "0"],
    ["--size", "0"],
    ["--size", "-5"],
    ["--frames", "0"],
    ["--overlap", "-1"],
    ["--device", "cuda"],
    ["--device", "nosuch"],
    ["--dtype", "fp16"],
    ["--backbone", "nosuch"],
    ["--frame-step", "0"],
    ["--protocol", "nosuch"],
    ["--square", "nosuch"],
):
    CASES.append(
        Case(
            "extract:option" + "=".join(extra),
            lambda w, tmp, e=extra: ["extract", str(w["video"]), "--store", str(tmp / "s"), *e],
        )
    )
for extra in (
    ["--k", "0"],
    ["--k", "-1"],
    ["--exclude", "-1"],
    ["--example", "video_00.mp4"],
    ["--example", "video_00.mp4:10-5"],
    ["--example", "video_00.mp4:10-99999"],
    ["--example", "nosuch.mp4:1-10"],
    ["--example", "video_00.mp4:a-b"],
    [],
):
    CASES.append(
        Case("search:option" + "=".join(extra), lambda w, tmp, e=extra: ["search", str(w["store"]), *e])
    )
for extra in (["--index-type", "nosuch"], ["--normalize", "sometimes"]):
    CASES.append(
        Case("index:option" + "=".join(extra), lambda w, tmp, e=extra: ["index", str(w["store"]), *e])
    )
for extra in (
    ["--n-videos", "0"],
    ["--n-frames", "0"],
    ["--seeds", "0"],
    ["--head", "nosuch"],
    ["--videos", "nosuch*.mp4"],
):
    CASES.append(
        Case("demo:option" + "=".join(extra), lambda w, tmp, e=extra: ["demo", "--out", str(tmp / "d"), *e])
    )
for extra in (["--epochs", "0"], ["--frames", "a-b"], ["--frames", "10-5"], ["--frames", "-3"]):
    CASES.append(
        Case(
            "localize-train:option" + "=".join(extra),
            lambda w, tmp, e=extra: [
                "localize",
                "train",
                str(w["store"]),
                "--boxes",
                str(w["coco"]),
                "--out",
                str(tmp / "b"),
                *e,
            ],
        )
    )
CASES.append(
    Case(
        "localize-predict:option--smooth=0",
        lambda w, tmp: [
            "localize",
            "predict",
            str(w["store"]),
            "--head",
            str(w["box_head"]),
            "--out",
            str(tmp / "o"),
            "--smooth",
            "0",
        ],
    )
)
CASES.append(
    Case(
        "render:option--max-frames=0",
        lambda w, tmp: ["render", str(w["video"]), "--out", str(tmp / "r.mp4"), "--max-frames", "0"],
    )
)
CASES.append(
    Case(
        "evaluate-retrieval:option--max-queries=0",
        lambda w, tmp: [
            "evaluate-retrieval",
            str(w["store"]),
            *lab(w),
            "--out",
            str(tmp / "r"),
            "--max-queries",
            "0",
        ],
    )
)


# ---------------------------------------------------------------- --out in the way
@case("train:out-is-a-folder")
def _(w, tmp):
    (tmp / "h.json").mkdir(parents=True)
    return ["train", str(w["store"]), *lab(w), "--out", str(tmp / "h")]


@case("evaluate:out-is-a-file")
def _(w, tmp):
    return ["evaluate", str(w["store"]), *lab(w), "--out", str(write(tmp / "r", "x"))]


@case("predict:out-is-a-file")
def _(w, tmp):
    return ["predict", str(w["store"]), "--head", str(w["head"]), "--out", str(write(tmp / "p", "x"))]


@case("localize-predict:out-is-a-file")
def _(w, tmp):
    out = write(tmp / "p", "x")
    return ["localize", "predict", str(w["store"]), "--head", str(w["box_head"]), "--out", str(out)]


@case("search:out-is-a-file")
def _(w, tmp):
    return ["search", str(w["store"]), "--example", f"{V0}:10-20", "--out", str(write(tmp / "s", "x"))]


@case("fewshot:out-is-a-file")
def _(w, tmp):
    return ["fewshot", str(w["store"]), *lab(w), "--out", str(write(tmp / "r", "x")), "--shots", "2"]


@case("render:out-is-a-folder")
def _(w, tmp):
    (tmp / "r.mp4").mkdir(parents=True)
    return ["render", str(w["video"]), "--out", str(tmp / "r.mp4")]


@case("render:out-is-the-video")
def _(w, tmp):
    video = tmp / "v.mp4"
    shutil.copy(w["video"], video)
    return ["render", str(video), "--out", str(video)]


@case("extract:store-is-a-file")
def _(w, tmp):
    return ["extract", str(w["video"]), "--store", str(write(tmp / "s", "x"))]


@case("extract:store-under-a-file")
def _(w, tmp):
    return ["extract", str(w["video"]), "--store", str(write(tmp / "s", "x") / "store")]


# ---------------------------------------------------------------- stores
STORE_COMMANDS = {
    "train": lambda w, s, tmp: ["train", str(s), *lab(w), "--out", str(tmp / "h")],
    "predict": lambda w, s, tmp: ["predict", str(s), "--head", str(w["head"]), "--out", str(tmp / "p")],
    "index": lambda w, s, tmp: ["index", str(s)],
    "search": lambda w, s, tmp: ["search", str(s), "--example", f"{V0}:10-20"],
    "info": lambda w, s, tmp: ["info", str(s)],
    "localize-predict": lambda w, s, tmp: [
        "localize",
        "predict",
        str(s),
        "--head",
        str(w["box_head"]),
        "--out",
        str(tmp / "o"),
    ],
}


def _missing_store(w, tmp):
    return tmp / "nosuch"


def _file_store(w, tmp):
    return write(tmp / "store", "not a folder")


def _empty_store(w, tmp):
    (tmp / "store").mkdir()
    return tmp / "store"


def _corrupt_entry_store(w, tmp):
    store = tmp / "store"
    shutil.copytree(w["store"], store, ignore=shutil.ignore_patterns("index*"))
    entry = sorted(store.glob("*/*.h5"))[0]
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 3])
    return store


for command, make_argv in STORE_COMMANDS.items():
    for kind, make_store in [
        ("missing", _missing_store),
        ("file", _file_store),
        ("empty", _empty_store),
        ("truncated-entry", _corrupt_entry_store),
    ]:
        if command == "info" and kind == "empty":
            continue  # an empty store is a valid, empty answer for info
        CASES.append(
            Case(
                f"{command}:store-{kind}",
                lambda w, tmp, f=make_argv, m=make_store: f(w, m(w, tmp), tmp),
            )
        )


# ---------------------------------------------------------------- index files
def _store_with_index(w, tmp):
    store = tmp / "store"
    shutil.copytree(w["store"], store)
    return store


def _index_folder(store: Path) -> Path:
    return next(store.glob("_index/*/current.json")).parent


INDEX_DAMAGE = {
    "current-garbage": lambda f: write(f / "current.json", "{not json"),
    "current-list": lambda f: write(f / "current.json", "[]"),
    "current-unknown-version": lambda f: write(f / "current.json", json.dumps({"version": 999})),
    "vectors-garbage": lambda f: [write(p, b"garbage") for p in f.glob("index-*.faiss")],
    "vectors-missing": lambda f: [p.unlink() for p in f.glob("index-*.faiss")],
    "videos-garbage": lambda f: [write(p, "{") for p in f.glob("videos-*.json")],
    "videos-wrong-count": lambda f: [
        write(p, json.dumps({**json.loads(p.read_text()), "videos": json.loads(p.read_text())["videos"][:1]}))
        for p in f.glob("videos-*.json")
    ],
}
for damage, apply in INDEX_DAMAGE.items():
    for command in ("search", "index"):

        def argv(w, tmp, apply=apply, command=command):
            store = _store_with_index(w, tmp)
            apply(_index_folder(store))
            return (
                ["search", str(store), "--example", f"{V0}:10-20"]
                if command == "search"
                else ["index", str(store)]
            )

        CASES.append(Case(f"{command}:index-{damage}", argv))


# ---------------------------------------------------------------- head files
def weights_of(head: Path) -> Path:
    return head.with_name(json.loads(head.read_text())["weights_file"])


def _head_copy(w, tmp, source="head"):
    head = tmp / "h.json"
    shutil.copy(w[source], head)
    shutil.copy(weights_of(w[source]), tmp / weights_of(w[source]).name)
    return head


def _edit_json(path: Path, edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


HEAD_DAMAGE = {
    "missing": lambda h: h.unlink(),
    "invalid-json": lambda h: write(h, "{"),
    "json-list": lambda h: write(h, "[]"),
    "unknown-class": lambda h: _edit_json(h, lambda d: d.update(kind="nosuch")),
    "missing-keys": lambda h: write(h, json.dumps({"kind": "linear"})),
    "extra-keys": lambda h: _edit_json(h, lambda d: d.update(surprise=1)),
    "behaviours-disagree": lambda h: _edit_json(h, lambda d: d.update(behaviors=d["behaviors"][:1])),
    "weights-missing": lambda h: weights_of(h).unlink(),
    "weights-garbage": lambda h: write(weights_of(h), b"\x00" * 64),
    "weights-name-escapes": lambda h: _edit_json(h, lambda d: d.update(weights_file="../../etc/passwd")),
    "weights-truncated": lambda h: write(weights_of(h), weights_of(h).read_bytes()[:100]),
}
for damage, apply in HEAD_DAMAGE.items():

    def argv(w, tmp, apply=apply):
        head = _head_copy(w, tmp)
        apply(head)
        return ["predict", str(w["store"]), "--head", str(head), "--out", str(tmp / "p")]

    CASES.append(Case(f"predict:head-{damage}", argv))

    def box_argv(w, tmp, apply=apply, damage=damage):
        head = _head_copy(w, tmp, "box_head")
        if damage != "behaviours-disagree":
            apply(head)
        else:
            _edit_json(head, lambda d: d.update(kind="linear"))
        return ["localize", "predict", str(w["store"]), "--head", str(head), "--out", str(tmp / "p")]

    CASES.append(Case(f"localize-predict:head-{damage}", box_argv))


@case("localize-predict:classification-head")
def _(w, tmp):
    return [
        "localize",
        "predict",
        str(w["store"]),
        "--head",
        str(_head_copy(w, tmp)),
        "--out",
        str(tmp / "p"),
    ]


@case("predict:box-head")
def _(w, tmp):
    return [
        "predict",
        str(w["store"]),
        "--head",
        str(_head_copy(w, tmp, "box_head")),
        "--out",
        str(tmp / "p"),
    ]


# ---------------------------------------------------------------- box files
def coco(images, annotations):
    return json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]})


IMG = {"id": 1, "file_name": V0, "frame": 3, "width": 96, "height": 96}
ANN = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}
BOX_FILES = {
    "coco-nan-box": ("b.json", coco([IMG], [{**ANN, "bbox": [float("nan"), 1, 2, 3]}]).replace("NaN", "NaN")),
    "coco-string-box": ("b.json", coco([IMG], [{**ANN, "bbox": ["a", 1, 2, 3]}])),
    "coco-short-box": ("b.json", coco([IMG], [{**ANN, "bbox": [1, 2]}])),
    "coco-negative-size": ("b.json", coco([IMG], [{**ANN, "bbox": [10, 10, -5, 20]}])),
    "coco-string-frame": ("b.json", coco([{**IMG, "frame": "three"}], [ANN])),
    "coco-negative-frame": ("b.json", coco([{**IMG, "frame": -4}], [ANN])),
    "coco-frame-past-end": ("b.json", coco([{**IMG, "frame": 100000}], [ANN])),
    "coco-unknown-video": ("b.json", coco([{**IMG, "file_name": "nosuch.mp4"}], [ANN])),
    "coco-unknown-image": ("b.json", coco([IMG], [{**ANN, "image_id": 99}])),
    "coco-missing-images": ("b.json", json.dumps({"annotations": [ANN]})),
    "coco-empty-object": ("b.json", "{}"),
    "coco-invalid-json": ("b.json", "{"),
    "coco-list": ("b.json", "[]"),
    "slp-garbage": ("b.slp", b"\x89HDF garbage" * 10),
    "dlc-h5-garbage": ("b.h5", b"not hdf5" * 10),
    "dlc-csv-garbage": ("CollectedData_x.csv", "scorer,a\nbodyparts\n1,2,3\n"),
    "unknown-extension": ("b.txt", "hello"),
    "empty-file": ("b.json", b""),
}
for key, (name, content) in BOX_FILES.items():

    def train_argv(w, tmp, name=name, content=content):
        boxes = write(tmp / name, content)
        return [
            "localize",
            "train",
            str(w["store"]),
            "--boxes",
            str(boxes),
            "--out",
            str(tmp / "b"),
            "--epochs",
            "1",
        ]

    def eval_argv(w, tmp, name=name, content=content):
        boxes = write(tmp / name, content)
        return [
            "localize",
            "evaluate",
            str(w["store"]),
            "--boxes",
            str(boxes),
            "--predictions",
            str(w["boxes_csv"]),
        ]

    CASES.append(Case(f"localize-train:boxes-{key}", train_argv))
    CASES.append(Case(f"localize-evaluate:boxes-{key}", eval_argv))


# ---------------------------------------------------------------- prediction/box tables
TABLES = {
    "empty": b"",
    "header-only": "video,frame,track,x0,y0,x1,y1,score\n",
    "garbage": bytes(range(256)) * 4,
    "missing-columns": "a,b\n1,2\n",
    "string-frames": "video,frame,track,x0,y0,x1,y1,score\nvideo_00.mp4,abc,0,1,1,5,5,0.9\n",
    "nan-boxes": "video,frame,track,x0,y0,x1,y1,score\nvideo_00.mp4,1,0,,1,5,5,0.9\n",
    "duplicate-frames": "video,frame,track,x0,y0,x1,y1,score\n" + "video_00.mp4,1,0,1,1,5,5,0.9\n" * 2,
}
for key, content in TABLES.items():

    def render_boxes(w, tmp, content=content):
        return [
            "render",
            str(w["video"]),
            "--out",
            str(tmp / "r.mp4"),
            "--boxes",
            str(write(tmp / "b.csv", content)),
        ]

    def render_pred(w, tmp, content=content, key=key):
        if key == "header-only":
            content = "frame,time,walk,groom,prediction\n"
        if key == "duplicate-frames":
            content = "frame,time,p_walk,prediction\n0,0,0.5,walk\n0,0,0.5,walk\n"
        return [
            "render",
            str(w["video"]),
            "--out",
            str(tmp / "r.mp4"),
            "--predictions",
            str(write(tmp / "p.csv", content)),
        ]

    def evaluate_pred(w, tmp, content=content):
        return [
            "localize",
            "evaluate",
            str(w["store"]),
            "--boxes",
            str(w["coco"]),
            "--predictions",
            str(write(tmp / "b.csv", content)),
        ]

    CASES.append(Case(f"render:boxes-table-{key}", render_boxes))
    CASES.append(Case(f"render:predictions-table-{key}", render_pred))
    CASES.append(Case(f"localize-evaluate:predictions-{key}", evaluate_pred))


# ---------------------------------------------------------------- videos and text
@case("render:video-garbage")
def _(w, tmp):
    return ["render", str(write(tmp / "v.mp4", b"garbage" * 100)), "--out", str(tmp / "r.mp4")]


@case("render:video-missing")
def _(w, tmp):
    return ["render", str(tmp / "nosuch.mp4"), "--out", str(tmp / "r.mp4")]


@case("search:clip-garbage")
def _(w, tmp):
    return ["search", str(w["store"]), "--clip", str(write(tmp / "c.mp4", b"garbage" * 100))]


@case("search:text-on-image-backbone")
def _(w, tmp):
    return ["search", str(w["store"]), "--text", "a mouse grooming"]


@case("zero-shot:image-backbone")
def _(w, tmp):
    return ["zero-shot", str(w["store"]), "--behavior", "groom", "--out", str(tmp / "z")]


@case("demo:labels-without-videos")
def _(w, tmp):
    return ["demo", "--out", str(tmp / "d"), "--labels", str(w["labels"])]


@case("demo:videos-garbage")
def _(w, tmp):
    return [
        "demo",
        "--out",
        str(tmp / "d"),
        "--videos",
        str(write(tmp / "v.mp4", b"x" * 1000)),
        "--labels",
        str(w["labels"]),
    ]


def test_the_catalogue_is_large():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 150
    assert {n.split(":")[0] for n in names} >= {
        "train",
        "predict",
        "evaluate",
        "fewshot",
        "extract",
        "info",
        "index",
        "search",
        "zero-shot",
        "evaluate-retrieval",
        "localize-train",
        "localize-predict",
        "localize-evaluate",
        "render",
        "demo",
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_gets_one_error_line_and_exit_2(case, world, tmp_path):
    before = digest(world["root"])
    argv = case.argv(world, tmp_path)
    result = CliRunner().invoke(app, argv)
    output = result.output
    assert "Traceback" not in output
    assert result.exit_code == 2, (argv, output, repr(result.exception))
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert len(errors[0]) > len("error: ") + 10, output
    assert digest(world["root"]) == before
    assert not list(tmp_path.rglob("*.tmp*")), "temporary files left behind"
    np.testing.assert_(True)
