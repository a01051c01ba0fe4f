"""Which entries of a store a command works on: one backbone, made alike, the richest entry per
video (token grids, maps, per-animal rows) — a mixture is refused, never used silently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ethoprism.errors import EthoprismError
from ethoprism.provenance import Provenance
from ethoprism.store.entry import StoreEntry


def animal_mode(provenance: Provenance) -> str | None:
    """How an entry's per-animal embeddings were made (None: no tracks)."""
    return provenance.tracks.get("mode", "pooled") if provenance.tracks else None


@dataclass(frozen=True)
class EntryFilter:
    """Which entries of a store to use: a backbone and optionally its weights (hub id, local path,
    or a sha256 prefix of 8+ characters), dtype and the PCA width of its token grids
    (``--token-dim``)."""

    backbone: str | None = None
    weights: str | None = None
    dtype: str | None = None
    token_dim: int | None = None
    animal_mode: str | None = None  # per-animal embeddings made this way (ethoprism.tracks.ANIMAL_MODES)

    def accepts(self, provenance: Provenance) -> bool:
        if self.token_dim is not None and provenance.token_dim != self.token_dim:
            return False
        if self.animal_mode is not None and provenance.tracks and animal_mode(provenance) != self.animal_mode:
            return False
        if self.dtype is not None and provenance.dtype not in (
            self.dtype,
            {"fp32": "float32", "bf16": "bfloat16"}.get(self.dtype),
        ):
            return False
        if self.weights is None:
            return True
        info = provenance.weights
        given = {self.weights, str(Path(self.weights).expanduser().resolve())}
        return info.model_id in given or (
            len(self.weights) >= 8 and (info.sha256 or "").startswith(self.weights)
        )

    def describe(self) -> str:
        parts = [
            f"weights {self.weights}" if self.weights else "",
            f"dtype {self.dtype}" if self.dtype else "",
            f"token grids reduced to {self.token_dim} dimensions" if self.token_dim else "",
            f"{self.animal_mode} animal embeddings" if self.animal_mode else "",
        ]
        return "".join(f" with {p}" for p in parts if p)


def select_entries(
    entries: list[StoreEntry], backbone: str | EntryFilter | None, needs: str, root: Path
) -> list[StoreEntry]:
    """:meth:`EmbeddingStore.select` over ``entries`` (``root`` names the store in errors)."""
    if needs not in ("grids", "maps"):
        raise ValueError(f"needs must be 'grids' or 'maps', not {needs!r}")
    wanted = backbone if isinstance(backbone, EntryFilter) else EntryFilter(backbone)
    if not entries:
        raise EthoprismError("store holds no embeddings (run `ethoprism extract` first)", root)
    backbone = wanted.backbone
    if backbone is None:
        backbones = sorted({e.backbone for e in entries})
        if len(backbones) > 1:
            raise EthoprismError(f"store holds several backbones {backbones}: pass --backbone", root)
        backbone = backbones[0]
    chosen = [e for e in entries if e.backbone == backbone and wanted.accepts(e.provenance)]
    if not chosen:
        raise EthoprismError(f"store holds no embeddings from backbone '{backbone}'{wanted.describe()}", root)
    kinds = {}
    for entry in chosen:
        kinds.setdefault(entry.provenance.embedding_key, []).append(entry)
    if len(kinds) > 1:
        described = "; ".join(
            f"{group[0].provenance.describe()} ({len(group)} videos)" for group in kinds.values()
        )
        raise EthoprismError(
            f"store holds {backbone} embeddings made differently, which cannot be used together: "
            f"{described}. Pick one with --weights (model id, path or sha256 prefix) and/or --dtype",
            root,
        )

    def richness(entry):  # token grids first (they serve every head), whole grids before
        # PCA-reduced ones (--token-dim picks those), then the densest maps; for localisation
        # the maps first
        p = entry.provenance
        grids = (p.token_grid is not None, p.token_dim is None)
        maps = (p.token_step is not None, -(p.token_step or 10**9))
        # the same frame embeddings, and each animal's too; pooled (the default) before crops
        animals = (p.tracks is not None, p.tracks is not None and animal_mode(p) == "pooled")
        return (*maps, *animals, *grids) if needs == "maps" else (*animals, *grids, *maps)

    densest = {}
    for entry in chosen:
        best = densest.get(entry.video_sha256)
        if best is None or richness(entry) > richness(best):
            densest[entry.video_sha256] = entry
    chosen = [e for e in chosen if densest[e.video_sha256] is e]
    bases = sorted({e.provenance.token_basis for e in chosen if e.provenance.token_dim})
    if len(bases) > 1:
        raise EthoprismError(
            f"store holds token grids reduced with different PCA bases {bases} (the basis was "
            "refitted after some videos): extract those videos again so they share one basis",
            root,
        )
    names = [e.video_name for e in chosen]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EthoprismError(f"several stored videos share the names {duplicates}; rename them", root)
    return chosen
