"""Head training speed at CalMS21's training size: 500,000 frames x 768 dimensions.

    python benchmarks/heads.py [--n 500000] [--dim 768] [--temporal-epochs 60] [--heads linear mlp temporal]

Embeddings are synthetic (4 behaviours + background, class-dependent means plus noise, in
bouts), split into 50 "videos". Reports wall time of ``fit`` on this machine and the training
accuracy as a sanity check. Target: linear probe <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.heads import LinearProbe, MLPHead, TemporalHead  # noqa: E402


def synthetic(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 300, n // 20)
    labels = np.repeat(rng.integers(0, 5, len(lengths)), lengths)[:n]
    means = rng.standard_normal((5, dim)).astype(np.float32) * 0.5
    X = means[labels] + rng.standard_normal((n, dim), dtype=np.float32)
    Y = np.zeros((n, 4), np.int8)
    Y[labels > 0, labels[labels > 0] - 1] = 1
    return X, Y, np.repeat(np.arange(50), n // 50 + 1)[:n]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--temporal-epochs", type=int, default=60)
    parser.add_argument(
        "--heads", nargs="+", choices=["linear", "mlp", "temporal"], default=["linear", "mlp", "temporal"]
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    X, Y, groups = synthetic(args.n, args.dim)
    rows = []
    heads = {
        "linear": ("linear probe", LinearProbe()),
        "mlp": ("MLP", MLPHead()),
        "temporal": ("temporal head", TemporalHead(epochs=args.temporal_epochs)),
    }
    for name, head in (heads[key] for key in args.heads):
        start = time.perf_counter()
        head.fit(X, Y, groups=groups)
        seconds = time.perf_counter() - start
        sample = slice(0, 50_000)
        accuracy = float((head.predict(X[sample], groups=groups[sample]) == Y[sample]).all(axis=1).mean())
        rows.append({"head": name, "fit_s": seconds, "train_accuracy_first_50k": accuracy})
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\n{args.n:,} x {args.dim} embeddings, 4 behaviours + background; {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}\n"
    )
    print("| head | fit time (s) | training accuracy (first 50k frames) |\n| --- | --- | --- |")
    for r in rows:
        print(f"| {r['head']} | {r['fit_s']:.1f} | {r['train_accuracy_first_50k']:.3f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
