"""Mean Hit@K for retrieval by example, with a random baseline, as in the paper's table.

Each labelled bout of a behaviour is a query (at most ``max_queries`` per behaviour). A query
*hits at K* if any of its top-K returned segments overlaps a frame labelled with the query's
behaviour (the query's own neighbourhood is excluded from the results). Hit@K is averaged over
the queries of a behaviour, then over behaviours. The random baseline replaces the K returned
segments by K segments of the query's length drawn uniformly from the indexed frames (outside
the query's neighbourhood), averaged over ``random_draws`` draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ethoprism.labels.model import VideoLabels, bouts_from_mask
from ethoprism.retrieval.index import FrameIndex
from ethoprism.retrieval.query import Segment, example_vector, search_segments


def _truth(index: FrameIndex, labels: list[VideoLabels], behaviors: list[str]) -> list[np.ndarray]:
    by_name = {label.video: label.reorder(behaviors) if label.behaviors != behaviors else label for label in labels}
    truth = []
    for video in index.videos:
        label = by_name.get(video.name)
        truth.append(np.maximum(label.targets, 0) if label is not None else np.zeros((video.n_frames, len(behaviors)), np.int8))
    return truth


def hit_at_k(index: FrameIndex, labels: list[VideoLabels], behaviors: list[str], ks=(1, 5, 10), max_queries: int = 20,
             exclude_margin: int = 30, merge_gap: int = 5, random_draws: int = 200, seed: int = 0,
             query_vector=None) -> dict:
    """``query_vector(segment) -> vector`` overrides how a query is embedded (augmentation)."""
    rng = np.random.default_rng(seed)
    truth = _truth(index, labels, behaviors)
    lengths = np.array([v.n_frames for v in index.videos])
    rows = []
    for k_behavior, behavior in enumerate(behaviors):
        queries = [Segment(v, s, e) for v, t in enumerate(truth) for s, e in bouts_from_mask(t[:, k_behavior] > 0)]
        if len(queries) > max_queries:
            queries = [queries[i] for i in sorted(rng.choice(len(queries), max_queries, replace=False))]
        for query in queries:
            vector = query_vector(query) if query_vector else example_vector(index, [query])
            results = search_segments(index, vector, max(ks), [query], exclude_margin, merge_gap)
            hits = []
            for result in results.itertuples():
                video = index.video_index(result.video)
                hits.append(bool(truth[video][result.start_frame: result.end_frame + 1, k_behavior].any()))
            length = query.end - query.start + 1
            random_hits = np.zeros((random_draws, max(ks)), bool)
            for draw in range(random_draws):
                for slot in range(max(ks)):
                    video = rng.choice(len(lengths), p=lengths / lengths.sum())
                    start = int(rng.integers(0, max(1, lengths[video] - length + 1)))
                    if video == query.video and abs(start - query.start) <= exclude_margin + length:
                        start = (start + exclude_margin + 2 * length) % max(1, lengths[video] - length + 1)
                    random_hits[draw, slot] = truth[video][start: start + length, k_behavior].any()
            row = {"behavior": behavior, "video": index.videos[query.video].name, "start_frame": query.start,
                   "end_frame": query.end}
            for k in ks:
                row[f"hit@{k}"] = float(any(hits[:k]))
                row[f"random_hit@{k}"] = float(random_hits[:, :k].any(axis=1).mean())
            rows.append(row)
    table = pd.DataFrame(rows)
    summary = {}
    if len(table):
        per_class = table.groupby("behavior").mean(numeric_only=True)
        for k in ks:
            summary[f"hit@{k}"] = float(per_class[f"hit@{k}"].mean())
            summary[f"random_hit@{k}"] = float(per_class[f"random_hit@{k}"].mean())
        summary["per_class"] = per_class.drop(columns=["start_frame", "end_frame"]).reset_index().to_dict("records")
    summary["n_queries"] = int(len(table))
    return {"summary": summary, "queries": table}
