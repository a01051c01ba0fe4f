"""Who does what, end to end on the real two-fly clip (tracks from SLEAP, behaviours derived from
each fly's own pose): per-animal rows, folds by video, the animal-blind baseline, outputs with an
animal column, and the label errors."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import FLY_CLIP, fly_parts_with_tracks, needs_shared
from ethoprism.cli import app
from ethoprism.errors import EthoprismError
from ethoprism.workflows import classify

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
runner = CliRunner()
pytestmark = needs_shared(FLY_CLIP)


@pytest.fixture(scope="module")
def fly(tmp_path_factory):
    return fly_parts_with_tracks(tmp_path_factory.mktemp("flies"), parts=3, size=128)


def test_rows_per_animal_and_frame_and_folds_by_video(fly):
    data = classify.load_labelled(fly["store"], fly["labels"])
    assert data.per_animal and data.animals == ["female", "male"] * 3
    assert len(data.X) == 3 * 48 * 2 and data.X.shape[1] == 3 * 1280 + 8  # own, frame, the other fly, social
    assert data.behaviors == ["moving", "wing_extension"]
    # the male extends a wing, the female never: per-animal labels differ on the same frames
    male = np.isin(data.groups, [1, 3, 5])
    assert data.Y[male, 1].mean() > 0.5 and data.Y[~male, 1].max() == 0
    report = classify.evaluate(data, ["mlp"], fly["work"] / "report")
    # the MLP: 3 x 1280 + 8 features on 96 rows per fold are too many for the linear head
    head = report["heads"]["mlp"]
    assert [sorted(f["test_videos"]) for f in head["metrics"]["folds"]] == [
        [v] for v in sorted(set(data.videos))
    ]
    blind = head["animal_blind"]
    # a blind scorer gives both flies one score: on wing extension it can reach precision 1/2 at most
    assert blind["ceiling_per_class_ap"]["wing_extension"] == pytest.approx(0.5, abs=0.05)
    per_animal = head["metrics"]["per_class"]["wing_extension"]["ap"]
    assert per_animal > blind["ceiling_per_class_ap"]["wing_extension"] + 0.2
    assert per_animal > blind["per_class"]["wing_extension"]["ap"]
    frames = pd.read_csv(fly["work"] / "report" / "predictions_mlp" / "fly_part0.frames.csv")
    assert list(frames.columns[:3]) == ["video", "animal", "frame"] and len(frames) == 2 * 48
    table = pd.read_csv(fly["work"] / "report" / "metrics.csv")
    blind_all = table[(table["head"] == "mlp (animal-blind)") & (table.behavior == "ALL")].iloc[0]
    assert blind_all.ap == pytest.approx(blind["map"]) and blind_all.ceiling_ap == pytest.approx(
        blind["ceiling_map"]
    )
    html = (fly["work"] / "report" / "report.html").read_text()
    assert "animal-blind mAP" in html and "animal-blind ceiling mAP" in html


def test_the_token_head_attends_over_the_animals_of_each_frame(fly, tmp_path):
    """attentive-tokens on per-animal rows: each row is a set of tokens (the animal, the frame,
    every other animal nearest first, the social features), attended over a window of frames."""
    from ethoprism.evaluation.classification import cross_validate
    from ethoprism.workflows.classify import animal_blind_metrics, head_for

    data = classify.load_labelled(fly["store"], fly["labels"], grid=True)
    assert data.animal_tokens == 4  # one other fly
    tokens = data.grid_X.reshape(len(data.X), 4, 1280).astype(np.float32)
    np.testing.assert_allclose(tokens[:, 0], data.X[:, :1280], atol=1e-2, rtol=1e-2)  # the animal
    np.testing.assert_allclose(tokens[:, 1], data.X[:, 1280:2560], atol=1e-2, rtol=1e-2)  # the frame
    np.testing.assert_allclose(tokens[:, 2], data.X[:, 2560:3840], atol=1e-2, rtol=1e-2)  # the other
    np.testing.assert_allclose(tokens[:, 3, :8], data.X[:, 3840:], atol=1e-2)  # the social features
    light = dict(hidden=32, min_steps=60, epochs=4)  # a small head keeps the test quick
    head = head_for("attentive-tokens", data, **light)
    assert head.tokens == 4
    result = cross_validate(head, data.for_head("attentive-tokens"))
    wing = result["metrics"]["per_class"]["wing_extension"]["ap"]
    ceiling = animal_blind_metrics("linear", data)["ceiling_per_class_ap"]["wing_extension"]
    assert wing > ceiling + 0.2  # it tells the flies apart, which no animal-blind score can
    # trained, saved and read back, it predicts per animal from the same token sets
    classify.train(data, "attentive-tokens", tmp_path / "h", **light)
    result = runner.invoke(
        app, ["predict", str(fly["store"]), "--head", str(tmp_path / "h.json"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    frames = pd.read_csv(tmp_path / "p" / "fly_part0.frames.csv")
    assert set(frames["animal"]) == {"female", "male"} and len(frames) == 2 * 48
    by_animal = frames.groupby("animal")["wing_extension_prob"].mean()
    assert by_animal["male"] > by_animal["female"] + 0.3


def test_train_and_predict_per_animal_from_the_cli(fly, tmp_path):
    head = tmp_path / "head"
    result = runner.invoke(
        app,
        [
            "train",
            str(fly["store"]),
            "--labels",
            str(fly["labels"]),
            "--out",
            str(head),
            "--head",
            "temporal",
        ],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "pred"
    result = runner.invoke(app, ["predict", str(fly["store"]), "--head", f"{head}.json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frames = pd.read_csv(out / "fly_part1.frames.csv")
    assert set(frames.animal) == {"female", "male"} and len(frames) == 96
    assert {"moving_prob", "wing_extension_prob", "moving", "wing_extension"} <= set(frames.columns)
    bouts = pd.read_csv(out / "fly_part1.bouts.csv")
    assert "animal" in bouts.columns
    boris = pd.read_csv(out / "fly_part1.boris.tsv", sep="\t")
    assert set(boris["Subject"]) <= {"female", "male"} and len(boris)
    assert (out / "fly_part1.ethogram.png").stat().st_size > 1000


def test_labels_must_name_tracked_animals(fly, tmp_path):
    labels = pd.read_csv(fly["labels"])
    no_animal = tmp_path / "no_animal.csv"
    labels.drop(columns="animal").drop_duplicates(["video", "behavior", "start_frame"]).to_csv(
        no_animal, index=False
    )
    with pytest.raises(
        EthoprismError, match="name no animal, but the store tracks female, male.*'animal' column"
    ):
        classify.load_labelled(fly["store"], no_animal)
    other = tmp_path / "other.csv"
    labels.assign(animal=labels.animal.replace({"female": "intruder"})).to_csv(other, index=False)
    with pytest.raises(
        EthoprismError, match="animal 'intruder'.*which no track has \\(tracked: female, male\\)"
    ):
        classify.load_labelled(fly["store"], other)
    result = runner.invoke(
        app, ["evaluate", str(fly["store"]), "--labels", str(other), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "no track has" in result.output


def test_directed_behaviours_name_their_target_from_labels_to_bouts(fly, tmp_path):
    """The male extends a wing *toward the female*: a target column in the labels is learned (with
    two flies the only choice is the other one), scored as MABe scores agent and target, and
    every predicted wing-extension bout names her; a MABe file of the predictions reads back."""
    from ethoprism.io.mabe import read_mabe

    labels = pd.read_csv(fly["labels"])
    directed = labels.assign(target=np.where(labels.behavior == "wing_extension", "female", ""))
    path = tmp_path / "directed.csv"
    directed.to_csv(path, index=False)
    data = classify.load_labelled(fly["store"], path)
    k = data.behaviors.index("wing_extension")
    female = data.tracked["fly_part0.mp4"].index("female")
    assert set(np.unique(data.target_of[:, k])) == {-1, female}
    assert ((data.target_of[:, k] >= 0) == (data.Y[:, k] == 1)).all()
    report = classify.evaluate(data, ["linear"], tmp_path / "report")
    targets = report["heads"]["linear"]["targets"]
    wing = targets["per_behavior"]["wing_extension"]
    assert wing["bouts"] >= 3 and wing["target_accuracy"] == 1.0 == wing["chance"] == wing["nearest_accuracy"]
    # one possible target: the pair F1 is the per-animal F1
    f1 = report["heads"]["linear"]["metrics"]["per_class"]["wing_extension"]["f1"]
    assert wing["pair_f1"] == pytest.approx(f1)
    table = pd.read_csv(tmp_path / "report" / "metrics.csv")
    assert (
        table.loc[(table["head"] == "linear") & (table.behavior == "wing_extension"), "target_accuracy"].iloc[
            0
        ]
        == 1
    )
    assert "pair F1 (agent + target)" in (tmp_path / "report" / "report.html").read_text()

    classify.train(data, "linear", tmp_path / "head")
    out = tmp_path / "pred"
    result = runner.invoke(
        app, ["predict", str(fly["store"]), "--head", str(tmp_path / "head.json"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    bouts = pd.concat([pd.read_csv(out / f"fly_part{p}.bouts.csv", keep_default_na=False) for p in range(3)])
    assert list(bouts.columns[:3]) == ["video", "animal", "target"]
    wings = bouts[bouts.behavior == "wing_extension"]
    assert len(wings) and set(wings.target) == {"female"}
    assert set(bouts[bouts.behavior == "moving"].target) == {""}
    boris = pd.concat([pd.read_csv(out / f"fly_part{p}.boris.tsv", sep="\t") for p in range(3)])
    wing_events = boris[boris.Behavior == "wing_extension"]
    assert wing_events.Comment.str.endswith(", directed at female").all() and len(wing_events)
    assert not boris[boris.Behavior == "moving"].Comment.str.contains("directed").any()
    mabe = pd.read_csv(out / "fly_part0.mabe.csv")
    assert list(mabe.columns) == ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]
    back = read_mabe(out / "fly_part0.mabe.csv", {"fly_part0.mp4": 48})
    part0 = bouts[bouts.video == "fly_part0.mp4"]
    for label in back:
        mine = part0[part0.animal == label.subject]
        for behaviour in label.behaviors:
            expected = np.zeros(48, int)
            for row in mine[mine.behavior == behaviour].itertuples():
                expected[row.start_frame : row.end_frame + 1] = 1
            assert (label.targets[:, label.behaviors.index(behaviour)] == expected).all()
        assert {t for *_, t in label.extra["directed"]} <= {"female"}
    import json

    meta = json.loads((tmp_path / "head.json").read_text())
    assert meta["targets"] == {"wing_extension": {"rule": "nearest"}}  # two flies: no choice to learn
    meta["targets"]["wing_extension"] = {"rule": "learned", "coef": [1.0]}
    (tmp_path / "bad.json").write_text(json.dumps(meta))  # beside head.json: same weights file
    result = runner.invoke(
        app, ["predict", str(fly["store"]), "--head", str(tmp_path / "bad.json"), "--out", str(out)]
    )
    assert result.exit_code == 2 and "learned target rule needs" in " ".join(result.output.split())
    nwb_dir = tmp_path / "nwb"
    command = ["export-nwb", str(fly["store"]), "--head", str(tmp_path / "head.json"), "--out", str(nwb_dir)]
    result = runner.invoke(app, [*command, "--labels", str(path)])
    assert result.exit_code == 0, result.output
    from pynwb import NWBHDF5IO

    seen = {"labelled_bouts": [], "predicted_bouts": []}
    for part in range(3):
        with NWBHDF5IO(str(nwb_dir / f"fly_part{part}.nwb"), "r") as io:
            module = io.read().processing["behavior"]
            for table, found in seen.items():
                found.append(module[table].to_dataframe())
    for found in seen.values():
        bouts = pd.concat(found)
        assert set(bouts.loc[bouts.behavior == "wing_extension", "target"]) == {"female"}
        assert set(bouts.loc[bouts.behavior == "moving", "target"]) == {""}


def test_a_target_no_track_has_is_refused(fly, tmp_path):
    labels = pd.read_csv(fly["labels"])
    path = tmp_path / "stranger.csv"
    labels.assign(target=np.where(labels.behavior == "wing_extension", "intruder", "")).to_csv(
        path, index=False
    )
    result = runner.invoke(
        app, ["evaluate", str(fly["store"]), "--labels", str(path), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "is directed at 'intruder', which no track of" in " ".join(result.output.split())
    assert path.name in result.output.replace("\n", "")  # the file, however the line wraps


def test_suggest_and_export_nwb_name_the_animal(fly, tmp_path):
    head = tmp_path / "head"
    assert (
        runner.invoke(
            app, ["train", str(fly["store"]), "--labels", str(fly["labels"]), "--out", str(head)]
        ).exit_code
        == 0
    )
    some = pd.read_csv(fly["labels"])
    some = some[some.video != "fly_part2.mp4"]
    partial = tmp_path / "partial.csv"
    some.to_csv(partial, index=False)
    out = tmp_path / "next.csv"
    result = runner.invoke(
        app,
        [
            "suggest",
            str(fly["store"]),
            "--head",
            f"{head}.json",
            "--labels",
            str(partial),
            "--n",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert set(table.video) == {"fly_part2.mp4"} and set(table.animal) <= {"female", "male"}
    nwb_dir = tmp_path / "nwb"
    result = runner.invoke(
        app,
        [
            "export-nwb",
            str(fly["store"]),
            "--head",
            f"{head}.json",
            "--out",
            str(nwb_dir),
            "--labels",
            str(fly["labels"]),
        ],
    )
    assert result.exit_code == 0, result.output
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb_dir / "fly_part1.nwb"), "r") as io:
        module = io.read().processing["behavior"]
        for animal in ("female", "male"):
            series = module[f"behavior_probabilities_{animal}"]
            assert series.data.shape == (48, 2) and len(series.timestamps) == 48
        labelled = module["labelled_bouts"].to_dataframe()
        predicted = module["predicted_bouts"].to_dataframe()
    assert set(predicted.animal) <= {"female", "male"} and len(predicted)
    # the male's wing extension is labelled on him, never on the female
    wings = labelled[labelled.behavior == "wing_extension"]
    assert len(wings) and set(wings.animal) == {"male"}
    truth = pd.read_csv(fly["labels"])
    truth = truth[(truth.video == "fly_part1.mp4") & (truth.behavior == "wing_extension")]
    assert set(truth.animal) == {"male"}


def test_render_draws_each_animal_at_its_own_box(fly, tmp_path):
    head, out = tmp_path / "head", tmp_path / "pred"
    args = ["train", str(fly["store"]), "--labels", str(fly["labels"]), "--out", str(head)]
    assert runner.invoke(app, args).exit_code == 0
    assert (
        runner.invoke(
            app, ["predict", str(fly["store"]), "--head", f"{head}.json", "--out", str(out)]
        ).exit_code
        == 0
    )
    frames = pd.read_csv(out / "fly_part0.frames.csv")
    assert {"x0", "y0", "x1", "y1"} <= set(frames.columns)
    male = frames[frames.animal == "male"].iloc[0]
    video = fly["videos"][0]
    overlay = tmp_path / "overlay.mp4"
    result = runner.invoke(
        app, ["render", str(video), "--predictions", str(out / "fly_part0.frames.csv"), "--out", str(overlay)]
    )
    assert result.exit_code == 0, result.output
    from ethoprism.video import VideoReader

    reader = VideoReader(overlay)
    first = next(iter(reader.iter_frames()))
    reader.close()
    source = VideoReader(video)
    height = source.metadata.height
    original = next(iter(source.iter_frames()))
    source.close()
    # one ethogram band per animal and behaviour under the frame
    assert first.shape[0] >= height + 4 * 14
    # the male's box is drawn in its colour (second of the palette) where the video had none
    x0, y0, x1 = int(male.x0), int(male.y0), int(male.x1)
    edge = first[max(y0, 1), x0 + 2 : x1 - 2].astype(int)
    green = (edge[:, 1] - edge[:, 0] > 60).mean()
    assert green > 0.5, green
    assert np.abs(original[max(y0, 1), x0 + 2 : x1 - 2].astype(int) - edge).mean() > 20


def test_discovery_runs_per_animal_with_one_motif_model_for_every_animal(fly, tmp_path):
    out = tmp_path / "motifs"
    result = runner.invoke(
        app, ["discover", str(fly["store"]), "--out", str(out), "--motifs", "3", "--no-movies"]
    )
    assert result.exit_code == 0, result.output
    tables = pd.concat(pd.read_csv(p) for p in sorted(out.glob("*.motifs.csv")))
    assert list(tables.columns) == ["video", "animal", "frame", "time_s", "motif", "probability"]
    assert set(tables["animal"]) == {"female", "male"}
    assert tables.groupby(["video", "animal"]).size().eq(48).all()  # every tracked frame, per fly
    usage = pd.read_csv(out / "usage.csv")
    assert len(usage) == 3 * 2 * 3  # videos x animals x motifs, 0 where unused
    assert len(list(out.glob("model*.json"))) == 1
    whole = tmp_path / "whole"
    result = runner.invoke(
        app,
        ["discover", str(fly["store"]), "--out", str(whole), "--motifs", "3", "--whole-frame", "--no-movies"],
    )
    assert result.exit_code == 0, result.output
    assert "animal" not in pd.read_csv(next(whole.glob("*.motifs.csv"))).columns


def test_crop_mode_encodes_each_animal_cut_from_the_full_frame(fly, tmp_path):
    from ethoprism.backbones import load_backbone
    from ethoprism.store import EmbeddingStore
    from ethoprism.tracks import crop_clip
    from ethoprism.video import VideoReader

    store = tmp_path / "crops"
    video = fly["videos"][0]
    args = ["extract", str(video), "--store", str(store), "--size", "128", "--frames", "16"]
    tracks = tmp_path / "part0_tracks.csv"
    every = pd.read_csv(fly["tracks"])
    every[every.video == video.name].to_csv(tracks, index=False)
    result = runner.invoke(app, [*args, "--tracks", str(tracks), "--animal-mode", "crop"])
    assert result.exit_code == 0, result.output
    (entry,) = EmbeddingStore(store).entries()
    (pooled,) = [e for e in EmbeddingStore(fly["store"]).entries() if e.video_name == video.name]
    assert entry.provenance.tracks["mode"] == "crop" and pooled.provenance.tracks["mode"] == "pooled"
    assert entry.path.name != pooled.path.name  # another entry, never a mixture
    # the whole-frame embeddings are the same numbers; the animals' are the crops'
    np.testing.assert_allclose(entry.embeddings(), pooled.embeddings(), atol=1e-5)
    frames, ids = entry.animal_rows()
    np.testing.assert_array_equal(frames, pooled.animal_rows()[0])
    row = int(np.flatnonzero((ids == entry.animals.index("male")) & (frames == 10))[0])
    full = VideoReader(video).read_frames([10])[0]
    crop = crop_clip([full], entry.animal_boxes()[row], 128)
    model = load_backbone("effnet-lite0", runtime="torch")
    expected = model.embed_rows(crop[None], np.array([0]), np.array([0]))["embeddings"][0]
    np.testing.assert_allclose(entry.animal_embeddings()[row], expected, atol=2e-3)
    assert np.abs(entry.animal_embeddings()[row] - pooled.animal_embeddings()[row]).mean() > 0.01
    info = runner.invoke(app, ["info", str(store)])
    assert "crop embeddings" in info.output
    result = runner.invoke(app, [*args, "--tracks", str(tracks), "--animal-mode", "boxes"])
    assert result.exit_code == 2 and "--animal-mode must be one of pooled, crop" in result.output
