"""Motif tables and figures: bouts, usage (every motif in every sequence, 0 where unused), group
tests, transitions, ethograms, the merge tree. One colour per motif everywhere (:func:`colour`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from ethoprism.discovery.hmm import runs  # noqa: E402


def colour(motif: int, n_motifs: int) -> tuple:
    """The motif's colour in every figure, ethogram and movie of one report."""
    if n_motifs <= 10:
        return plt.get_cmap("tab10")(motif % 10)
    if n_motifs <= 20:
        return plt.get_cmap("tab20")(motif % 20)
    return plt.get_cmap("hsv")(motif / n_motifs)


def hex_colour(motif: int, n_motifs: int) -> str:
    return matplotlib.colors.to_hex(colour(motif, n_motifs))


def bouts(frames: pd.DataFrame, fps: float) -> pd.DataFrame:
    """Bouts of one sequence's frame table (``frame``, ``time_s``, ``motif``, ``probability``)."""
    motif = frames["motif"].to_numpy()
    starts, ends = runs(motif)
    frame_numbers, times = frames["frame"].to_numpy(), frames["time_s"].to_numpy()
    probability = frames["probability"].to_numpy()
    cumulative = np.concatenate([[0.0], np.cumsum(probability, dtype=np.float64)])
    last = ends - 1
    return pd.DataFrame(
        {
            "motif": motif[starts],
            "start_frame": frame_numbers[starts],
            "end_frame": frame_numbers[last],
            "start_s": times[starts],
            "end_s": times[last] + 1.0 / fps,
            "duration_s": times[last] - times[starts] + 1.0 / fps,
            "frames": ends - starts,
            "mean_probability": (cumulative[ends] - cumulative[starts]) / (ends - starts),
        }
    )


def usage(
    frame_counts: pd.DataFrame, bout_table: pd.DataFrame, n_motifs: int, keys: list[str]
) -> pd.DataFrame:
    """One row per sequence (``keys``: video[, animal]) and motif, every motif present (0 where
    unused): frames, fraction of the sequence's frames, bouts, mean bout duration."""
    sequences = frame_counts[keys].drop_duplicates()
    grid = sequences.merge(pd.DataFrame({"motif": np.arange(n_motifs)}), how="cross")
    counts = frame_counts.groupby([*keys, "motif"]).size().rename("frames").reset_index()
    totals = frame_counts.groupby(keys).size().rename("sequence_frames").reset_index()
    bout_stats = (
        bout_table.groupby([*keys, "motif"])
        .agg(bouts=("motif", "size"), mean_bout_s=("duration_s", "mean"))
        .reset_index()
    )
    table = grid.merge(counts, how="left").merge(bout_stats, how="left").merge(totals, how="left")
    table["frames"] = table["frames"].fillna(0).astype(int)
    table["bouts"] = table["bouts"].fillna(0).astype(int)
    table["mean_bout_s"] = table["mean_bout_s"].fillna(0.0)
    table["fraction"] = table["frames"] / table["sequence_frames"]
    return table.drop(columns="sequence_frames")[
        [*keys, "motif", "frames", "fraction", "bouts", "mean_bout_s"]
    ]


def group_tests(
    usage_table: pd.DataFrame, groups: dict[str, str], keys: list[str]
) -> tuple[pd.DataFrame, str]:
    """Per motif: the fraction of time in it compared between groups (Mann-Whitney U for two
    groups, Kruskal-Wallis for more: no normality assumed of a handful of videos per group), the
    p-values corrected for the number of motifs (Benjamini-Hochberg false discovery rate)."""
    table = usage_table[usage_table["video"].isin(groups)].copy()
    table["group"] = table["video"].map(groups)
    names = sorted(table["group"].unique())
    test = "Mann-Whitney U (two-sided)" if len(names) == 2 else "Kruskal-Wallis"
    rows = []
    for motif, rows_of_motif in table.groupby("motif"):
        samples = [rows_of_motif.loc[rows_of_motif["group"] == g, "fraction"].to_numpy() for g in names]
        row = {"motif": int(motif)}
        for name, sample in zip(names, samples):
            row[f"mean_fraction[{name}]"] = float(sample.mean())
            row[f"n[{name}]"] = len(sample)
        if len(names) < 2 or any(len(s) == 0 for s in samples) or np.ptp(np.concatenate(samples)) == 0:
            row["statistic"], row["p"] = np.nan, 1.0  # no difference to test (all equal, e.g. unused)
        elif len(names) == 2:
            result = stats.mannwhitneyu(samples[0], samples[1], alternative="two-sided")
            row["statistic"], row["p"] = float(result.statistic), float(result.pvalue)
        else:
            result = stats.kruskal(*samples)
            row["statistic"], row["p"] = float(result.statistic), float(result.pvalue)
        rows.append(row)
    tests = pd.DataFrame(rows)
    tests["p_fdr"] = stats.false_discovery_control(tests["p"].to_numpy(), method="bh") if len(tests) else []
    tests["test"] = test
    return tests, test


