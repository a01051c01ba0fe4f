"""``ethoprism compare`` and ``--head auto``: every backbone x head scored leave-one-video-out on
the user's labels beside chance, with what each costs, and a recommendation."""

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ethoprism.cli import app

runner = CliRunner()


@pytest.fixture
def tiny_model(tmp_path):
    import json

    import torch
    import transformers

    folder = tmp_path / "tiny-dino"
    torch.manual_seed(0)
    config = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=28,
        patch_size=14,
    )
    transformers.Dinov2Model(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"crop_size": {"height": 28, "width": 28}}))
    return folder


def test_compare_scores_every_backbone_and_head_and_recommends_one(
    synthetic_store, tmp_path, tiny_model, monkeypatch
):
    store = tmp_path / "store"
    shutil.copytree(synthetic_store["store"], store, ignore=shutil.ignore_patterns("_index"))
    videos = [str(v.path) for v in synthetic_store["videos"]]
    out = tmp_path / "compare"
    result = runner.invoke(
        app,
        [
            "compare",
            *videos,
            "--labels",
            str(synthetic_store["labels"]),
            "--backbone",
            "effnet-lite0",
            "--backbone",
            f"hf:{tiny_model}",
            "--head",
            "linear",
            "--head",
            "mlp",
            "--store",
            str(store),
            "--folds",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv")
    assert list(table.columns[:5]) == ["backbone", "head", "map", "map_std", "chance_map"]
    recipes, choice = table[table["head"] != "auto"], table[table["head"] == "auto"]
    assert len(recipes) == 4 and set(recipes["head"]) == {"linear", "mlp"}
    assert table["map"].between(0, 1).all() and (table["chance_map"] < table["map"].max()).all()
    # the choice scored on videos that took no part in it: each fold picks one of the four recipes
    (picks,) = choice["chosen"]
    named = {f"{r.backbone} + {r.head}" for r in recipes.itertuples()}
    assert all(pick.rsplit(" x", 1)[0] in named for pick in picks.split("; "))
    assert sum(int(pick.rsplit(" x", 1)[1]) for pick in picks.split("; ")) == 2  # one per fold
    assert any(c.startswith("ap[") for c in table.columns)
    for column in ("extract_frames_per_s", "disk_gb_per_hour", "head_fit_s"):
        assert column in table.columns
    effnet = recipes[recipes["backbone"] == "effnet-lite0"]
    assert effnet["extract_frames_per_s"].isna().all()  # reused from the store, not extracted again
    assert np.isfinite(recipes[recipes["backbone"] != "effnet-lite0"]["extract_frames_per_s"]).all()
    best = recipes.loc[recipes["fold_map"].fillna(recipes["map"]).idxmax()]
    recommendation = (out / "recommendation.txt").read_text()
    assert recommendation.startswith(f"use {best['backbone']} with the {best['head']} head")
    assert "Choosing by cross-validation" in recommendation
    assert (out / "compare.png").exists() and "use " in result.output

    # evaluate's default on the same store: every backbone x head, and the same choice, scored alike
    monkeypatch.setattr("ethoprism.cli.classify.AUTO_HEADS", ["linear", "mlp"])
    report_dir = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(store),
            "--labels",
            str(synthetic_store["labels"]),
            "--folds",
            "2",
            "--out",
            str(report_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert set(metrics["heads"]) == named | {"auto"}
    for r in recipes.itertuples():
        assert metrics["heads"][f"{r.backbone} + {r.head}"]["metrics"]["map"] == pytest.approx(
            r.map, abs=1e-3
        )
    assert metrics["heads"]["auto"]["metrics"]["map"] == pytest.approx(float(choice["map"].iloc[0]), abs=1e-3)
    assert metrics["recommended"] == {
        "recipe": f"{best['backbone']} + {best['head']}",
        "backbone": best["backbone"],
        "head": best["head"],
    }
    assert f"--backbone {best['backbone']} --head {best['head']}" in " ".join(result.output.split())
    assert (report_dir / "predictions_auto").is_dir()


def test_compare_needs_two_labelled_videos(synthetic_store, tmp_path):
    result = runner.invoke(
        app,
        [
            "compare",
            str(synthetic_store["videos"][0].path),
            "--labels",
            str(synthetic_store["labels"]),
            "--out",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "at least two labelled videos" in lines[0]


def test_train_head_auto_trains_the_head_that_wins_on_these_labels(synthetic_store, tmp_path, monkeypatch):
    import json

    # two candidates keep the test quick; the choice among them is the same code as among four
    monkeypatch.setattr("ethoprism.cli.classify.AUTO_HEADS", ["linear", "mlp"])
    out = tmp_path / "head"
    result = runner.invoke(
        app,
        [
            "train",
            str(synthetic_store["store"]),
            "--labels",
            str(synthetic_store["labels"]),
            "--out",
            str(out),
            "--head",
            "auto",
        ],
    )
    assert result.exit_code == 0, result.output
    chosen = [line for line in result.output.splitlines() if line.startswith("--head auto:")][0].split(": ")[
        1
    ]
    scores = {  # the choice goes by each held-out video's own mAP, averaged
        line.split(":")[0]: float(line.split("per held-out video ")[1].split(" ")[0])
        for line in result.output.splitlines()
        if " mAP " in line
    }
    assert set(scores) == {"effnet-lite0 + linear", "effnet-lite0 + mlp"}
    assert chosen == max(scores, key=scores.get)
    assert json.loads((tmp_path / "head.json").read_text())["head"] == chosen.split(" + ")[1]


def test_the_recommendation_names_a_cheaper_recipe_only_within_the_best_ones_spread():
    from ethoprism.workflows.compare import recommend

    table = pd.DataFrame(
        {
            "backbone": ["a", "a", "b", "b"],
            "head": ["linear", "temporal", "linear", "attentive"],
            "map": [0.80, 0.90, 0.88, 0.60],
            "map_std": [0.02, 0.03, 0.05, 0.1],
            "chance_map": [0.1] * 4,
            "head_fit_s": [1.0, 9.0, 2.0, 0.5],
        }
    )
    text = recommend(table)
    assert text.startswith("use a with the temporal head: mAP 0.900 (per held-out fold 0.900 ± 0.030")
    assert "b + linear (0.880) is within that spread and fits in 2.00 s instead of 9.00 s" in text
    table.loc[2, "head_fit_s"] = 20.0  # slower: not worth naming
    assert "within" not in recommend(table)
    assert recommend(table.assign(map=np.nan)) == "no recipe could be scored"
    # where folds could be scored alone, their mean decides (the pooled mAP where they could not)
    table = table.assign(fold_map=[0.95, 0.85, np.nan, 0.5])
    assert recommend(table).startswith("use a with the linear head: mAP 0.800 (per held-out fold 0.950")
