"""The HTML report (plots and tables in one self-contained file) and the metrics JSON + CSV that
scripts read."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _target_columns(targets: dict, behaviour: str | None) -> dict:
    if not targets:
        return {}
    values = targets if behaviour is None else targets["per_behavior"].get(behaviour, {})
    names = {"chance": "target_chance"}  # the others keep their names
    wanted = ("pair_f1", "target_accuracy", "nearest_accuracy", "chance")
    return {names.get(key, key): values[key] for key in wanted if key in values}


def write_metrics(out_dir: Path, report: dict) -> tuple[Path, Path]:
    """``metrics.json`` (everything) and ``metrics.csv`` (one row per head and behaviour)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "metrics.json"
    json_path.write_text(json.dumps(_clean(report), indent=2))
    rows = []
    for head, result in report.get("heads", {}).items():
        metrics = result["metrics"]
        targets = result.get("targets") or {}  # directed behaviours: pair F1, whom-at accuracy
        for behaviour, values in metrics["per_class"].items():
            directed = _target_columns(targets, behaviour)
            rows.append({"head": head, "behavior": behaviour, **values, **directed})
        rows.append(
            {
                "head": head,
                "behavior": "ALL",
                "ap": metrics["map"],
                "f1": metrics["macro_f1"],
                "macro_accuracy": metrics["macro_accuracy"],
                **_target_columns(targets, None),
            }
        )
        blind = result.get("animal_blind")
        if blind:  # per-animal data: the baseline that cannot tell animals apart, and its ceiling
            for behaviour, values in blind["per_class"].items():
                rows.append(
                    {
                        "head": f"{head} (animal-blind)",
                        "behavior": behaviour,
                        "ap": values["ap"],
                        "chance_ap": values["chance_ap"],
                        "ceiling_ap": blind["ceiling_per_class_ap"][behaviour],
                        "f1": values["f1"],
                    }
                )
            rows.append(
                {
                    "head": f"{head} (animal-blind)",
                    "behavior": "ALL",
                    "ap": blind["map"],
                    "ceiling_ap": blind["ceiling_map"],
                    "f1": blind["macro_f1"],
                }
            )
    csv_path = out_dir / "metrics.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    return json_path, csv_path


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    alt = html.escape(Path(path).stem)
    return f'<img alt="{alt}" src="data:image/png;base64,{data}" style="max-width:100%">'


def write_html(path: Path, title: str, sections: list[tuple[str, list]]) -> Path:
    """``sections``: (heading, items) where an item is a DataFrame, a PNG path or an HTML/text string."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th{background:#f3f3f3}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, items in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for item in items:
            if isinstance(item, pd.DataFrame):
                parts.append(item.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–"))
            elif isinstance(item, Path) and item.suffix == ".png":
                parts.append(_image(item))
            else:
                parts.append(f"<p>{item}</p>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path
