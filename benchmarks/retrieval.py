"""Retrieval benchmark: 24 h of per-frame embeddings at 30 fps (2.6 M x 768) in one index.

    python benchmarks/retrieval.py [--n 2592000] [--dim 768] [--queries 200]

The vectors imitate per-frame embeddings: a recording is a sequence of bouts, each bout a random
"behaviour state" (one of 2,000 cluster centres) plus slow drift and per-frame noise, so
neighbouring frames are similar and states recur across the day. We build the index
``ethoprism index`` makes at this size through its own code path (``ivf``: IVF, 8-bit scalar
quantisation, float16 centroids), then measure build time, index size, single-query
latency (one query at a time, as a user searches: ethoprism's search, which shares one query's
inverted lists across the threads, beside FAISS's default of threads over queries) and recall@10
against exact search (FAISS flat inner product), for several nprobe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ethoprism.retrieval.index import add_vectors, build_faiss, normalise_rows, search_faiss  # noqa: E402


def synthetic_day(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    data = np.empty((n, dim), np.float32)
    position = 0
    drift = np.zeros(dim, np.float32)
    while position < n:
        length = int(rng.integers(15, 600))
        state = centres[rng.integers(len(centres))]
        drift = 0.98 * drift + 0.05 * rng.standard_normal(dim).astype(np.float32)
        end = min(n, position + length)
        noise = rng.standard_normal((end - position, dim), dtype=np.float32) * 0.6
        data[position:end] = state + drift + noise
        position = end
    return normalise_rows(data)


def rss_gb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1e6
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=24 * 3600 * 30)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--kinds", nargs="+", default=["ivf"], help="index kinds to compare")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)

    start = time.perf_counter()
    data = synthetic_day(args.n, args.dim)
    generate_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    query_ids = rng.choice(args.n, args.queries, replace=False)
    queries = normalise_rows(
        data[query_ids] + 0.3 * rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    )

    start = time.perf_counter()
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    exact_s = time.perf_counter() - start
    single = time.perf_counter()
    for q in queries[:20]:
        exact.search(q[None], 10)
    exact_latency_ms = (time.perf_counter() - single) / 20 * 1000
    del exact

    results = {}
    for kind in args.kinds:
        rss_before = rss_gb()
        start = time.perf_counter()
        training = data[rng.choice(args.n, min(args.n, 200_000), replace=False)]
        index = build_faiss(kind, args.dim, args.n, training)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        for chunk in range(0, args.n, 500_000):
            add_vectors(index, data[chunk : chunk + 500_000])
        add_s = time.perf_counter() - start
        index_gb = faiss.serialize_index(index).nbytes / 1e9
        ivf = faiss.extract_index_ivf(index)
        settings = (
            [(p, None) for p in (16, 24, 32, 40, 48, 64, 96)]
            if kind == "ivf"
            else [(16, 8), (32, 8), (32, 16), (48, 16), (64, 16), (64, 32), (96, 16)]
        )
        rows = []
        for nprobe, refine in settings:
            ivf.nprobe = nprobe
            quantizer = faiss.downcast_index(ivf.quantizer)
            if hasattr(quantizer, "hnsw"):
                quantizer.hnsw.efSearch = max(64, 2 * nprobe)
            if refine is not None:
                index.k_factor = refine
            _, found = index.search(queries, 10)
            recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
            timings, by_queries = [], []
            for q in queries:
                t0 = time.perf_counter()
                search_faiss(index, q[None], 10)  # ethoprism's search: one query over both cores
                timings.append(time.perf_counter() - t0)
                ivf.parallel_mode = 0  # FAISS's default: threads over queries, one core for one query
                t0 = time.perf_counter()
                index.search(q[None], 10)
                by_queries.append(time.perf_counter() - t0)
            rows.append(
                {
                    "nprobe": nprobe,
                    "refine": refine,
                    "recall@10": recall,
                    "latency_ms_median": 1000 * float(np.median(timings)),
                    "latency_ms_p95": 1000 * float(np.percentile(timings, 95)),
                    "latency_ms_median_faiss_default": 1000 * float(np.median(by_queries)),
                }
            )
            print(kind, rows[-1], file=sys.stderr, flush=True)
        results[kind] = {
            "nlist": int(ivf.nlist),
            "train_s": train_s,
            "add_s": add_s,
            "build_s": train_s + add_s,
            "index_gb": index_gb,
            "rss_gb_after_build": rss_gb(),
            "rss_gb_before_build": rss_before,
            "rows": rows,
        }
        del index, ivf
    summary = {
        "n": args.n,
        "dim": args.dim,
        "generate_s": generate_s,
        "vectors_gb": data.nbytes / 1e9,
        "exact_search_batch_s": exact_s,
        "exact_latency_ms": exact_latency_ms,
        "kinds": results,
    }
    print(
        f"\n{args.n:,} vectors x {args.dim} (float32 {data.nbytes / 1e9:.1f} GB); "
        f"exact search: {exact_latency_ms:.0f} ms per query\n"
    )
    print("| index | build (s) | size (GB) |\n| --- | --- | --- |")
    for kind, r in results.items():
        print(
            f"| {kind} (IVF{r['nlist']}) | {r['build_s']:.0f} (train {r['train_s']:.0f}) | "
            f"{r['index_gb']:.2f} |"
        )
    print(
        "\n| index | nprobe | refine x k | recall@10 vs exact | median latency (ms) | p95 latency (ms) "
        "| median, FAISS's default threading (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, r in results.items():
        for row in r["rows"]:
            print(
                f"| {kind} | {row['nprobe']} | {row['refine'] or '-'} | {row['recall@10']:.3f} | "
                f"{row['latency_ms_median']:.2f} | {row['latency_ms_p95']:.2f} | "
                f"{row['latency_ms_median_faiss_default']:.2f} |"
            )
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
