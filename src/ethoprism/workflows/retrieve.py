"""The retrieval workflow behind ``ethoprism index | search | zero-shot | evaluate-retrieval``:
store -> index -> queries -> result tables and files. Returns results; prints nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.retrieval.index import FrameIndex, normalise_rows, open_index, update_index
from ethoprism.retrieval.query import (
    augmented_vector,
    clip_vector,
    example_vector,
    parse_segment,
    search_segments,
)
from ethoprism.store import EmbeddingStore

NORMALIZE = ("video", "none")


def _text_backbone(store, backbone: str | None, weights: str | None, tokenizer: str | None):
    from ethoprism.backbones import load_backbone

    name = backbone or EmbeddingStore(store).select()[0].backbone
    model = load_backbone(name, weights, tokenizer=tokenizer) if name.startswith("videoprism-lvt") else None
    if model is None:
        raise EthoprismError(f"text queries need a videoprism-lvt backbone, the store holds '{name}'")
    return name, model


def search(
    store,
    examples: list[str] = (),
    clip: Path | None = None,
    text: str | None = None,
    k: int = 10,
    backbone: str | None = None,
    weights: str | None = None,
    tokenizer: str | None = None,
    exclude: int = 30,
    augment_lighting: bool = False,
) -> pd.DataFrame:
    """Top-``k`` segments for one kind of query: example segments (``VIDEO:START-END``), a clip
    file, or a text (video-text backbones). ``augment_lighting`` re-embeds the examples under
    brightness, contrast and gamma changes and fuses them (see :func:`augmented_vector`)."""
    if sum(bool(x) for x in (examples, clip, text)) != 1:
        raise EthoprismError("give exactly one kind of query: --example (repeatable), --clip or --text")
    if augment_lighting and not examples:
        raise EthoprismError("--augment-lighting applies to --example queries")
    if text:
        from ethoprism.retrieval.text import text_search

        name, model = _text_backbone(store, backbone, weights, tokenizer)
        return text_search(store, model.embed_texts([text])[0].numpy(), k, backbone=name)
    index = open_index(store, backbone)
    if clip:
        return search_segments(index, clip_vector(index, clip, _index_backbone(index, weights)), k)
    segments = [parse_segment(example, index) for example in examples]
    if augment_lighting:
        model = _index_backbone(index, weights)
        vector = normalise_rows(
            np.mean([augmented_vector(index, s, model) for s in segments], axis=0, keepdims=True)
        )[0]
    else:
        vector = example_vector(index, segments)
    return search_segments(index, vector, k, segments, exclude)


def _index_backbone(index: FrameIndex, weights: str | None):
    from ethoprism.backbones import load_backbone

    return load_backbone(index.meta["backbone"], weights)


def write_search_results(results: pd.DataFrame, out: Path, clips: bool = False) -> Path:
    from ethoprism.outputs.media import contact_sheet, write_clips

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    results.to_json(out / "results.json", orient="records", indent=2)
    contact_sheet(results, out / "contact_sheet.png")
    if clips:
        write_clips(results, out / "clips")
    return out


def zero_shot_predictions(
    store,
    behaviors: list[str],
    out: Path,
    prompt: str,
    backbone: str | None = None,
    weights: str | None = None,
    tokenizer: str | None = None,
) -> list[dict]:
    """Per-frame tables and bouts from behaviour names (VideoPrism video-text models)."""
    from ethoprism.outputs.tables import output_stems, write_predictions
    from ethoprism.retrieval.text import zero_shot

    name, model = _text_backbone(store, backbone, weights, tokenizer)
    texts = model.embed_texts([prompt.format(b.replace("_", " ")) for b in behaviors]).numpy()
    written = []
    scored = zero_shot(store, texts, behaviors, backbone=name)
    stems = output_stems(list(scored))
    for video, (times, proba) in scored.items():
        pred = (proba == proba.max(axis=1, keepdims=True)).astype(np.int8)
        fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 30.0
        written.append(
            {
                "video": video,
                **write_predictions(out, video, times, proba, pred, behaviors, fps, stems[video]),
            }
        )
    return written


def evaluate_retrieval(
    store,
    labels,
    out: Path,
    label_format: str = "auto",
    backbone: str | None = None,
    normalize: str | None = None,
    max_queries: int = 20,
) -> dict:
    """Mean Hit@K of retrieval by example against the random baseline, on the store's index as
    it was built. ``normalize`` (``video``/``none``) only says which index is expected: an index
    built otherwise is refused, never rebuilt behind the user's back; without an index one is
    built (``video`` unless given)."""
    from ethoprism.dataset import video_frame_info
    from ethoprism.evaluation.retrieval import hit_at_k
    from ethoprism.io import read_labels
    from ethoprism.labels import merge_behaviors

    if normalize is not None and normalize not in NORMALIZE:
        raise EthoprismError(f"--normalize must be 'video' or 'none', not '{normalize}'")
    entries = EmbeddingStore(store).select(backbone)
    label_list = read_labels(labels, video_frame_info(entries), label_format)
    try:
        existing = open_index(store, backbone)
    except EthoprismError:
        existing = None
    if existing is not None and normalize is not None and existing.normalize != normalize:
        raise EthoprismError(
            f"the index was built with --normalize {existing.normalize}, not {normalize}: evaluate it "
            f"as built (leave out --normalize) or rebuild it with `ethoprism index STORE --rebuild "
            f"--normalize {normalize}`",
            existing.folder,
        )
    if not any((label.targets == 1).any() for label in label_list):
        raise EthoprismError(
            "the labels hold no behaviour bout to use as a query", label_list[0].source or None
        )
    index, _ = update_index(
        store, backbone, normalize=existing.normalize if existing else normalize or "video"
    )
    result = hit_at_k(index, label_list, merge_behaviors(label_list), max_queries=max_queries)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result["queries"].to_csv(out / "queries.csv", index=False)
    summary = {**result["summary"], "normalize": index.normalize}
    (out / "hit_at_k.json").write_text(json.dumps(summary, indent=2))
    return summary
