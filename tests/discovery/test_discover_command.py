"""``ethoprism discover`` and ``evaluate-motifs`` end to end on the synthetic store, as a lab runs
them: motifs, every table and figure, movies, the saved model re-applied, coarsening, motifs named
into labels a head trains on, scores beside their baselines, and one line for each bad input."""

import json

import av
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ethoprism.cli import app

runner = CliRunner()
SEED_AMI_FLOOR = 0.6  # measured 2026-11-30: 1.00 (4 motifs, seeds 0 and 1), minus a margin


@pytest.fixture(scope="module")
def motifs(synthetic_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("motifs") / "motifs"
    groups = out.parent / "groups.csv"
    names = [v.path.name for v in synthetic_store["videos"]]
    pd.DataFrame({"video": names, "group": ["saline", "saline", "drug", "drug"]}).to_csv(groups, index=False)
    result = runner.invoke(
        app,
        [
            "discover",
            str(synthetic_store["store"]),
            "--out",
            str(out),
            "--motifs",
            "4",
            "--groups",
            str(groups),
        ],
    )
    assert result.exit_code == 0, result.output
    return {**synthetic_store, "out": out, "groups": groups, "videos": names}


def test_every_output_a_lab_needs_is_written(motifs):
    out = motifs["out"]
    for video in motifs["videos"]:
        table = pd.read_csv(out / f"{video.rsplit('.', 1)[0]}.motifs.csv")
        assert list(table.columns) == ["video", "frame", "time_s", "motif", "probability"]
        assert table["frame"].tolist() == list(range(150))
        assert table["motif"].between(0, 3).all() and table["probability"].between(0, 1).all()
    bouts = pd.read_csv(out / "motif_bouts.csv")
    assert (bouts["frames"] >= 6).all()  # 0.2 s at 30 fps: no single-frame motifs
    assert bouts.groupby("video")["frames"].sum().tolist() == [150] * 4
    usage = pd.read_csv(out / "usage.csv")
    assert len(usage) == 4 * 4  # every motif in every video, 0 where unused
    assert np.allclose(usage.groupby("video")["fraction"].sum(), 1.0)
    assert set(usage["group"]) == {"saline", "drug"}
    tests = pd.read_csv(out / "group_tests.csv")
    assert len(tests) == 4 and (tests["p_fdr"] >= tests["p"] - 1e-12).all()
    assert tests["test"].iloc[0].startswith("Mann-Whitney")
    transitions = pd.read_csv(out / "transitions.csv")
    assert len(transitions) == 16
    followed = transitions.groupby("from_motif")["probability"].sum()
    assert np.allclose(followed[followed > 0], 1.0)
    report = (out / "report.html").read_text()
    for motif in range(4):
        assert f"Motif {motif}" in report
    for movie in (out / "motifs").glob("*.mp4"):
        with av.open(str(movie)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        assert movie.name in report
    assert len(list((out / "figures").glob("*.ethogram.png"))) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["motifs"] == 4
    # the learned mean bout, as the saved model holds it (30 fps), never below the shortest bout.
    # No upper bound: these 5 s videos have about one change each, and the bout learned from them
    # (4.97 s today) may pass a video's length where EM finds fewer changes
    learned = json.loads((out / "model.json").read_text())["bout_frames"]
    assert summary["mean_bout_s"] == pytest.approx(learned / 30, abs=1e-3) and learned >= 6
    assert f"{summary['mean_bout_s']:.2f} s on average (learned" in report


def test_the_saved_model_gives_the_same_motifs_again_and_coarsens_without_refitting(motifs, tmp_path):
    again = tmp_path / "again"
    result = runner.invoke(
        app,
        [
            "discover",
            str(motifs["store"]),
            "--model",
            str(motifs["out"] / "model.json"),
            "--out",
            str(again),
            "--no-movies",
        ],
    )
    assert result.exit_code == 0, result.output
    for path in motifs["out"].glob("*.motifs.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(again / path.name))
    assert not (again / "model.json").exists()
    coarse = tmp_path / "coarse"
    result = runner.invoke(
        app,
        [
            "discover",
            str(motifs["store"]),
            "--model",
            str(motifs["out"] / "model.json"),
            "--out",
            str(coarse),
            "--coarsen",
            "2",
            "--no-movies",
        ],
    )
    assert result.exit_code == 0, result.output
    fine = pd.concat(pd.read_csv(p) for p in sorted(motifs["out"].glob("*.motifs.csv")))
    merged = pd.concat(pd.read_csv(p) for p in sorted(coarse.glob("*.motifs.csv")))
    assert set(merged["motif"]) <= {0, 1}
    # coarsening merges whole motifs: each fine motif lies in one coarse motif
    assert (pd.crosstab(fine["motif"].to_numpy(), merged["motif"].to_numpy()) > 0).sum(axis=1).max() == 1


def test_named_motifs_become_labels_a_head_trains_on(motifs, tmp_path):
    labels = tmp_path / "named.csv"
    model = str(motifs["out"] / "model.json")
    result = runner.invoke(
        app,
        [
            "discover",
            str(motifs["store"]),
            "--model",
            model,
            "--name",
            "0=rest",
            "--name",
            "1=explore",
            "--out",
            str(labels),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(labels)
    assert set(table["behavior"]) <= {"rest", "explore"} and len(table)
    bouts = pd.read_csv(motifs["out"] / "motif_bouts.csv")
    named = bouts[bouts["motif"].isin([0, 1])]
    assert len(table) == len(named)
    head = tmp_path / "head"
    result = runner.invoke(app, ["train", str(motifs["store"]), "--labels", str(labels), "--out", str(head)])
    assert result.exit_code == 0, result.output


def test_scores_stand_beside_chance_and_frame_wise_k_means(motifs):
    result = runner.invoke(
        app,
        [
            "evaluate-motifs",
            str(motifs["store"]),
            "--motifs",
            str(motifs["out"]),
            "--labels",
            str(motifs["labels"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "frame-wise k-means" in result.output and "seed and seed+1" in result.output
    scores = pd.read_csv(motifs["out"] / "evaluation.csv").set_index("method")
    assert list(scores.columns) == [
        "nmi",
        "ami",
        "homogeneity",
        "completeness",
        "v_measure",
        "purity",
        "hungarian_accuracy",
        "ami_sd",
    ]
    chance = scores.loc["shuffled motifs (chance)"]
    assert abs(chance["ami"]) < 0.05
    assert scores.loc["motifs", "ami"] > chance["ami"] + 0.05
    report = json.loads((motifs["out"] / "evaluation.json").read_text())
    assert report["frames"] == 600 and report["seed_ami"] > SEED_AMI_FLOOR
    # k-means is the mean of five seeds (one seed's AMI is a lottery on real clips), its spread kept
    kmeans = next(row for row in report["scores"] if row["method"].startswith("frame-wise k-means"))
    assert "mean of 5 seeds" in kmeans["method"] and np.isfinite(kmeans["ami_sd"])
    assert all("ami_sd" not in row for row in report["scores"] if row is not kmeans)  # one run each


def test_the_k_means_baseline_is_the_mean_of_its_seeds():
    from ethoprism.discovery.scoring import METRICS, clustering_metrics, framewise_kmeans, score_table

    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 60)
    embeddings = rng.normal(size=(3, 16))[truth] + rng.normal(scale=1.5, size=(180, 16))
    motifs = truth.copy()
    rows = score_table(truth, motifs, embeddings, 3, seed=2, kmeans_seeds=3)
    runs = [clustering_metrics(truth, framewise_kmeans(embeddings, 3, seed)) for seed in (2, 3, 4)]
    kmeans = rows[2]
    for name in METRICS:
        assert kmeans[name] == pytest.approx(np.mean([run[name] for run in runs]))
    assert kmeans["ami_sd"] == pytest.approx(np.std([run["ami"] for run in runs]))
    assert rows[0]["ami"] == pytest.approx(1.0)  # the motifs are the truth here


def test_auto_chooses_by_stability_and_says_what_it_tried(synthetic_store, tmp_path):
    out = tmp_path / "auto"
    result = runner.invoke(
        app,
        [
            "discover",
            str(synthetic_store["store"]),
            "--out",
            str(out),
            "--videos",
            "video_00.mp4",
            "--videos",
            "video_01",
            "--no-movies",
        ],
    )
    assert result.exit_code == 0, result.output
    tried = pd.read_csv(out / "stability.csv")
    assert tried["chosen"].sum() == 1 and len(tried) >= 2
    chosen = int(tried.loc[tried["chosen"], "motifs"].iloc[0])
    assert f"chosen: {chosen} motifs" in result.output
    stable = tried[tried["stability_ami"] >= 0.8]
    assert chosen == (
        stable["motifs"].max() if len(stable) else tried.loc[tried["stability_ami"].idxmax(), "motifs"]
    )
    assert set(pd.read_csv(out / "usage.csv")["video"]) == {"video_00.mp4", "video_01.mp4"}


def _one_line_error(result, *fragments, midway=False):
    """``midway``: found while reading the embeddings, after the run log's threads line."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    if midway and lines and lines[0].startswith("threads:"):
        lines = lines[1:]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--motifs", "0"], ["--motifs must be at least 2"]),
        (["--motifs", "1"], ["--motifs must be at least 2"]),
        (["--motifs", "many"], ["whole number or auto"]),
        (["--motifs", "500"], ["more motifs than 600 frames"]),
        (["--videos", "nope.mp4"], ["nope.mp4"]),
        (["--coarsen", "0"], ["--coarsen"]),
        (["--name", "3=groom"], ["--model"]),
    ],
)
def test_bad_options_are_one_line(synthetic_store, tmp_path, args, fragments):
    out = tmp_path / "out"
    result = runner.invoke(app, ["discover", str(synthetic_store["store"]), "--out", str(out), *args])
    _one_line_error(result, *fragments)
    assert not (out / "model.json").exists()


def test_bad_files_are_one_line_and_nothing_is_lost(motifs, tmp_path):
    store = str(motifs["store"])
    groups = tmp_path / "groups.csv"
    pd.DataFrame({"video": ["video_00.mp4", "elsewhere.mp4"], "group": ["a", "b"]}).to_csv(
        groups, index=False
    )
    result = runner.invoke(
        app, ["discover", store, "--out", str(tmp_path / "o"), "--motifs", "3", "--groups", str(groups)]
    )
    _one_line_error(result, "groups.csv", "elsewhere.mp4")
    # --out over an input: the labels file would replace the model it reads
    model_file = motifs["out"] / "model.json"
    before = model_file.read_bytes()
    result = runner.invoke(
        app, ["discover", store, "--model", str(model_file), "--name", "0=a", "--out", str(model_file)]
    )
    _one_line_error(result, "overwrite an input")
    assert model_file.read_bytes() == before
    result = runner.invoke(app, ["discover", store, "--out", store])
    _one_line_error(result, "store folder")
    # a model of another feature width (and so another backbone's embeddings)
    model = json.loads((motifs["out"] / "model.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    for path in motifs["out"].glob("model*"):
        (other / path.name).write_bytes(path.read_bytes())
    model["source"]["backbone"] = "videoprism-b"
    (other / "model.json").write_text(json.dumps(model))
    result = runner.invoke(
        app, ["discover", store, "--model", str(other / "model.json"), "--out", str(tmp_path / "x")]
    )
    _one_line_error(result, "videoprism-b")
    result = runner.invoke(app, ["discover", str(tmp_path / "empty"), "--out", str(tmp_path / "y")])
    _one_line_error(result)


def test_nan_embeddings_are_named(synthetic_store, tmp_path):
    import shutil

    import h5py

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store)
    damaged = sorted(store.glob("*/*.h5"))[2]
    with h5py.File(damaged, "r+") as handle:
        handle["embeddings"][40] = np.nan
    result = runner.invoke(app, ["discover", str(store), "--out", str(tmp_path / "o"), "--motifs", "3"])
    _one_line_error(result, "NaN", damaged.name, midway=True)
    assert not (tmp_path / "o" / "model.json").exists()


def test_a_store_with_the_motion_backbone_beside_others_discovers_on_its_features(synthetic_store, tmp_path):
    import shutil

    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore

    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    motion = load_backbone("effnet-lite0-motion")
    for video in synthetic_store["videos"][:2]:
        extract_video(video.path, motion, EmbeddingStore(store), ClipSpec(frames=16, size=64, overlap=0))
    out = tmp_path / "m"
    result = runner.invoke(app, ["discover", str(store), "--out", str(out), "--motifs", "2", "--no-movies"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "model.json").read_text())
    assert model["source"]["backbone"] == "effnet-lite0-motion"
    assert len(list(out.glob("*.motifs.csv"))) == 2  # the videos the motion backbone holds
    # naming the frame backbone still uses it
    result = runner.invoke(
        app,
        [
            "discover",
            str(store),
            "--out",
            str(tmp_path / "f"),
            "--motifs",
            "2",
            "--no-movies",
            "--backbone",
            "effnet-lite0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "f" / "model.json").read_text())["source"]["backbone"] == "effnet-lite0"
    # a model reads the embeddings it was fitted on, with no --backbone: applying and scoring it
    model = str(tmp_path / "f" / "model.json")
    result = runner.invoke(
        app, ["discover", str(store), "--model", model, "--out", str(tmp_path / "a"), "--no-movies"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "a").glob("*.motifs.csv"))) == 4
    labels = str(synthetic_store["labels"])
    result = runner.invoke(
        app, ["evaluate-motifs", str(store), "--motifs", str(tmp_path / "f"), "--labels", labels]
    )
    assert result.exit_code == 0, result.output
