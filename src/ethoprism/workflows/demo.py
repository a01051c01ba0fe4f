"""``ethoprism demo``: offline, on CPU, end to end — synthetic (or the user's) videos ->
embeddings -> four heads cross-validated by video + few-shot -> report.html."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ethoprism.backbones import DEFAULT_BACKBONE, load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.store import EmbeddingStore
from ethoprism.synthetic import SyntheticConfig, generate
from ethoprism.workflows import classify
from ethoprism.workflows.extract import extract_videos

DEMO_NOTE = (
    "Synthetic data: behaviours walk, groom, rear, jump (fast, 3-5 frames) and shake (rare); "
    "background = rest. Ground truth is exact."
)


def run_demo(
    out: Path,
    videos: list[Path] | None = None,
    labels=None,
    backbone: str = DEFAULT_BACKBONE,
    weights: str | None = None,
    heads: tuple[str, ...] = ("linear", "mlp", "attentive", "temporal"),
    n_videos: int = 6,
    n_frames: int = 450,
    size: int | None = None,
    seeds: int = 3,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """-> the evaluation report (``out/report/metrics.json`` and ``report.html`` are written).
    ``progress(step, done, total)`` hears of generation, embedding and every fold."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    if videos:
        if labels is None:
            raise EthoprismError("--videos needs --labels")
    else:
        config = SyntheticConfig(n_videos=n_videos, n_frames=n_frames, seed=seed)
        if progress:
            progress(f"generating {n_videos} synthetic videos", 0, 1)
        generated = generate(out / "data", config)
        if progress:
            progress(f"generating {n_videos} synthetic videos", 1, 1)
        videos, labels = [v.path for v in generated], out / "data" / "labels.csv"
        size = size or config.size
        notes.append(DEMO_NOTE)
    model = load_backbone(backbone, weights, runtime="auto")
    default = model.default_clip_spec()
    spec = ClipSpec(frames=default.frames, size=size or default.size, overlap=default.overlap)
    results = extract_videos(
        videos,
        model,
        EmbeddingStore(out / "store"),
        spec,
        progress=(lambda video, done, total: progress(f"embedding {Path(video).name}", done, total))
        if progress
        else None,
    )
    failed = [r.error for r in results if r.error]
    if failed:
        raise EthoprismError(failed[0])
    data = classify.load_labelled(out / "store", labels, backbone=backbone)
    train_idx, test_idx = classify.default_split(len(data.videos))
    return classify.evaluate(
        data,
        list(heads),
        out / "report",
        postprocess={"smooth": 1, "min_bout": 1},
        fewshot={
            "heads": ["linear"],
            "train_videos": train_idx,
            "test_videos": test_idx,
            "shots": (10, 50, 100),
            "seeds": seeds,
        },
        title="ethoprism demo" + ("" if notes == [] else " (synthetic data)"),
        notes=notes,
        progress=progress,
    )
