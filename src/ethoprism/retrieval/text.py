"""Text queries and zero-shot classification with a VideoPrism video-text (LvT) backbone.

Stores extracted with ``videoprism-lvt-*`` hold one joint-space embedding per clip; a frame's
score for a text is the cosine similarity of that text with the clip the frame's embedding came
from. Zero-shot classification turns behaviour names into prompts and takes, per frame, the
softmax over prompts of those similarities (scaled by ``temperature``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.labels.model import bouts_from_mask
from ethoprism.store import EmbeddingStore

DEFAULT_PROMPT = "a video of a mouse {}."


def frame_text_scores(store_dir, text_vectors: np.ndarray, backbone: str | None = None):
    """-> list of (entry, scores [n_frames, n_texts])."""
    entries = EmbeddingStore(store_dir).select(backbone)
    results = []
    for entry in entries:
        clips = entry.clip_embeddings()
        if clips is None:
            raise EthoprismError(
                f"stored embeddings of '{entry.video_name}' have no video-text clip embeddings: "
                "extract with a videoprism-lvt backbone for text search",
                entry.path,
            )
        clip_vectors, frame_clip = clips
        results.append((entry, (clip_vectors @ np.asarray(text_vectors, np.float32).T)[frame_clip]))
    return results


def text_search(
    store_dir,
    text_vector: np.ndarray,
    k: int = 10,
    threshold_quantile: float = 0.99,
    backbone: str | None = None,
) -> pd.DataFrame:
    """Top-``k`` segments for one text: runs of frames whose score is in the top
    ``1 - threshold_quantile`` of all frames, ranked by their best score."""
    scored = frame_text_scores(store_dir, np.atleast_2d(text_vector), backbone)
    all_scores = np.concatenate([s[:, 0] for _, s in scored])
    cut = np.quantile(all_scores, threshold_quantile)
    rows = []
    for entry, scores in scored:
        times = entry.timestamps()
        for start, end in bouts_from_mask(scores[:, 0] >= cut):
            rows.append(
                {
                    "video": entry.video_name,
                    "start_frame": start,
                    "end_frame": end,
                    "start_s": float(times[start]),
                    "end_s": float(times[end]),
                    "score": float(scores[start : end + 1, 0].max()),
                    "video_path": str(entry.video_path),
                }
            )
    table = pd.DataFrame(
        rows, columns=["video", "start_frame", "end_frame", "start_s", "end_s", "score", "video_path"]
    )
    table = table.sort_values("score", ascending=False, kind="stable").head(k).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def zero_shot(
    store_dir,
    text_vectors: np.ndarray,
    behaviors: list[str],
    temperature: float = 100.0,
    backbone: str | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per video: (times, probabilities [n_frames, n_behaviours]) from prompt similarities."""
    out = {}
    for entry, scores in frame_text_scores(store_dir, text_vectors, backbone):
        logits = scores * temperature
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        out[entry.video_name] = (entry.timestamps(), proba / proba.sum(axis=1, keepdims=True))
    return out
