"""``ethoprism compare``: which backbone and which head for *these* videos and labels.

Every backbone x head is scored by the same leave-one-video-out cross-validation on the user's
labels (the folds are the videos, as in ``evaluate``), beside chance; what each costs is measured
on this machine (extraction frames/s, disk per hour of video, head fit time). One table
(``compare.csv``), one plot, and the recipe to use with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError

Progress = Callable[[str, int, int], None]
# the columns a person reads first (compare.csv has one AP column per behaviour besides)
SUMMARY_COLUMNS = [
    "backbone",
    "head",
    "map",
    "fold_map",
    "map_std",
    "chance_map",
    "extract_frames_per_s",
    "disk_gb_per_hour",
    "head_fit_s",
]


def score_recipes(
    datasets: dict, heads: list[str], postprocess: dict | None = None, progress=None, folds: int | None = None
) -> tuple[list[dict], dict, dict]:
    """Leave-one-video-out (or ``folds`` group folds by video) score of every backbone x head,
    ``datasets``: backbone -> its labelled data (also what ``--head auto`` uses). -> (one row per
    recipe, recipe -> cross-validation result, recipe -> the data it was scored on)."""
    from ethoprism.evaluation.classification import cross_validate
    from ethoprism.workflows.classify import DEFAULT_POSTPROCESS, head_for

    postprocess = {**DEFAULT_POSTPROCESS, **(postprocess or {})}
    rows, results, scored_on = [], {}, {}
    total = len(datasets) * len(heads)
    for backbone, data in datasets.items():
        name = backbone or data.provenance.backbone
        for kind in heads:
            start = time.perf_counter()
            result = cross_validate(
                head_for(kind, data), data.for_head(kind), folds, postprocess, split="videos"
            )
            seconds = time.perf_counter() - start
            label = f"{name} + {kind}"
            results[label], scored_on[label] = result, data
            rows.append(
                {
                    "backbone": name,
                    "head": kind,
                    **_score_columns(result, data),
                    "head_fit_s": seconds / max(len(result["metrics"]["folds"]), 1),
                }
            )
            if progress:
                progress("heads", len(rows), total)
    return rows, results, scored_on


def _score_columns(result: dict, data) -> dict:
    from ethoprism.evaluation.recipes import fold_maps

    metrics = result["metrics"]
    maps = [m for m in fold_maps(result, data) if not np.isnan(m)]
    columns = {
        "map": metrics["map"],
        "map_std": float(np.std(maps)) if maps else float("nan"),
        "chance_map": metrics["chance_map"],
        # the mean of the held-out folds' own mAPs: what the choice of a recipe goes by
        "fold_map": float(np.mean(maps)) if maps else float("nan"),
    }
    for behavior, scores in metrics["per_class"].items():
        columns[f"ap[{behavior}]"] = scores["ap"]
    return columns


def choice_row(results: dict, scored_on: dict) -> dict:
    """compare.csv's ``auto`` row: what choosing the recipe by cross-validation delivers (each
    held-out video gets the recipe that was best on the other videos)."""
    from ethoprism.evaluation.recipes import choose_by_other_folds

    chosen = choose_by_other_folds(results, scored_on)
    data = next(iter(scored_on.values()))
    picks = "; ".join(f"{name} x{n}" for name, n in chosen["chosen"].items())
    return {"backbone": "auto", "head": "auto", **_score_columns(chosen, data), "chosen": picks}


def best_recipe(datasets: dict, heads: list[str], postprocess: dict | None = None):
    """-> ((the winning backbone's key in ``datasets``, head), the table's rows)."""
    from ethoprism.evaluation.recipes import best_overall

    rows, results, scored_on = score_recipes(datasets, heads, postprocess)
    label = best_overall(results, scored_on)
    keys = [(backbone, kind) for backbone in datasets for kind in heads]
    return keys[list(results).index(label)], rows


def compare(
    videos: list[Path],
    labels,
    backbones: list[str],
    heads: list[str],
    out_dir,
    store_dir=None,
    label_format: str = "auto",
    progress: Progress | None = None,
    folds: int | None = None,
) -> dict:
    """``folds``: group k-fold by video instead of leave-one-video-out (many short videos)."""
    from ethoprism.backbones import load_backbone
    from ethoprism.extract import extract_video
    from ethoprism.provenance import file_sha256
    from ethoprism.store import EmbeddingStore
    from ethoprism.workflows.classify import load_labelled

    out_dir = Path(out_dir)
    store_dir = Path(store_dir) if store_dir else out_dir / "store"
    store = EmbeddingStore(store_dir)
    costs, datasets = {}, {}
    for b_index, name in enumerate(backbones):
        backbone = load_backbone(name, runtime="auto")
        mine = _stored_entries(store, backbone.name)
        specs = {e.provenance.clip_spec for e in mine}
        # the one clip spec this store holds for the backbone, if one: reusing it reuses the embeddings
        spec = specs.pop() if len(specs) == 1 else backbone.default_clip_spec()
        stored = {e.video_sha256: e for e in mine if e.provenance.clip_spec == spec}
        extracted_frames, seconds, entries = 0, 0.0, []
        for v_index, video in enumerate(videos):
            start = time.perf_counter()
            entry = stored.get(file_sha256(video))
            cached = entry is not None  # with or without token maps: the same frame embeddings
            if entry is None:
                entry, cached = extract_video(video, backbone, store, spec)
            if not cached:
                seconds += time.perf_counter() - start
                extracted_frames += entry.n_frames
            entries.append(entry)
            if progress:
                progress(f"{name}: extraction", v_index + 1, len(videos))
        hours = sum(e.n_frames / e.fps for e in entries) / 3600
        disk_gb_per_hour = sum(e.path.stat().st_size for e in entries) / 1e9 / hours
        data = load_labelled(store_dir, labels, label_format, backbone.name)
        if len(set(data.video_groups[data.labelled].tolist())) < 2:
            raise EthoprismError(
                "compare scores by leave-one-video-out: it needs at least two labelled videos", labels[0]
            )
        datasets[backbone.name] = data
        costs[backbone.name] = {
            "extract_frames_per_s": extracted_frames / seconds if seconds else float("nan"),
            "disk_gb_per_hour": disk_gb_per_hour,
            "runtime": backbone.weights.extra.get("runtime", ""),
        }
        if progress:
            progress("backbones", b_index + 1, len(backbones))
    rows, results, scored_on = score_recipes(datasets, heads, folds=folds, progress=progress)
    rows = [{**row, **costs[row["backbone"]]} for row in rows]
    note = ""
    if len(results) > 1:
        try:
            rows.append(choice_row(results, scored_on))
        except EthoprismError as exc:  # backbones that embed other frames: no row-by-row choice
            note = f"no auto row: {exc.problem}"
    table = pd.DataFrame(rows)
    order = ["backbone", "head", "map", "map_std", "chance_map"]
    table = table[order + [c for c in table.columns if c not in order]]
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "compare.csv", index=False, float_format="%.4f")
    plot = _plot(table, out_dir / "compare.png")
    verdict = recommend(table) + (f"\n{note}" if note else "")
    (out_dir / "recommendation.txt").write_text(verdict + "\n")
    return {"table": table, "plot": plot, "recommendation": verdict, "store": str(store_dir)}


def _stored_entries(store, backbone: str) -> list:
    """This store's entries by ``backbone`` (token maps or not); none where it holds nothing yet."""
    try:
        entries = store.entries()
    except EthoprismError:
        return []
    return [e for e in entries if e.backbone == backbone]


def recommend(table: pd.DataFrame) -> str:
    """The best recipe by the mean of its held-out folds' own mAPs (``fold_map``, the criterion
    ``--head auto`` uses; the pooled ``map`` where no fold could be scored alone); a cheaper recipe
    within one fold standard deviation of it is named too, since a difference smaller than the
    spread across videos is not one to pay for."""
    choice = table[table["head"] == "auto"]
    scored = table[table["head"] != "auto"].copy()
    scored["score"] = scored["fold_map"].fillna(scored["map"]) if "fold_map" in scored else scored["map"]
    scored = scored.dropna(subset=["score"]).sort_values("score", ascending=False, kind="stable")
    if scored.empty:
        return "no recipe could be scored"
    best = scored.iloc[0]
    line = (
        f"use {best['backbone']} with the {best['head']} head: mAP {best['map']:.3f} "
        f"(per held-out fold {best['score']:.3f} ± {best['map_std']:.3f}; chance {best['chance_map']:.3f})"
    )
    close = scored[
        (scored["score"] >= best["score"] - best["map_std"])
        & (scored.index != best.name)
        & (scored["head_fit_s"] < best["head_fit_s"])
    ]
    if len(close):
        cheapest = close.sort_values("head_fit_s").iloc[0]
        line += (
            f"; {cheapest['backbone']} + {cheapest['head']} ({cheapest['score']:.3f}) is within that spread "
            f"and fits in {cheapest['head_fit_s']:.2f} s instead of {best['head_fit_s']:.2f} s"
        )
    if len(choice):
        auto = choice.iloc[0]
        line += (
            f". Choosing by cross-validation (`evaluate`'s and `train --head auto`'s way) delivers mAP "
            f"{auto['map']:.3f} on videos that took no part in the choice ({auto['chosen']})"
        )
    return line


def _plot(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.backbone}\n{r.head}" for r in table.itertuples()]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels)), 3.5))
    ax.bar(range(len(labels)), table["map"], yerr=table["map_std"], color="#4363d8", capsize=3)
    ax.scatter(range(len(labels)), table["chance_map"], color="#e6194b", marker="_", s=400, label="chance")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("mAP (leave one video out)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
