"""Matplotlib figures: ethogram raster (predicted vs true), precision-recall curves, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import PrecisionRecallDisplay  # noqa: E402


def ethogram(
    path,
    times: np.ndarray,
    pred: np.ndarray,
    behaviors: list[str],
    truth: np.ndarray | None = None,
    title: str = "",
) -> Path:
    rows = len(behaviors) * (2 if truth is not None else 1)
    fig, ax = plt.subplots(figsize=(11, 0.35 * rows + 1.2))
    colours = plt.get_cmap("tab10")
    labels, y = [], 0
    for k, name in enumerate(behaviors):
        for kind, matrix in (("true", truth), ("pred", pred)):
            if matrix is None:
                continue
            on = matrix[:, k] > 0
            ax.fill_between(
                times,
                y,
                y + 0.8,
                where=on,
                step="post",
                color=colours(k % 10),
                alpha=1.0 if kind == "pred" else 0.45,
                linewidth=0,
            )
            labels.append(f"{name} ({kind})" if truth is not None else name)
            y += 1
    ax.set_yticks(np.arange(len(labels)) + 0.4, labels)
    ax.set_ylim(0, len(labels))
    ax.set_xlim(times[0], times[-1] if len(times) > 1 else 1)
    ax.set_xlabel("time (s)")
    ax.set_title(title or "ethogram")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def pr_curves(path, y_true: np.ndarray, proba: np.ndarray, behaviors: list[str]) -> Path:
    known = (y_true >= 0).all(axis=1)
    fig, ax = plt.subplots(figsize=(6, 5))
    for k, name in enumerate(behaviors):
        if y_true[known, k].sum():
            PrecisionRecallDisplay.from_predictions(y_true[known, k], proba[known, k], name=name, ax=ax)
    ax.set_title("precision-recall per behaviour")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def confusion(path, matrix, labels: list[str]) -> Path:
    matrix = np.asarray(matrix, float)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{int(matrix[i, j])}",
                ha="center",
                va="center",
                color="white" if normalised[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (frames)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
