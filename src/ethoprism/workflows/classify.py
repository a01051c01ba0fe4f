"""The behaviour-classification workflow behind ``ethoprism train | predict | evaluate | fewshot``:
store + labels -> heads -> predictions, metrics, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.dataset import FrameDataset, build_animal_dataset, build_dataset, video_frame_info
from ethoprism.errors import EthoprismError
from ethoprism.evaluation.classification import (
    classification_metrics,
    cross_validate,
    few_shot,
    file_split,
    predict_dataset,
    with_decision_rule,
)
from ethoprism.heads import check_embeddings_match, load_head, make_head, save_head
from ethoprism.heads.io import TOKEN_HEADS
from ethoprism.io import read_labels
from ethoprism.outputs import plots
from ethoprism.outputs.report import write_html, write_metrics
from ethoprism.outputs.tables import output_stems, write_predictions
from ethoprism.provenance import file_name_part
from ethoprism.store import EmbeddingStore, EntryFilter

DEFAULT_POSTPROCESS = {"smooth": 1, "min_bout": 1}
Progress = Callable[[str, int, int], None]


def load_labelled(
    store_dir,
    labels_path,
    fmt: str = "auto",
    backbone: str | None = None,
    exclusive: bool | None = None,
    behaviors: list[str] | None = None,
    grid: bool = False,
    subject: str | None = None,
) -> FrameDataset:
    """Stored embeddings joined with labels; ``grid``: also each frame's token grid (for the
    spatio-temporal heads, :data:`~ethoprism.heads.io.TOKEN_HEADS`)."""
    entries = EmbeddingStore(store_dir).select(backbone)
    tracked = any(e.provenance.tracks for e in entries)
    labels = read_labels(
        labels_path,
        video_frame_info(entries),
        fmt,
        exclusive=exclusive,
        behaviors=behaviors,
        subject=subject,
        animals=tracked,
    )
    if tracked and subject is None:  # per animal: rows (animal, frame), one track per sequence
        # token heads attend over each row's animals (itself, the others) rather than a grid
        return build_animal_dataset(entries, labels, behaviors, tokens=grid)
    return build_dataset(entries, labels, behaviors, grid=grid)


def head_for(kind: str, data: FrameDataset, **params):
    """A new head of ``kind`` for ``data`` (token heads learn the store's grid, or per animal the
    set of animals on each row's frame)."""
    if kind in TOKEN_HEADS and data.per_animal:
        params.setdefault("tokens", data.animal_tokens)
    elif kind in TOKEN_HEADS:
        params.setdefault("grid", data.token_grid)
    return make_head(kind, exclusive=data.exclusive, **params)


def train(data: FrameDataset, head_kind: str, out_path, postprocess: dict | None = None, **params) -> Path:
    postprocess = {**DEFAULT_POSTPROCESS, **(postprocess or {})}
    head = head_for(head_kind, data, **params)
    data = data.for_head(head_kind)
    labelled_videos = sorted({int(g) for g in np.unique(data.groups[data.labelled])})
    train_data = data.subset(labelled_videos)
    fitted = with_decision_rule(head, postprocess).fit(train_data.X, train_data.Y, groups=train_data.groups)
    return save_head(fitted, out_path, data.behaviors, data.provenance.to_dict(), target_rules(data))


def target_rules(data: FrameDataset) -> dict | None:
    """Per behaviour the labels direct at another animal, how ``predict`` chooses its target
    (:class:`~ethoprism.heads.targets.TargetChooser`); None without directed labels."""
    from ethoprism.evaluation.targets import directed_behaviors
    from ethoprism.heads.targets import TargetChooser

    if not directed_behaviors(data):
        return None
    labelled = data.labelled
    return TargetChooser().fit(data.pairs[labelled], data.target_of[labelled], data.behaviors).to_dict()


def head_dataset(
    store_dir, head_path, backbone: str | None = None, labels=None, label_format="auto", subject=None
):
    """-> (model, metadata, dataset, entries): every stored video made like the head's training
    embeddings, in the features the head reads, with ``labels`` joined where given."""
    model, meta = load_head(head_path)
    trained = meta["embeddings"]
    weights = trained.get("weights") or {}
    # the store's embeddings made like the head's training embeddings, if it holds several kinds
    wanted = EntryFilter(
        backbone or trained.get("backbone"),
        weights.get("sha256") or weights.get("model_id"),
        trained.get("dtype"),
        trained.get("token_dim") if meta["head"] in TOKEN_HEADS else None,
        (trained.get("tracks") or {}).get("mode", "pooled") if trained.get("tracks") else None,
    )
    try:
        entries = EmbeddingStore(store_dir).select(wanted)
    except EthoprismError as exc:
        raise EthoprismError(
            f"head was trained on embeddings the store does not hold (other backbone, weights, dtype "
            f"or token grids): {exc.problem}",
            head_path,
        ) from exc
    for entry in entries:
        check_embeddings_match(meta, entry.provenance, str(head_path))
    per_animal = bool(trained.get("tracks"))
    known = None
    if labels is not None:
        known = read_labels(
            labels,
            video_frame_info(entries),
            label_format,
            exclusive=model.exclusive,
            subject=subject,
            animals=per_animal,
        )
        known = [label.reorder(meta["behaviors"]) for label in known]
    if per_animal:
        data = build_animal_dataset(
            entries,
            known,
            meta["behaviors"],
            require_labels=False,
            tokens=(meta["params"].get("tokens") or True) if meta["head"] in TOKEN_HEADS else False,
        )
    else:
        data = build_dataset(
            entries, known, meta["behaviors"], require_labels=False, grid=meta["head"] in TOKEN_HEADS
        )
    data = data.for_head(meta["head"])
    data.exclusive = model.exclusive
    return model, meta, data, entries


def predict(store_dir, head_path, out_dir, backbone: str | None = None) -> list[dict]:
    model, meta, data, entries = head_dataset(store_dir, head_path, backbone)
    proba, pred = predict_dataset(model, data)
    if data.per_animal:
        return _predict_animals(data, proba, pred, entries, out_dir, meta.get("targets"))
    written = []
    stems = output_stems(data.videos)
    for index, video in enumerate(data.videos):
        rows = data.groups == index
        paths = write_predictions(
            out_dir,
            video,
            data.times[rows],
            proba[rows],
            pred[rows],
            data.behaviors,
            data.fps[index],
            stems[video],
        )
        plots.ethogram(
            Path(out_dir) / f"{stems[video]}.ethogram.png",
            data.times[rows],
            pred[rows],
            data.behaviors,
            title=f"{video}: predicted",
        )
        written.append({"video": video, **{k: str(v) for k, v in paths.items()}})
    return written


def _write_out_of_fold(data: FrameDataset, result: dict, folder: Path) -> None:
    """Each scored video's out-of-fold predictions, as ``predict`` writes them (per animal: one
    table per video with an animal column)."""
    from ethoprism.outputs.tables import write_animal_predictions

    videos = list(dict.fromkeys(data.videos))
    stems = output_stems(videos)
    for video in videos:
        groups = [g for g, v in enumerate(data.videos) if v == video]
        rows = np.isin(data.groups, groups)
        if not result["scored"][rows].any():
            continue
        if not data.per_animal:
            (group,) = groups
            write_predictions(
                folder,
                video,
                data.times[rows],
                result["proba"][rows],
                result["pred"][rows],
                data.behaviors,
                data.fps[group],
                stems[video],
            )
            continue
        timeline = np.zeros(int(data.frames[rows].max()) + 1)
        timeline[data.frames[rows]] = data.times[rows]
        parts = [
            (
                data.animals[g],
                data.frames[data.groups == g],
                data.times[data.groups == g],
                result["proba"][data.groups == g],
                result["pred"][data.groups == g],
            )
            for g in groups
        ]
        write_animal_predictions(
            folder, video, parts, data.behaviors, data.fps[groups[0]], timeline, stems[video]
        )


def animal_blind_metrics(
    kind: str, data: FrameDataset, n_splits=None, postprocess=None, split="videos"
) -> dict:
    """The animal-blind baseline of per-animal ``data``: the same head on whole frames (labels: what
    any animal does), cross-validated the same way, its scores and decisions copied to every
    animal on the frame and scored per (animal, frame) row. ``ceiling_map``: the best any
    animal-blind scorer can reach, from the labels (a frame's score is 1 where any animal does the
    behaviour): per-animal mAP above it is what the tracks bring."""
    from ethoprism.dataset import animal_blind

    frames, row_of = animal_blind(data)
    # a token head's own tokens here are animals: without tracks, the nearest head reads frames
    blind_kind = "attentive" if kind in TOKEN_HEADS else kind
    result = cross_validate(head_for(blind_kind, frames), frames, n_splits, postprocess, split="videos")
    scored = result["scored"][row_of]
    truth = np.where(scored[:, None], data.Y, -1)
    blind = classification_metrics(
        truth, result["proba"][row_of], result["pred"][row_of], data.behaviors, data.exclusive
    )
    oracle = np.maximum(frames.Y, 0).astype(np.float32)[row_of]
    ceiling = classification_metrics(truth, oracle, oracle.astype(np.int8), data.behaviors, data.exclusive)
    return {
        "head": blind_kind,
        "map": blind["map"],
        "macro_f1": blind["macro_f1"],
        "per_class": blind["per_class"],
        "ceiling_map": ceiling["map"],
        "ceiling_per_class_ap": {b: v["ap"] for b, v in ceiling["per_class"].items()},
    }


def animal_boxes(rows: tuple, boxes: np.ndarray, animal: int, frames: np.ndarray) -> np.ndarray:
    """The box of animal index ``animal`` on each of ``frames`` (every frame it has a row on), from
    an entry's ``animal_rows()`` and ``animal_boxes()`` (read once per video)."""
    row_frames, ids = rows
    mine = np.flatnonzero(ids == animal)
    return boxes[mine[np.searchsorted(row_frames[mine], frames)]]


def _predict_animals(data, proba, pred, entries, out_dir, targets: dict | None = None) -> list[dict]:
    """One table per video with a row per frame and animal; an ethogram with one band per animal.
    ``targets``: the head's target rules: each bout of a directed behaviour names its target."""
    from ethoprism.heads.targets import TargetChooser
    from ethoprism.outputs.tables import write_animal_predictions

    chooser = TargetChooser.from_dict(targets, data.behaviors) if targets else None
    by_name = {e.video_name: e for e in entries}
    videos = list(dict.fromkeys(data.videos))
    stems = output_stems(videos)
    written = []
    for video in videos:
        entry = by_name[video]
        tracked, tracked_boxes = entry.animal_rows(), entry.animal_boxes()
        parts = []
        for group in [g for g, v in enumerate(data.videos) if v == video]:
            rows = data.groups == group
            animal = entry.animals.index(data.animals[group])
            boxes = animal_boxes(tracked, tracked_boxes, animal, data.frames[rows])
            parts.append(
                (data.animals[group], data.frames[rows], data.times[rows], proba[rows], pred[rows], boxes)
            )
        paths = write_animal_predictions(
            out_dir,
            video,
            parts,
            data.behaviors,
            entry.fps,
            entry.timestamps(),
            stems[video],
            None if chooser is None else _bout_targets(chooser, data, video, entry.animals),
        )
        timeline = np.zeros((entry.n_frames, len(parts) * len(data.behaviors)), np.int8)
        for a, (_, frames, _, _, decided, _) in enumerate(parts):
            timeline[frames, a * len(data.behaviors) : (a + 1) * len(data.behaviors)] = decided
        plots.ethogram(
            Path(out_dir) / f"{stems[video]}.ethogram.png",
            entry.timestamps(),
            timeline,
            [f"{animal}: {b}" for animal, *_ in parts for b in data.behaviors],
            title=f"{video}: predicted, one band per animal",
        )
        written.append({"video": video, **{k: str(v) for k, v in paths.items()}})
    return written


def _bout_keys(bouts: pd.DataFrame):
    return bouts[["behavior", "start_frame", "end_frame"]].itertuples(index=False)


def _bout_targets(chooser, data: FrameDataset, video: str, animals: list[str]):
    """-> ``target(animal, behaviour, start_frame, end_frame)``: whom a predicted bout of a
    directed behaviour is directed at (its name; empty for undirected ones)."""
    groups = [g for g, v in enumerate(data.videos) if v == video]
    rows_of = {data.animals[g]: np.flatnonzero(data.groups == g) for g in groups}

    def target(animal: str, behavior: str, start: int, end: int) -> str:
        if behavior not in chooser.directed:
            return ""
        rows = rows_of[animal]  # one track: its frames ascend
        frames = data.frames[rows]
        bout = rows[np.searchsorted(frames, start) : np.searchsorted(frames, end, side="right")]
        chosen = chooser.choose(behavior, data.pairs[bout][:, : len(animals)])
        return animals[chosen] if chosen >= 0 else ""

    return target


def evaluate(
    data: FrameDataset | dict[str, FrameDataset],
    head_kinds: list[str],
    out_dir,
    n_splits: int | None = None,
    postprocess: dict | None = None,
    fewshot: dict | None = None,
    title: str = "ethoprism report",
    notes: list[str] | None = None,
    progress: Progress | None = None,
    split: str = "auto",
    choose: bool = False,
) -> dict:
    """Cross-validated evaluation of each recipe (head, or backbone x head where ``data`` maps
    several backbones to their datasets) (+ optional few-shot table) -> metrics.json/.csv,
    per-frame out-of-fold predictions, plots and report.html in ``out_dir``. ``progress(step,
    done, total)`` hears of every finished fold and few-shot run. ``split``: ``auto`` (the label
    file's train/test split when it has one, as FERAL files do, else by video), ``file`` or
    ``videos`` (leave-one-video-out, or ``n_splits`` group folds). ``choose``: also score the
    recipe choice itself (``report["heads"]["auto"]``: each fold's held-out videos get the recipe
    that was best on the other folds, :func:`~ethoprism.evaluation.recipes.choose_by_other_folds`)
    and name the recipe to train (``report["recommended"]``)."""
    from ethoprism.evaluation.recipes import best_overall, check_aligned, choose_by_other_folds, fold_maps
    from ethoprism.evaluation.targets import target_metrics

    datasets = data if isinstance(data, dict) else {None: data}
    data = next(iter(datasets.values()))
    if choose and len(datasets) > 1:
        check_aligned(datasets)  # before any fit: backbones over other videos cannot be chosen among
    if split not in ("auto", "file", "videos"):
        raise EthoprismError(f"--split must be auto, file or videos, not '{split}'")
    if split == "auto":
        split = "file" if file_split(data) is not None else "videos"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    postprocess = {**DEFAULT_POSTPROCESS, **(postprocess or {})}
    report = {
        "behaviors": data.behaviors,
        "exclusive": data.exclusive,
        "videos": data.videos,
        "embeddings": data.provenance.to_dict(),
        "postprocess": postprocess,
        "heads": {},
    }
    if len(datasets) > 1:
        report["backbones"] = {name: d.provenance.to_dict() for name, d in datasets.items()}
    sections = []
    summary_rows = []
    results, scored_on, recipes = {}, {}, {}
    for backbone, recipe_data in datasets.items():
        for kind in head_kinds:
            label = kind if backbone is None else f"{backbone} + {kind}"
            stem = kind if backbone is None else file_name_part(f"{backbone}_{kind}")
            result = cross_validate(
                head_for(kind, recipe_data),
                recipe_data.for_head(kind),
                n_splits,
                postprocess,
                progress=_step(progress, f"{label} head: cross-validation folds"),
                split=split,
            )
            results[label], scored_on[label] = result, recipe_data
            recipes[label] = {"backbone": backbone or recipe_data.provenance.backbone, "head": kind}
            maps = [m for m in fold_maps(result, recipe_data) if not np.isnan(m)]
            report["heads"][label] = {
                "metrics": result["metrics"],
                **recipes[label],
                # each held-out fold's own mAP, averaged: what choosing a recipe goes by
                "fold_map": float(np.mean(maps)) if maps else float("nan"),
            }
            if recipe_data.per_animal:
                report["heads"][label]["animal_blind"] = animal_blind_metrics(
                    kind, recipe_data, n_splits, postprocess, split
                )
                targets = target_metrics(recipe_data, result)
                if targets is not None:
                    report["heads"][label]["targets"] = targets
            row = {"head": label, **_summary_row(result["metrics"], report["heads"][label])}
            summary_rows.append(row)
            sections.append(_recipe_section(label, stem, recipe_data, result, out_dir))
    if choose and split == "file":  # one split: the test videos would choose their own recipe
        recommended = best_overall(results, scored_on)
        report["recommended"] = {"recipe": recommended, **recipes[recommended]}
        notes = [
            *(notes or []),
            f"best on the label file's test videos: {recommended}. With one train/test split the choice "
            "itself cannot be scored on videos that took no part in it (--split videos scores it).",
        ]
    elif choose:
        chosen = choose_by_other_folds(results, scored_on)
        recommended = best_overall(results, scored_on)
        report["heads"]["auto"] = {
            "metrics": chosen["metrics"],
            "chosen": chosen["chosen"],
            "fold_map": chosen["fold_map"],
        }
        report["recommended"] = {"recipe": recommended, **recipes[recommended]}
        summary_rows.append({"head": "auto", **_summary_row(chosen["metrics"], report["heads"]["auto"])})
        _write_out_of_fold(data, chosen, out_dir / "predictions_auto")
        picks = ", ".join(
            f"{name} in {n} of {len(chosen['metrics']['folds'])}" for name, n in chosen["chosen"].items()
        )
        notes = [
            *(notes or []),
            f"auto: each fold's held-out videos get the recipe that scored best on the other folds "
            f"(chosen: {picks}); its mAP is what choosing delivers. Trained on all labelled videos, "
            f"the choice is {recommended}.",
        ]
    summary = pd.DataFrame(summary_rows)
    report["split"] = split
    how = "train/test split of the label file" if split == "file" else "cross-validated by video"
    heading = (
        f"summary ({how}, background excluded from mAP; chance = the AP of uninformed scores, "
        "each behaviour's prevalence)"
    )
    sections.insert(0, (heading, [summary, *(notes or [])]))
    if fewshot:
        report["fewshot"] = {}
        for kind in fewshot.get("heads", ["linear"]):
            result = few_shot(
                head_for(kind, data),
                data.for_head(kind),
                fewshot["train_videos"],
                fewshot["test_videos"],
                tuple(fewshot.get("shots", (10, 50, 100))),
                fewshot.get("seeds", 5),
                postprocess,
                progress=_step(progress, f"{kind} head: few-shot runs"),
            )
            report["fewshot"][kind] = result
        sections.append(
            (
                "few-shot (k labelled frames per class; mean ± std over seeds; test videos held out)",
                [fewshot_table(report["fewshot"])],
            )
        )
    provenance = data.provenance
    sections.append(
        (
            "provenance",
            [f"{provenance.describe()} ({provenance.clip_spec}), ethoprism {provenance.ethoprism_version}"],
        )
    )
    write_metrics(out_dir, report)
    write_html(out_dir / "report.html", title, sections)
    return report


def _summary_row(m: dict, head_report: dict | None) -> dict:
    row = {
        "mAP": m["map"],
        "mAP per held-out fold": (head_report or {}).get("fold_map", float("nan")),
        "chance mAP": m["chance_map"],
        "macro accuracy": m["macro_accuracy"],
        "chance macro accuracy": m["chance_macro_accuracy"],
        "macro F1": m["macro_f1"],
        "frames": m["n_frames"],
    }
    blind = (head_report or {}).get("animal_blind")
    if blind:  # per (animal, frame) row; beside the head that cannot tell animals apart
        row = {
            **row,
            "animal-blind mAP": blind["map"],
            "animal-blind ceiling mAP": blind["ceiling_map"],
            "animal-blind macro F1": blind["macro_f1"],
            "frames": m["n_frames"],
        }
    targets = (head_report or {}).get("targets")
    if targets:  # directed behaviours: whom at, beside the nearest-animal rule and chance
        row = {
            **row,
            "pair F1 (agent + target)": targets["pair_f1"],
            "target accuracy": targets["target_accuracy"],
            "nearest-animal accuracy": targets["nearest_accuracy"],
            "target chance": targets["chance"],
            "frames": m["n_frames"],
        }
    return row


def _recipe_section(label: str, stem: str, data: FrameDataset, result: dict, out_dir: Path) -> tuple:
    """One recipe's out-of-fold predictions on disk and its report section (per-class table, PR
    curves, confusion matrix, the first scored video's ethogram against the truth)."""
    _write_out_of_fold(data, result, out_dir / f"predictions_{stem}")
    m = result["metrics"]
    per_class = pd.DataFrame([{"behavior": b, **v} for b, v in m["per_class"].items()])
    figures = [plots.pr_curves(out_dir / f"pr_{stem}.png", result["truth"], result["proba"], data.behaviors)]
    if "confusion_matrix" in m:
        figures.append(
            plots.confusion(out_dir / f"confusion_{stem}.png", m["confusion_matrix"], m["confusion_labels"])
        )
    first = data.groups == data.groups[np.flatnonzero(result["scored"])[0]]
    figures.append(
        plots.ethogram(
            out_dir / f"ethogram_{stem}.png",
            data.times[first],
            result["pred"][first],
            data.behaviors,
            truth=np.maximum(data.Y[first], 0),
            title=f"{data.videos[int(data.groups[first][0])]}: out-of-fold prediction vs truth",
        )
    )
    return (f"{label} head ({m['splitter']})", [per_class, *figures])


def _step(progress: Progress | None, step: str):
    return None if progress is None else (lambda done, total: progress(step, done, total))


def fewshot_table(fewshot_report: dict) -> pd.DataFrame:
    rows = []
    for kind, result in fewshot_report.items():
        for shots, values in result["shots"].items():
            rows.append(
                {
                    "head": kind,
                    "shots per class": int(shots),
                    "mAP": f"{values['map_mean']:.3f} ± {values['map_std']:.3f}",
                    "chance mAP": f"{values['chance_map_mean']:.3f}",
                    "macro accuracy": (
                        f"{values['macro_accuracy_mean']:.3f} ± {values['macro_accuracy_std']:.3f}"
                    ),
                    "seeds": len(values["runs"]),
                }
            )
    return pd.DataFrame(rows)


def fewshot(
    data: FrameDataset,
    head_kinds: list[str],
    out_dir,
    shots=(10, 50, 100),
    seeds: int = 5,
    test_videos: list[str] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The paper's few-shot protocol on held-out ``test_videos`` (default: the last third) ->
    ``fewshot.json``, ``fewshot.csv`` and ``report.html`` in ``out_dir``; returns the table."""
    names = list(dict.fromkeys(data.videos))  # per animal, a video holds several groups
    if test_videos:
        unknown = sorted(set(test_videos) - set(names))
        if unknown:
            raise EthoprismError(f"--test-video names videos without labels: {unknown}")
        test_names = set(test_videos)
        if test_names == set(names):
            raise EthoprismError("every labelled video is a --test-video: none is left to train on")
    else:
        _, held_out = default_split(len(names))
        test_names = {names[i] for i in held_out}
    test = [g for g, video in enumerate(data.videos) if video in test_names]
    train_idx = [g for g, video in enumerate(data.videos) if video not in test_names]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        kind: few_shot(
            head_for(kind, data),
            data.for_head(kind),
            train_idx,
            test,
            tuple(shots),
            seeds,
            progress=_step(progress, f"{kind} head: few-shot runs"),
        )
        for kind in head_kinds
    }
    table = fewshot_table(result)
    (out_dir / "fewshot.json").write_text(json.dumps(result, indent=2))
    table.to_csv(out_dir / "fewshot.csv", index=False)
    write_html(out_dir / "report.html", "few-shot behaviour classification", [("few-shot", [table])])
    return table


def default_split(n_videos: int) -> tuple[list[int], list[int]]:
    """Few-shot split: the last third of the videos (at least one) are test videos."""
    if n_videos < 2:
        raise EthoprismError("few-shot evaluation needs at least two labelled videos")
    n_test = max(1, n_videos // 3)
    return list(range(n_videos - n_test)), list(range(n_videos - n_test, n_videos))


__all__ = [
    "load_labelled",
    "train",
    "predict",
    "evaluate",
    "fewshot",
    "default_split",
    "classification_metrics",
]


def suggest(
    store_dir,
    head_path,
    labels,
    n: int = 20,
    segment_s: float = 1.0,
    strategy: str = "diverse",
    label_format: str = "auto",
    backbone: str | None = None,
    subject: str | None = None,
) -> pd.DataFrame:
    """The segments to label next (:mod:`ethoprism.active_learning`): ``video, start_frame,
    end_frame, start_s, end_s, uncertainty, distance, predicted`` (the behaviour with the highest
    mean probability over the segment, or background), best first."""
    from ethoprism.active_learning import suggest_segments

    model, meta, data, _ = head_dataset(store_dir, head_path, backbone, labels, label_format, subject)
    proba = model.predict_proba(data.X, groups=data.groups)
    segment = max(1, round(segment_s * float(np.median(data.fps))))
    picks = suggest_segments(data.X, proba, data.labelled, data.groups, data.exclusive, n, segment, strategy)
    rows = []
    for pick in picks.itertuples():
        first, last = int(pick.row_start), int(pick.row_end) - 1
        mean = proba[first : last + 1].mean(axis=0)
        background = 1 - mean.sum() if data.exclusive else 0.5
        rows.append(
            {
                "rank": int(pick.rank),
                "video": data.videos[int(pick.video_index)],
                **({"animal": data.animals[int(pick.video_index)]} if data.per_animal else {}),
                "start_frame": int(data.frames[first]),
                "end_frame": int(data.frames[last]),
                "start_s": float(data.times[first]),
                "end_s": float(data.times[last]),
                "uncertainty": float(pick.uncertainty),
                "distance": None if np.isnan(pick.distance) else float(pick.distance),
                "predicted": data.behaviors[int(mean.argmax())] if mean.max() >= background else "background",
            }
        )
    return pd.DataFrame(rows)


def _labelled_bouts(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The labelled bouts of one video for NWB (no score: labels have none)."""
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def export_nwb(
    store_dir, head_path, out_dir, labels=None, label_format="auto", backbone=None, subject=None
) -> list[Path]:
    """One NWB file per stored video (:mod:`ethoprism.io.nwb`): the video linked, per-frame
    probabilities, predicted bouts and, with ``labels``, the labelled bouts; per animal (a head
    trained on tracks), one probabilities series per animal and the animal on every bout."""
    from ethoprism.evaluation.targets import directed_behaviors
    from ethoprism.heads.targets import TargetChooser
    from ethoprism.io.nwb import write_nwb
    from ethoprism.outputs.tables import bouts_table

    model, meta, data, entries = head_dataset(store_dir, head_path, backbone, labels, label_format, subject)
    proba, pred = predict_dataset(model, data)
    chooser = TargetChooser.from_dict(meta["targets"], data.behaviors) if meta.get("targets") else None
    named_targets = bool(directed_behaviors(data))
    videos = list(dict.fromkeys(data.videos))
    stems = output_stems(videos)
    entries = {e.video_name: e for e in entries}
    written = []
    for video in videos:
        entry = entries[video]
        groups = [g for g, v in enumerate(data.videos) if v == video]
        predicted, labelled, series = [], [], {}
        for group in groups:  # one group per animal (per-animal data), else the whole video
            rows = data.groups == group
            animal = data.animals[group] if data.per_animal else None
            frames = data.frames[rows]
            bouts = bouts_table(
                video, data.times[rows], proba[rows], pred[rows], data.behaviors, frames, animal
            )
            if chooser is not None:
                target = _bout_targets(chooser, data, video, entry.animals)
                bouts.insert(2, "target", [target(animal, *key) for key in _bout_keys(bouts)])
            predicted.append(bouts)
            if animal is not None:
                series[animal] = (frames, proba[rows])
            if labels is not None and data.labelled[rows].any():
                truth = (data.Y[rows] > 0).astype(np.float32)  # the labels' bouts, as predict cuts them
                bouts = bouts_table(video, data.times[rows], truth, truth, data.behaviors, frames, animal)
                if named_targets:  # whom each labelled bout names (at its first frame)
                    named = data.target_of[rows]
                    at = np.searchsorted(frames, bouts["start_frame"].to_numpy())
                    index = named[at, [data.behaviors.index(b) for b in bouts["behavior"]]]
                    bouts.insert(2, "target", [entry.animals[i] if i >= 0 else "" for i in index])
                labelled.append(bouts)
        columns = ["animal", "behavior", "start_frame", "end_frame"]
        if chooser is not None or named_targets:
            columns.insert(1, "target")
        written.append(
            write_nwb(
                Path(out_dir) / f"{stems[video]}.nwb",
                video,
                entry.video_path,
                entry.timestamps(),
                data.behaviors,
                None if series else proba[data.groups == groups[0]],
                pd.concat(predicted, ignore_index=True),
                _labelled_bouts(labelled, columns if series else columns[1:]) if labels is not None else None,
                animal_probabilities=series or None,
            )
        )
    return written
