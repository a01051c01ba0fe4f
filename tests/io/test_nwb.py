"""NWB export: the file passes pynwb's validator and reads back with what was written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ethoprism.cli import app


def test_export_nwb_validates_and_reads_back(synthetic_store, tmp_path):
    from pynwb import NWBHDF5IO, validate

    runner = CliRunner()
    store, labels = str(synthetic_store["store"]), str(synthetic_store["labels"])
    head = tmp_path / "head"
    assert runner.invoke(app, ["train", store, "--labels", labels, "--out", str(head)]).exit_code == 0
    out = tmp_path / "nwb"
    result = runner.invoke(
        app, ["export-nwb", store, "--head", f"{head}.json", "--labels", labels, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.nwb"))
    assert [f.name for f in files] == [f"video_0{i}.nwb" for i in range(4)]
    for path in files:
        assert list(validate(path=str(path))) == []  # pynwb's schema validator
    truth = pd.read_csv(labels)
    truth = truth[truth.video == "video_00.mp4"]
    with NWBHDF5IO(str(files[0]), "r") as io:
        nwb = io.read()
        video = nwb.acquisition["video"]
        assert video.format == "external" and video.external_file[0].endswith("video_00.mp4")
        behavior = nwb.processing["behavior"]
        proba = behavior["behavior_probabilities"]
        assert proba.data.shape == (150, 5) and len(proba.timestamps) == 150
        assert np.allclose(np.asarray(proba.timestamps[:3]), [0, 1 / 30, 2 / 30])
        labelled = behavior["labelled_bouts"].to_dataframe()
        assert len(labelled) == len(truth)
        first = truth.sort_values("start_frame").iloc[0]
        row = labelled[labelled.start_time == first.start_frame / 30].iloc[0]
        assert row.behavior == first.behavior
        assert np.isclose(row.stop_time, (first.end_frame + 1) / 30)
        predicted = behavior["predicted_bouts"].to_dataframe()
        assert len(predicted) > 0
        # each bout's score is its behaviour's mean probability over the bout's frames, as stored
        names = proba.comments.removeprefix("columns: ").split(", ")
        values, stamps = np.asarray(proba.data[:]), np.asarray(proba.timestamps[:])
        for bout in predicted.itertuples():
            inside = (stamps >= bout.start_time - 1e-9) & (stamps < bout.stop_time - 1e-9)
            column = values[inside, names.index(bout.behavior)]
            assert bout.score == pytest.approx(float(column.mean()), abs=1e-3)


def test_a_video_without_bouts_still_gets_its_file(tmp_path):
    """No predicted and no labelled bout (a quiet night, background only): an NWB file with empty
    tables, valid, not a pynwb traceback halfway through the videos."""
    from pynwb import NWBHDF5IO, validate

    from ethoprism.io.nwb import write_nwb

    empty = pd.DataFrame(columns=["behavior", "start_frame", "end_frame", "score"])
    path = write_nwb(
        tmp_path / "quiet.nwb",
        "quiet.mp4",
        None,
        np.arange(20) / 30,
        ["walk", "groom"],
        np.zeros((20, 2)),
        empty,
        empty,
    )
    assert list(validate(path=str(path))) == []
    with NWBHDF5IO(str(path), "r") as io:
        behavior = io.read().processing["behavior"]
        for name in ("predicted_bouts", "labelled_bouts"):
            table = behavior[name].to_dataframe()
            assert len(table) == 0 and {"behavior", "score"} <= set(table.columns)
    assert not list(tmp_path.glob("*.tmp-*"))
