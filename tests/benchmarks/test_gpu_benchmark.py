"""The GPU check is kept runnable: its CPU dry run (tiny models) goes through every stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_dry_run_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu.py"), "--device", "cpu", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {(r["backbone"], r["protocol"], r["batch"]) for r in report["stages"]} == {
        (b, p, n) for b in ("videoprism-b", "videoprism-l") for p in ("tiled", "centered") for n in (1, 2)
    }
    assert all(r["frames_per_s"] > 0 and r["forward_ms"] > 0 for r in report["stages"])
    assert report["end_to_end"]["frames"] == 64
    parity = {p["dtype"]: p for p in report["parity"]}
    assert parity["fp32"]["max_abs_diff_rel"] < 1e-5
    assert 0 < parity["bf16"]["max_abs_diff_rel"] < 0.05 and parity["bf16"]["cosine_min"] > 0.99
    assert "| videoprism-b | float32 | tiled | 2 |" in result.stdout
