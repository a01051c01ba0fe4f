import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ethoprism.active_learning import frame_uncertainty, segments_of, suggest_segments
from ethoprism.cli import app
from ethoprism.errors import EthoprismError


def test_segments_stop_at_video_boundaries():
    groups = np.array([0] * 7 + [1] * 5)
    segments = segments_of(groups, 3)
    assert list(zip(segments.start, segments.end, segments.video)) == [
        (0, 3, 0),
        (3, 6, 0),
        (6, 7, 0),
        (7, 10, 1),
        (10, 12, 1),
    ]
    with pytest.raises(EthoprismError):
        segments_of(groups, 0)


def test_uncertainty_is_zero_when_sure_and_one_when_uniform():
    sure = frame_uncertainty(np.array([[0.0, 1.0], [0.0, 0.0]]), exclusive=True)
    uniform = frame_uncertainty(np.array([[1 / 3, 1 / 3]]), exclusive=True)
    assert sure.max() < 1e-6 and uniform[0] == pytest.approx(1.0)
    assert frame_uncertainty(np.array([[0.5, 0.5]]), exclusive=False)[0] == pytest.approx(1.0)
    assert frame_uncertainty(np.array([[0.999, 0.001]]), exclusive=False)[0] < 0.02


def two_confusing_clusters():
    """Two kinds of equally uncertain segments, the first kind many times more frequent."""
    rng = np.random.default_rng(0)
    n_segments, length = 40, 10
    kind = np.r_[np.zeros(34, int), np.ones(6, int)]
    X = np.repeat(np.eye(2)[kind] * 5, length, axis=0) + rng.normal(0, 0.1, (n_segments * length, 2))
    proba = np.full((len(X), 1), 0.5) + rng.normal(0, 0.002, (len(X), 1))
    proba[np.repeat(kind, length) == 1] -= 0.05  # the rare kind is a hair less uncertain
    groups = np.zeros(len(X), int)
    return X, proba, groups, kind


def test_diverse_suggestions_cover_both_confusions_plain_uncertainty_does_not():
    X, proba, groups, kind = two_confusing_clusters()
    labelled = np.zeros(len(X), bool)
    picks = {
        strategy: suggest_segments(
            X, proba, labelled, groups, False, n=4, segment=10, strategy=strategy, pool_factor=10
        )
        for strategy in ("diverse", "uncertainty")
    }
    kinds = {s: set(kind[p.row_start // 10]) for s, p in picks.items()}
    assert kinds["uncertainty"] == {0} and kinds["diverse"] == {0, 1}
    assert list(picks["diverse"]["rank"]) == [1, 2, 3, 4]


def test_labelled_segments_are_never_suggested_and_random_is_seeded():
    X, proba, groups, _ = two_confusing_clusters()
    labelled = np.zeros(len(X), bool)
    labelled[:200] = True
    for strategy in ("diverse", "uncertainty", "random"):
        picks = suggest_segments(X, proba, labelled, groups, False, n=10, segment=10, strategy=strategy)
        assert (picks.row_start >= 200).all() and len(picks) == 10
    a = suggest_segments(X, proba, labelled, groups, False, n=5, strategy="random", seed=3)
    b = suggest_segments(X, proba, labelled, groups, False, n=5, strategy="random", seed=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(EthoprismError, match="nothing left"):
        suggest_segments(X, proba, np.ones(len(X), bool), groups, False)


def test_suggest_cli_writes_a_csv_of_unlabelled_segments(synthetic_store, tmp_path):
    runner = CliRunner()
    store, labels = str(synthetic_store["store"]), synthetic_store["labels"]
    head = tmp_path / "head"
    assert runner.invoke(app, ["train", store, "--labels", str(labels), "--out", str(head)]).exit_code == 0
    some = pd.read_csv(labels)
    some = some[some.video.isin(["video_00.mp4", "video_01.mp4"])]
    partial = tmp_path / "partial.csv"
    some.to_csv(partial, index=False)
    out = tmp_path / "next.csv"
    result = runner.invoke(
        app,
        ["suggest", store, "--head", f"{head}.json", "--labels", str(partial), "--n", "6", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 6 and list(table["rank"]) == list(range(1, 7))
    assert set(table.video) <= {"video_02.mp4", "video_03.mp4"}  # the labelled videos are covered
    assert ((table.end_frame - table.start_frame + 1) <= 30).all()  # 1 s at 30 fps
    ranked = tmp_path / "ranked.csv"
    args = ["suggest", store, "--head", f"{head}.json", "--labels", str(partial), "--n", "6"]
    assert runner.invoke(app, [*args, "--strategy", "uncertainty", "--out", str(ranked)]).exit_code == 0
    by_uncertainty = pd.read_csv(ranked).uncertainty
    # plain uncertainty ranks the most uncertain segment of all first; diverse picks among the pool
    assert by_uncertainty.is_monotonic_decreasing
    assert by_uncertainty.iloc[0] >= table.uncertainty.max() - 1e-9
    bad = runner.invoke(
        app,
        [
            "suggest",
            store,
            "--head",
            f"{head}.json",
            "--labels",
            str(partial),
            "--out",
            str(out),
            "--strategy",
            "clever",
        ],
    )
    assert bad.exit_code == 2 and "unknown strategy" in bad.output


def test_no_output_replaces_an_input(synthetic_store, tmp_path):
    """suggest --out naming the labels or the head file, train --out over its labels, localize
    evaluate --out over the ground truth: refused in one line, the file untouched."""
    runner = CliRunner()
    store, labels = str(synthetic_store["store"]), synthetic_store["labels"]
    mine = tmp_path / "labels.csv"
    mine.write_bytes(labels.read_bytes())
    head = tmp_path / "head"
    assert runner.invoke(app, ["train", store, "--labels", str(mine), "--out", str(head)]).exit_code == 0
    head_json = tmp_path / "head.json"
    for target in (mine, head_json):
        before = target.read_bytes()
        result = runner.invoke(
            app, ["suggest", store, "--head", str(head_json), "--labels", str(mine), "--out", str(target)]
        )
        assert result.exit_code == 2 and "--out would overwrite an input" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and target.read_bytes() == before
    # a label file given as a folder is still an input
    result = runner.invoke(
        app, ["suggest", store, "--head", str(head_json), "--labels", str(tmp_path), "--out", str(mine)]
    )
    assert result.exit_code == 2 and "would overwrite an input" in result.output
    feral = tmp_path / "gt.json"
    feral.write_text("{}")
    result = runner.invoke(app, ["train", store, "--labels", str(feral), "--out", str(tmp_path / "gt")])
    assert result.exit_code == 2 and "would overwrite an input" in result.output and feral.read_text() == "{}"
    result = runner.invoke(
        app,
        [
            "localize",
            "evaluate",
            store,
            "--boxes",
            str(feral),
            "--predictions",
            str(mine),
            "--out",
            str(feral),
        ],
    )
    assert result.exit_code == 2 and "would overwrite an input" in result.output and feral.read_text() == "{}"
