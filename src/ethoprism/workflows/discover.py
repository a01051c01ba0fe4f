"""The discovery workflow behind ``ethoprism discover`` and ``ethoprism evaluate-motifs``:
store -> motif model (fitted, or loaded) -> motifs per frame -> tables, figures, movies, report;
and motifs -> labels (a named motif's bouts become a bouts CSV a head trains on)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.discovery.model import MotifModel, choose_n_motifs, fit_model
from ethoprism.discovery.sequences import MotifSequence, sequences_of
from ethoprism.errors import EthoprismError
from ethoprism.outputs import motifs as motif_outputs
from ethoprism.outputs.tables import output_stems
from ethoprism.store import EmbeddingStore
from ethoprism.store.selection import select_entries

Progress = Callable[[str, int, int], None]
WINDOW_S = 0.3  # the temporal context of a frame's features
MIN_S = 0.2  # the shortest motif bout
MEAN_S = 1.0  # the bout length the sticky transitions expect
EXEMPLARS = 6


def select_sequences(store_dir, backbone=None, videos: list[str] | None = None, per_animal=None):
    """The store's sequences; with no ``backbone`` named, the motion backbone's where the store
    holds it beside others (its embeddings are appearance *and* motion: the same frame features
    plus what moves, which actions are made of)."""
    store = EmbeddingStore(store_dir)
    listed = store.entries()  # read once: which backbones, then which entries
    entries = select_entries(listed, backbone or motion_backbone(listed), "grids", store.root)
    if videos:
        names = {e.video_name: e for e in entries} | {Path(e.video_name).stem: e for e in entries}
        unknown = [v for v in videos if v not in names]
        if unknown:
            raise EthoprismError(f"--videos names videos that are not in the store: {unknown}", store_dir)
        entries = list({id(names[v]): names[v] for v in videos}.values())
    return sequences_of(entries, per_animal)


def motion_backbone(entries) -> str | None:
    """The one motion backbone among ``entries`` (a store's) where they hold several backbones,
    else None."""
    names = {e.backbone for e in entries}
    motion = {e.backbone for e in entries if "motion" in e.provenance.weights.extra}
    return motion.pop() if len(names) > 1 and len(motion) == 1 else None


def _frames(seconds: float, fps: float, at_least: int = 1) -> int:
    return max(at_least, int(round(seconds * fps)))


def check_n_motifs(n_motifs: int, sequences: list[MotifSequence], min_frames: int) -> None:
    total = sum(len(s) for s in sequences)
    if n_motifs < 2:
        raise EthoprismError(f"--motifs must be at least 2 (or auto), not {n_motifs}")
    if n_motifs * min_frames > total:
        raise EthoprismError(
            f"--motifs {n_motifs} asks for more motifs than {total} frames can hold "
            f"(each motif needs bouts of at least {min_frames} frames)"
        )


def read_groups(path, sequences: list[MotifSequence]) -> dict[str, str]:
    """``video, group`` (or ``condition``) CSV -> video name -> group; videos must be in the store."""
    from ethoprism.io.tables import read_table

    path = Path(path)
    table = read_table(path)
    columns = {str(c).strip().lower(): c for c in table.columns}
    group_column = columns.get("group") or columns.get("condition")
    if "video" not in columns or group_column is None:
        raise EthoprismError("a groups CSV needs the columns video and group (or condition)", path)
    stems = {Path(s.video).stem: s.video for s in sequences}
    known = {s.video for s in sequences} | set(stems)
    groups = {}
    for video, group in zip(table[columns["video"]].astype(str).str.strip(), table[group_column].astype(str)):
        if video not in known:
            raise EthoprismError(f"names video '{video}', which is not among the discovered videos", path)
        groups[stems.get(video, video)] = group.strip()
    if len(set(groups.values())) < 2:
        raise EthoprismError("a groups CSV needs at least two groups to compare", path)
    return groups


def discover(
    store_dir,
    out_dir,
    n_motifs: int | str = "auto",
    seed: int = 0,
    videos: list[str] | None = None,
    groups_path=None,
    model_path=None,
    backbone: str | None = None,
    coarsen: int | None = None,
    per_animal: bool | None = None,
    movies: bool = True,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda line: None,
    ready: Callable[[], None] = lambda: None,
) -> dict:
    """Fit (or apply ``model_path``) and write every output into ``out_dir``; -> a summary.
    ``ready`` is called once the inputs are checked, before the long work."""
    given = MotifModel.load(model_path) if model_path is not None else None
    if given is not None and backbone is None:  # a model reads the embeddings it was fitted on
        backbone = given.source.get("backbone")
    sequences = select_sequences(store_dir, backbone, videos, per_animal)
    if not sequences:
        raise EthoprismError("no animal has any tracked frame in the selected videos", store_dir)
    fps = float(np.median([s.entry.fps for s in sequences]))
    groups = read_groups(groups_path, sequences) if groups_path else None
    out_dir = Path(out_dir)
    stability = []
    if given is not None:
        model = given
        for sequence in sequences:
            model.check_source(sequence)
        if model.features_.embedding_dim_ != _width(sequences[0]):
            raise EthoprismError(
                f"the motif model reads {model.features_.embedding_dim_}-dimensional embeddings, the store "
                f"holds {_width(sequences[0])}",
                model_path,
            )
        ready()
    else:
        settings = {
            "window": _frames(WINDOW_S, fps, 3) | 1,
            "min_frames": _frames(MIN_S, fps),
            "mean_frames": float(_frames(MEAN_S, fps, 2)),
        }
        if n_motifs != "auto":
            check_n_motifs(int(n_motifs), sequences, settings["min_frames"])
        ready()
        if n_motifs == "auto":
            n_motifs, stability = choose_n_motifs(
                sequences,
                progress=lambda k, v: say(f"{k} motifs: stability (AMI across 3 seeds) {v:.3f}"),
                **settings,
            )
            say(f"chosen: {n_motifs} motifs")
        model = fit_model(sequences, int(n_motifs), seed=seed, **settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model_path is None:
        model.save(out_dir / "model.json")
    mapping = model.hmm_.coarsen(coarsen) if coarsen else np.arange(model.n_motifs)
    n_shown = int(mapping.max()) + 1
    keys = ["video", "animal"] if sequences[0].animal is not None else ["video"]
    stems = output_stems(list(dict.fromkeys(s.video for s in sequences)))
    frame_tables, bout_tables = [], []
    by_video: dict[str, list[pd.DataFrame]] = {}
    for index, sequence in enumerate(sequences):
        motif, probability = model.assign(sequence)
        frames = sequence.frame_numbers()
        times = sequence.entry.timestamps()[frames]
        table = pd.DataFrame(
            {
                "video": sequence.video,
                "frame": frames,
                "time_s": times,
                "motif": mapping[motif],
                "probability": probability,
            }
        )
        if sequence.animal is not None:
            table.insert(1, "animal", sequence.animal)
        by_video.setdefault(sequence.video, []).append(table)
        bout_table = motif_outputs.bouts(table, sequence.entry.fps)
        for key in reversed(keys):
            bout_table.insert(0, key, table[key].iloc[0])
        bout_table["video_path"] = str(sequence.entry.video_path)
        bout_tables.append(bout_table)
        frame_tables.append(table[[*keys, "motif"]])
        if progress:
            progress("assigning motifs", index + 1, len(sequences))
    written = []
    for video, tables in by_video.items():
        path = out_dir / f"{stems[video]}.motifs.csv"
        pd.concat(tables).to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    bout_table = pd.concat(bout_tables, ignore_index=True)
    bout_table.drop(columns="video_path").to_csv(
        out_dir / "motif_bouts.csv", index=False, float_format="%.6g"
    )
    usage = motif_outputs.usage(pd.concat(frame_tables), bout_table, n_shown, keys)
    if groups:
        usage.insert(len(keys), "group", usage["video"].map(groups).fillna(""))
    usage.to_csv(out_dir / "usage.csv", index=False, float_format="%.6g")
    transitions = motif_outputs.transitions(bout_table, n_shown, keys)
    transitions.to_csv(out_dir / "transitions.csv", index=False, float_format="%.6g")
    tests = None
    if groups:
        tests, _ = motif_outputs.group_tests(usage, groups, keys)
        tests.to_csv(out_dir / "group_tests.csv", index=False, float_format="%.6g")
    if stability:
        pd.DataFrame(stability).to_csv(out_dir / "stability.csv", index=False)
    figures = _figures(out_dir, by_video, stems, usage, transitions, model, n_shown, keys, coarsen)
    exemplars = _exemplars(out_dir, bout_table, n_shown, fps, movies)
    _report(out_dir, model, usage, tests, stability, figures, exemplars, n_shown, coarsen, keys, fps)
    summary = {
        "motifs": n_shown,
        "fitted_motifs": model.n_motifs,
        "sequences": len(sequences),
        "frames": int(sum(len(s) for s in sequences)),
        "bouts": int(len(bout_table)),
        "mean_bout_s": round(model.hmm_.bout_frames_ / fps, 3),  # the HMM's, learned when fitted
        "model": str(model_path or out_dir / "model.json"),
        "report": str(out_dir / "report.html"),
        "tables": [str(p) for p in written],
        "stability": stability,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _width(sequence: MotifSequence) -> int:
    return sequence.read(0, 1).shape[1]


def _figures(out_dir, by_video, stems, usage, transitions, model, n_shown, keys, coarsen) -> dict:
    folder = out_dir / "figures"
    folder.mkdir(exist_ok=True)
    figures = {"usage": motif_outputs.plot_usage(folder / "usage.png", usage, n_shown, keys)}
    figures["transitions"] = motif_outputs.plot_transitions(folder / "transitions.png", transitions, n_shown)
    if not coarsen:
        figures["merge_tree"] = motif_outputs.plot_merge_tree(
            folder / "merge_tree.png", model.hmm_.linkage_, n_shown
        )
    figures["ethograms"] = []
    for video, tables in by_video.items():
        for table in tables:
            animal = table["animal"].iloc[0] if "animal" in table else None
            name = stems[video] + (f".{animal}" if animal is not None else "")
            figures["ethograms"].append(
                motif_outputs.plot_ethogram(
                    folder / f"{name}.ethogram.png",
                    table["time_s"].to_numpy(),
                    table["motif"].to_numpy(),
                    n_shown,
                    f"{video}" + (f" — {animal}" if animal is not None else ""),
                )
            )
    return figures


def _exemplars(out_dir, bout_table, n_shown, fps, movies) -> dict[int, dict]:
    """Per motif: its most confident bouts (at most one per sequence first, so one video does not
    fill the sheet), as a contact sheet and a grid movie. A video that cannot be read (moved,
    deleted) is named, not fatal: the tables stand without pictures."""
    from ethoprism.outputs.media import contact_sheet, grid_movie

    folder = out_dir / "motifs"
    folder.mkdir(exist_ok=True)
    shown = {}
    for motif in range(n_shown):
        mine = bout_table[bout_table["motif"] == motif].sort_values(
            ["mean_probability", "frames"], ascending=False
        )
        if mine.empty:
            shown[motif] = {"note": "unused"}
            continue
        first = mine.drop_duplicates("video")
        picks = pd.concat([first, mine.drop(first.index)]).head(EXEMPLARS).reset_index(drop=True)
        picks["rank"] = np.arange(1, len(picks) + 1)
        picks["caption"] = [
            f"#{r.rank} {r.video} {r.start_frame}-{r.end_frame} p={r.mean_probability:.2f}"
            for r in picks.itertuples()
        ]
        entry = {}
        try:
            entry["sheet"] = contact_sheet(picks, folder / f"motif_{motif:02d}.png", thumb=112)
            if movies:
                entry["movie"] = grid_movie(
                    picks,
                    folder / f"motif_{motif:02d}.mp4",
                    fps,
                    border=motif_outputs.hex_colour(motif, n_shown),
                )
        except (EthoprismError, OSError) as exc:
            entry["note"] = f"no pictures: {exc}"
        shown[motif] = entry
    return shown


def _report(out_dir, model, usage, tests, stability, figures, exemplars, n_shown, coarsen, keys, fps) -> Path:
    import html

    from ethoprism.outputs.report import write_html

    source = model.source
    backbone, weights = html.escape(str(source.get("backbone"))), html.escape(str(source.get("weights")))
    about = (
        f"{n_shown} motifs"
        + (f" (the merge tree of {model.n_motifs} cut into {n_shown})" if coarsen else "")
        + f" from {backbone} embeddings ({weights}),"
        f" features over a {model.window}-frame window, bouts of at least {model.min_frames} frames"
        f" and {model.hmm_.bout_frames_ / fps:.2f} s on average (learned from these videos),"
        f" fitted on {model.fitted_on_} frames with seed {model.seed}."
    )
    summary = usage.groupby("motif").agg(frames=("frames", "sum"), bouts=("bouts", "sum")).reset_index()
    summary["fraction"] = summary["frames"] / max(int(summary["frames"].sum()), 1)
    summary["colour"] = [motif_outputs.hex_colour(int(k), n_shown) for k in summary["motif"]]
    sections = [("What was found", [about, summary]), ("Usage", [figures["usage"]])]
    if stability:
        sections.append(("How many motifs (stability across seeds)", [pd.DataFrame(stability)]))
    if tests is not None:
        sections.append(
            (
                "Group differences",
                [
                    f"{tests['test'].iloc[0]} per motif on the fraction of frames; p_fdr: Benjamini-Hochberg "
                    "over the motifs.",
                    tests.drop(columns="test"),
                ],
            )
        )
    sections.append(("Transitions", [figures["transitions"]]))
    if "merge_tree" in figures:
        sections.append(("Merge tree", [figures["merge_tree"]]))
    sections.append(("Ethograms", figures["ethograms"]))
    for motif in range(n_shown):
        shown = exemplars.get(motif, {})
        items = []
        colour = motif_outputs.hex_colour(motif, n_shown)
        items.append(f"<span style='display:inline-block;width:1em;height:1em;background:{colour}'></span>")
        if "sheet" in shown:
            items.append(Path(shown["sheet"]))
        if "movie" in shown:
            name = html.escape(Path(shown["movie"]).relative_to(out_dir).as_posix())
            items.append(f"<video src='{name}' controls loop muted style='max-width:100%'></video>")
        if "note" in shown:
            items.append(html.escape(shown["note"]))
        sections.append((f"Motif {motif}", items))
    return write_html(out_dir / "report.html", "ethoprism motifs", sections)


def motif_labels(
    store_dir, model_path, names: dict[int, str], out_path, backbone=None, videos=None, ready=lambda: None
) -> pd.DataFrame:
    """Named motifs' bouts as a bouts CSV (``video, behavior, start_frame, end_frame[, animal]``)
    that ``ethoprism train`` reads: from discovered motifs to a first head without labelling
    frame by frame."""
    from ethoprism.io.bouts_csv import write_bouts_csv

    model = MotifModel.load(model_path)
    unknown = [k for k in names if not 0 <= k < model.n_motifs]
    if unknown:
        raise EthoprismError(f"--name names motif(s) {unknown}; the model has motifs 0..{model.n_motifs - 1}")
    backbone = backbone or model.source.get("backbone")
    sequences = select_sequences(store_dir, backbone, videos, model.source.get("per_animal"))
    for sequence in sequences:
        model.check_source(sequence)
    ready()
    rows = []
    for sequence in sequences:
        motif, _ = model.assign(sequence)
        frames = sequence.frame_numbers()
        starts, ends = motif_outputs.runs(motif)
        for a, b in zip(starts, ends):
            if int(motif[a]) in names:
                row = {
                    "video": sequence.video,
                    "behavior": names[int(motif[a])],
                    "start_frame": int(frames[a]),
                    "end_frame": int(frames[b - 1]),
                }
                if sequence.animal is not None:
                    row["animal"] = sequence.animal
                rows.append(row)
    table = pd.DataFrame(
        rows,
        columns=["video", "behavior", "start_frame", "end_frame"]
        + (["animal"] if sequences and sequences[0].animal else []),
    )
    if table.empty:
        raise EthoprismError(
            f"the named motifs {sorted(names)} have no bouts in the selected videos", model_path
        )
    write_bouts_csv(table, out_path)
    return table


def read_motif_tables(motifs_dir) -> pd.DataFrame:
    motifs_dir = Path(motifs_dir)
    files = sorted(motifs_dir.glob("*.motifs.csv"))
    if not files:
        raise EthoprismError("holds no <video>.motifs.csv tables: run `ethoprism discover` first", motifs_dir)
    tables = []
    for path in files:
        table = pd.read_csv(path)
        missing = {"video", "frame", "motif"} - set(table.columns)
        if missing:
            raise EthoprismError(f"not a motif table (missing {sorted(missing)})", path)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def frame_behaviours(label, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(behaviour name per frame, whether the frame is scored) for ``frames`` of one video's
    labels: a frame with one behaviour is scored by its name, a labelled frame with none as
    'none'; unlabelled frames and frames with several behaviours are not scored."""
    targets = label.targets[frames]
    on = targets.sum(axis=1)
    keep = (targets >= 0).all(axis=1) & (on <= 1)
    names = np.asarray(label.behaviors + ["none"])
    return names[np.where(on == 1, targets.argmax(axis=1), len(label.behaviors))], keep


def evaluate_motifs(
    store_dir,
    motifs_dir,
    labels_paths,
    fmt: str = "auto",
    backbone: str | None = None,
    subject: str | None = None,
    seed: int = 0,
    seed_check: bool = True,
    ready: Callable[[], None] = lambda: None,
) -> dict:
    """Motifs against labels: every metric of :mod:`ethoprism.discovery.scoring` beside the shuffled
    and frame-wise k-means baselines on the same frames, and the AMI between this model's motifs
    and those of a model fitted with the next seed. Frames with one behaviour are scored (frames
    labelled with none form a 'none' class; unlabelled and multi-behaviour frames are left out)."""
    from ethoprism.dataset import video_frame_info
    from ethoprism.discovery.scoring import METRICS, score_table
    from ethoprism.io import read_labels

    motifs_dir = Path(motifs_dir)
    model = MotifModel.load(motifs_dir / "model.json")
    table = read_motif_tables(motifs_dir)
    per_animal = "animal" in table.columns
    sequences = select_sequences(store_dir, backbone or model.source.get("backbone"), None, per_animal)
    by_key = {(s.video, s.animal): s for s in sequences}
    entries = list({id(s.entry): s.entry for s in sequences}.values())
    labels = read_labels(labels_paths, video_frame_info(entries), fmt, subject=subject, animals=per_animal)
    ready()
    truth, motifs, vectors, keys = [], [], [], []
    for label in labels:
        key = (label.video, label.subject if per_animal else None)
        sequence = by_key.get(key)
        if sequence is None:
            continue
        mine = table[(table["video"] == label.video)]
        if per_animal:
            mine = mine[mine["animal"].astype(str) == str(label.subject)]
        frames = mine["frame"].to_numpy()
        names, keep = frame_behaviours(label, frames)
        truth.append(names[keep])
        motifs.append(mine["motif"].to_numpy()[keep])
        rows = np.flatnonzero(np.isin(sequence.frame_numbers(), frames[keep]))
        vectors.append(sequence.read_rows(rows))  # not the whole sequence: hours do not fit
        keys.append(key)
    if not truth or not sum(len(t) for t in truth):
        raise EthoprismError(
            "no labelled frame of the discovered videos to score", labels[0].source if labels else None
        )
    truth, motifs, vectors = np.concatenate(truth), np.concatenate(motifs), np.concatenate(vectors)
    n_motifs = int(table["motif"].max()) + 1
    rows = score_table(truth, motifs, vectors, n_motifs, seed)
    result = {
        "frames": int(len(truth)),
        "videos": len(keys),
        "behaviours": sorted(set(truth.tolist())),
        "motifs": n_motifs,
        "scores": rows,
        "metrics": METRICS,
    }
    if seed_check:
        other = fit_model(
            sequences,
            model.n_motifs,
            window=model.window,
            min_frames=model.min_frames,
            mean_frames=model.mean_frames,
            seed=model.seed + 1,
            fit_frames=model.fit_frames,
            n_init=model.n_init,
        )
        mine_all, theirs_all = [], []
        for sequence in sequences:
            mine_all.append(model.assign(sequence)[0])
            theirs_all.append(other.assign(sequence)[0])
        from sklearn.metrics import adjusted_mutual_info_score

        result["seed_ami"] = float(
            adjusted_mutual_info_score(np.concatenate(mine_all), np.concatenate(theirs_all))
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(motifs_dir / "evaluation.csv", index=False, float_format="%.4f")
    (motifs_dir / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result
