"""Mean Hit@K for retrieval by example, with a random baseline, as in the paper's table.

Each labelled bout of a behaviour is a query (at most ``max_queries`` per behaviour). A query
*hits at K* if any of its top-K returned segments overlaps a frame labelled with the query's
behaviour (the query's own neighbourhood is excluded from the results). Hit@K is averaged over
the queries of a behaviour, then over behaviours. The random baseline draws segments exactly as
the search returns them: as many as it returned, each of the same length as the returned one in
its rank, placed uniformly over the indexed frames outside the query's excluded neighbourhood;
averaged over ``random_draws`` draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ethoprism.labels.model import VideoLabels, bouts_from_mask
from ethoprism.retrieval.index import FrameIndex
from ethoprism.retrieval.query import Segment, example_vector, search_segments


def _truth(index: FrameIndex, labels: list[VideoLabels], behaviors: list[str]) -> list[np.ndarray]:
    by_name = {
        label.video: label.reorder(behaviors) if label.behaviors != behaviors else label for label in labels
    }
    truth = []
    for video in index.videos:
        label = by_name.get(video.name)
        truth.append(
            np.maximum(label.targets, 0)
            if label is not None
            else np.zeros((video.n_frames, len(behaviors)), np.int8)
        )
    return truth


def random_hits(
    truth: list[np.ndarray],
    lengths: list[int],
    query: Segment,
    exclude_margin: int,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """-> bool ``[draws, len(lengths)]``: whether a random segment of each length, placed uniformly
    among all positions of all videos that do not touch ``query`` ± ``exclude_margin``, overlaps a
    positive frame of ``truth`` (one 0/1 column per video)."""
    prefix = [np.concatenate([[0], np.cumsum(np.asarray(t, np.int64))]) for t in truth]
    n_frames = np.array([len(t) for t in truth])
    out = np.zeros((draws, len(lengths)), bool)
    for slot, length in enumerate(lengths):
        valid = np.maximum(n_frames - length + 1, 0)
        # starts whose segment would touch the excluded neighbourhood of the query
        lo = max(query.start - exclude_margin - length + 1, 0)
        hi = min(query.end + exclude_margin, valid[query.video] - 1)
        excluded = max(hi - lo + 1, 0)
        counts = valid.copy()
        counts[query.video] -= excluded
        if counts.sum() <= 0:
            continue
        videos = rng.choice(len(truth), size=draws, p=counts / counts.sum())
        starts = np.floor(rng.random(draws) * counts[videos]).astype(np.int64)
        in_query_video = videos == query.video
        starts[in_query_video & (starts >= lo)] += excluded  # skip over the excluded starts
        for video in np.unique(videos):
            rows = videos == video
            s = starts[rows]
            out[rows, slot] = prefix[video][s + length] - prefix[video][s] > 0
    return out


def hit_at_k(
    index: FrameIndex,
    labels: list[VideoLabels],
    behaviors: list[str],
    ks=(1, 5, 10),
    max_queries: int = 20,
    exclude_margin: int = 30,
    merge_gap: int = 5,
    random_draws: int = 200,
    seed: int = 0,
    query_vector=None,
) -> dict:
    """``query_vector(segment) -> vector`` overrides how a query is embedded (augmentation)."""
    rng = np.random.default_rng(seed)
    truth = _truth(index, labels, behaviors)
    rows = []
    for k_behavior, behavior in enumerate(behaviors):
        queries = [
            Segment(v, s, e) for v, t in enumerate(truth) for s, e in bouts_from_mask(t[:, k_behavior] > 0)
        ]
        if len(queries) > max_queries:
            queries = [queries[i] for i in sorted(rng.choice(len(queries), max_queries, replace=False))]
        for query in queries:
            vector = query_vector(query) if query_vector else example_vector(index, [query])
            results = search_segments(index, vector, max(ks), [query], exclude_margin, merge_gap)
            hits = []
            for result in results.itertuples():
                video = index.video_index(result.video)
                hits.append(bool(truth[video][result.start_frame : result.end_frame + 1, k_behavior].any()))
            lengths = (results.end_frame - results.start_frame + 1).tolist()
            drawn = random_hits(
                [t[:, k_behavior] for t in truth], lengths, query, exclude_margin, random_draws, rng
            )
            drawn = np.pad(drawn, ((0, 0), (0, max(ks) - drawn.shape[1])))
            row = {
                "behavior": behavior,
                "video": index.videos[query.video].name,
                "start_frame": query.start,
                "end_frame": query.end,
            }
            for k in ks:
                row[f"hit@{k}"] = float(any(hits[:k]))
                row[f"random_hit@{k}"] = float(drawn[:, :k].any(axis=1).mean())
            rows.append(row)
    table = pd.DataFrame(rows)
    summary = {}
    if len(table):
        per_class = table.groupby("behavior").mean(numeric_only=True)
        for k in ks:
            summary[f"hit@{k}"] = float(per_class[f"hit@{k}"].mean())
            summary[f"random_hit@{k}"] = float(per_class[f"random_hit@{k}"].mean())
        summary["per_class"] = (
            per_class.drop(columns=["start_frame", "end_frame"]).reset_index().to_dict("records")
        )
    summary["n_queries"] = int(len(table))
    return {"summary": summary, "queries": table}