def transitions(bout_table: pd.DataFrame, n_motifs: int, keys: list[str]) -> pd.DataFrame:
    """Bout-to-bout transitions within each sequence: counts and the probability of the next motif
    given the current one (rows sum to 1 where a motif is ever followed)."""
    counts = np.zeros((n_motifs, n_motifs), np.int64)
    for _, sequence in bout_table.groupby(keys, sort=False):
        motifs = sequence["motif"].to_numpy()
        np.add.at(counts, (motifs[:-1], motifs[1:]), 1)
    probability = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows = [
        {"from_motif": a, "to_motif": b, "count": int(counts[a, b]), "probability": float(probability[a, b])}
        for a in range(n_motifs)
        for b in range(n_motifs)
    ]
    return pd.DataFrame(rows)


def _legend(ax, n_motifs: int) -> None:
    """The motifs' colours, beside the axes (below them they would be cut off)."""
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour(k, n_motifs)) for k in range(n_motifs)]
    ax.legend(
        handles,
        [str(k) for k in range(n_motifs)],
        ncol=-(-n_motifs // 10),
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
        title="motif",
    )


def plot_ethogram(path, times: np.ndarray, motif: np.ndarray, n_motifs: int, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(12, 2.0))
    if len(motif):
        starts, ends = runs(motif)
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        for a, b in zip(starts, ends):
            ax.axvspan(times[a], times[b - 1] + step, color=colour(int(motif[a]), n_motifs), linewidth=0)
        ax.set_xlim(times[0], times[-1] + step)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=10)
    _legend(ax, n_motifs)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_usage(path, usage_table: pd.DataFrame, n_motifs: int, keys: list[str]) -> Path:
    pivot = usage_table.pivot_table(index=keys, columns="motif", values="fraction", fill_value=0.0)
    labels = [" ".join(str(v) for v in (k if isinstance(k, tuple) else (k,))) for k in pivot.index]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(labels) + 1.5))
    left = np.zeros(len(pivot))
    for motif in range(n_motifs):
        values = pivot[motif].to_numpy() if motif in pivot else np.zeros(len(pivot))
        ax.barh(labels, values, left=left, color=colour(motif, n_motifs), label=str(motif))
        left += values
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of frames")
    _legend(ax, n_motifs)
    ax.set_title("motif usage")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_transitions(path, transition_table: pd.DataFrame, n_motifs: int) -> Path:
    matrix = transition_table.pivot(index="from_motif", columns="to_motif", values="probability").to_numpy()
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * n_motifs, 1.2 + 0.4 * n_motifs))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(float(matrix.max()), 1e-6))
    ax.set_xticks(range(n_motifs))
    ax.set_yticks(range(n_motifs))
    for k, label in enumerate(ax.get_xticklabels() + ax.get_yticklabels()):
        label.set_color(colour(k % n_motifs, n_motifs))
    ax.set_xlabel("next motif")
    ax.set_ylabel("motif")
    ax.set_title("bout transitions P(next | motif)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_merge_tree(path, linkage_matrix: np.ndarray, n_motifs: int) -> Path:
    from scipy.cluster.hierarchy import dendrogram

    fig, ax = plt.subplots(figsize=(2 + 0.45 * n_motifs, 3))
    if len(linkage_matrix):
        tree = dendrogram(linkage_matrix, ax=ax, color_threshold=0, above_threshold_color="#555")
        for label in ax.get_xticklabels():
            label.set_color(colour(int(label.get_text()), n_motifs))
        del tree
    ax.set_title("merge tree (cut it with --coarsen N)")
    ax.set_ylabel("Ward distance")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
