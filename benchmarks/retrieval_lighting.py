"""Retrieval under lighting changes (the paper's stated limit), on synthetic recordings whose
gain differs per video, drifts, and switches suddenly.

    python benchmarks/retrieval_lighting.py [--videos 6] [--frames 600]

Compares mean Hit@K (K = 1, 5, 10) of retrieval by example with and without per-video feature
normalisation, and with and without query-side lighting augmentation, against random.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.backbones import load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.evaluation.retrieval import hit_at_k  # noqa: E402
from ethoprism.extract import extract_video  # noqa: E402
from ethoprism.retrieval import update_index  # noqa: E402
from ethoprism.retrieval.query import augmented_vector  # noqa: E402
from ethoprism.store import EmbeddingStore  # noqa: E402
from ethoprism.synthetic import BEHAVIORS, SyntheticConfig, generate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    backbone = load_backbone("effnet-lite0")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        videos = generate(
            Path(folder) / "data",
            SyntheticConfig(
                n_videos=args.videos,
                n_frames=args.frames,
                size=128,
                seed=31,
                lighting_change=True,
                rare_videos=0.5,
            ),
        )
        store = EmbeddingStore(Path(folder) / "store")
        for video in videos:
            extract_video(video.path, backbone, store, ClipSpec(frames=16, size=128, overlap=0))
        labels = [v.labels for v in videos]
        gains = [f"{v.lighting.min():.2f}-{v.lighting.max():.2f}" for v in videos]
        for normalize in ("none", "video"):
            index, _ = update_index(store.root, normalize=normalize, rebuild=True)
            for augment in (False, True):
                query = (
                    (lambda segment, index=index: augmented_vector(index, segment, backbone))
                    if augment
                    else None
                )
                result = hit_at_k(
                    index, labels, BEHAVIORS, max_queries=args.queries, query_vector=query, random_draws=100
                )
                summary = result["summary"]
                rows.append(
                    {
                        "normalize": normalize,
                        "augment": augment,
                        **{k: summary[k] for k in summary if "hit" in k},
                        "n_queries": summary["n_queries"],
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\n{args.videos} synthetic videos x {args.frames} frames, per-video lighting gain ranges {gains}; "
        f"effnet-lite0; {rows[0]['n_queries']} queries\n"
    )
    print("| per-video normalisation | query augmentation | Hit@1 | Hit@5 | Hit@10 | random Hit@1/5/10 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['normalize']} | {'yes' if r['augment'] else 'no'} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | "
            f"{r['hit@10']:.3f} | {r['random_hit@1']:.2f} / {r['random_hit@5']:.2f} / "
            f"{r['random_hit@10']:.2f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
