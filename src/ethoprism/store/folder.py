"""The store folder: where each entry's file lives, listing, opening and finding entries, and
cleaning up after interrupted writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py

from ethoprism.errors import EthoprismError
from ethoprism.leases import temporary_is_debris
from ethoprism.provenance import Provenance, file_name_part
from ethoprism.store.bases import basis_path, load_basis, reduced_copy
from ethoprism.store.chunks import PartialEntry
from ethoprism.store.entry import PARTS, SUFFIX, StoreEntry
from ethoprism.store.selection import EntryFilter, select_entries


class EmbeddingStore:
    # Fault injection for tests: called with the name of each step of a write ("temporary-written":
    # the entry is complete in its temporary file, not yet renamed), so a test can kill the process
    # exactly there instead of hoping a sleep lands inside the write.
    fault_hook = None

    def __init__(self, root: str | Path):
        # s3://, gs://, ... (a Path collapses the "//"): without this check the URL would become a
        # local folder named "s3:" and the work would silently stay on this machine
        url = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)", str(root))
        if url:
            raise EthoprismError(
                "object-store URLs are not supported as a store: it needs a POSIX file system (atomic "
                "renames, exclusive creates). Use a folder on a shared file system every worker mounts "
                "(NFS, Lustre, EFS, Filestore, FSx), or a local folder copied to the bucket afterwards",
                f"{url[1]}://{url[2]}",
            )
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EthoprismError("store path exists and is not a directory", self.root)
        self.notes: list[str] = []  # what the store repaired on its own (damaged chunks), to tell

    def entry_path(self, provenance: Provenance) -> Path:
        """One file per whole provenance: entries that differ in weights, dtype or token maps
        coexist instead of replacing each other."""
        video = provenance.video
        folder = f"{file_name_part(Path(video.path).stem)}__{video.sha256[:12]}"
        name = f"{file_name_part(provenance.backbone)}__{provenance.clip_spec.key}__{provenance.variant}"
        return self.root / folder / f"{name}{SUFFIX}"

    def entries(self) -> list[StoreEntry]:
        """Every finished entry. Entries are committed by a rename, so a ``*.h5`` that cannot be
        read is damage (a truncated copy, a bad disk), never work in progress: it is refused with
        its name rather than skipped, which would silently drop a video from training."""
        if self.root.exists() and not self.root.is_dir():
            raise EthoprismError("store path is not a folder", self.root)
        found = []
        for path in sorted(self.root.glob(f"*/*{SUFFIX}")):
            entry = self.open(path)
            if entry is None:
                raise EthoprismError(
                    "damaged store entry (unreadable or not marked complete): delete it and extract "
                    "its video again",
                    path,
                )
            found.append(entry)
        return found

    @staticmethod
    def open(path: Path) -> StoreEntry | None:
        """An entry if the file is complete and readable, else None (never raises on debris)."""
        try:
            with h5py.File(path, "r") as handle:
                if not handle.attrs.get("complete", False):
                    return None
                return StoreEntry(path, Provenance.from_dict(json.loads(handle.attrs["provenance"]), path))
        except (OSError, KeyError, ValueError, EthoprismError):
            return None

    def select(self, backbone: str | EntryFilter | None = None, needs: str = "grids") -> list[StoreEntry]:
        """The entries a head or an index works on: one backbone (``backbone`` or the only one),
        all made alike (weights, dtype, clip spec) — a mixture is refused, never trained on
        silently; an :class:`EntryFilter` picks one kind by ``--weights``/``--dtype``. Of several
        entries of one video that differ only in token maps, the one the command ``needs`` stands:
        ``"grids"`` (behaviour heads: token grids, then the densest maps) or ``"maps"``
        (localisation: the densest spatial maps, then grids)."""
        return select_entries(self.entries(), backbone, needs, self.root)

    def find(self, provenance: Provenance) -> StoreEntry | None:
        entry = self.open(self.entry_path(provenance))
        if entry is None or entry.provenance.cache_key != provenance.cache_key:
            return None
        if provenance.token_dim:  # reduced with a basis the store no longer holds: make it again
            basis = load_basis(basis_path(self.root, provenance))
            if basis is None or basis.digest != entry.provenance.token_basis:
                return None
        return entry

    def reduced_copy(self, entry: StoreEntry, token_dim: int) -> StoreEntry:
        """``entry`` with its whole token grids reduced to ``token_dim`` dimensions by the store's
        basis, as a new entry beside it: ``--token-dim`` on a video whose whole grids are stored
        costs a projection, not another backbone run. Streamed, so memory stays bounded."""
        return reduced_copy(self, entry, token_dim)

    def partial(self, provenance: Provenance, chunks: list[tuple[int, int]], batch_size: int) -> PartialEntry:
        """The entry being written in chunks (created, or resumed with the chunking it began with)."""
        return PartialEntry(self, provenance, chunks, batch_size)

    def partials(self) -> list[PartialEntry]:
        """Entries begun and not finished (an interrupted or running extraction)."""
        found = []
        for manifest in sorted(self.root.glob(f"*/*{PARTS}/manifest.json")):
            try:
                data = json.loads(manifest.read_text())
                provenance = Provenance.from_dict(data["provenance"], manifest)
                found.append(
                    PartialEntry(self, provenance, [tuple(c) for c in data["chunks"]], data["batch_size"])
                )
            except (OSError, ValueError, KeyError, TypeError, EthoprismError):
                continue
        return found

    def remove_debris(self) -> list[Path]:
        """Delete temporaries nobody is writing (:func:`~ethoprism.leases.temporary_is_debris`: this
        host's whose process is gone, any host's older than a lease); committed chunks of
        unfinished entries are kept: they are what a re-run resumes from."""
        removed = []
        for path in [*self.root.glob(f"*/*{SUFFIX}.tmp-*"), *self.root.glob(f"*/*{PARTS}/*.tmp-*")]:
            if temporary_is_debris(path):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed
