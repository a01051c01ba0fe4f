"""Stage 4 helper: PCA bases that shrink stored token grids (``extract --token-grid G --token-dim K``).

A store keeps **one basis per kind of grid** (backbone, weights, dtype, clip spec, grid, K):
fitted on the grids of the first video finished with that setting, then reused for every later
video. All entries therefore share one K-dimensional space, so a head trained on some videos
reads the others, and a video extracted next month lands in the same space. Each entry records
the basis's digest in its provenance; entries of another basis (the basis file was deleted and
refitted) are not mixed with them, and a head refuses grids of a basis it was not trained on.

Layout::

    STORE/token_bases/<backbone>__<spec-key>__<variant>__grid<G>__dim<K>.npz
        mean        float32 [D]
        components  float32 [K, D]    rows: principal axes, by explained variance
        explained_variance_ratio float64 [K]
        n_tokens, fitted_on           how many tokens of which video it was fitted on

Why fitted once and frozen (not refitted as videos arrive): refitting would change the space
under entries already written and heads already trained. The first video is a sample of the
lab's setup (arena, lighting, animal), which is what the grids vary with.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
from sklearn.decomposition import PCA

from ethoprism.errors import EthoprismError, os_reason
from ethoprism.leases import temporary_name
from ethoprism.provenance import Provenance, file_name_part
from ethoprism.store.entry import StoreEntry

FOLDER = "token_bases"
# tokens the PCA is fitted on at most (evenly spread over the first video's frames): 32,768 tokens
# of D = 1280 are 168 MB in float32, 25 samples per dimension, and fit in ~2 s on 2 cores
MAX_FIT_TOKENS = 32_768


@dataclass(frozen=True)
class TokenBasis:
    mean: np.ndarray  # float32 [D]
    components: np.ndarray  # float32 [K, D]
    explained_variance_ratio: np.ndarray  # [K]
    n_tokens: int
    fitted_on: str

    @property
    def dim(self) -> int:
        return len(self.components)

    @property
    def digest(self) -> str:
        """What entries record: equal digests, same space."""
        hasher = hashlib.sha256()
        hasher.update(np.ascontiguousarray(self.mean, np.float32).tobytes())
        hasher.update(np.ascontiguousarray(self.components, np.float32).tobytes())
        return hasher.hexdigest()[:16]

    def project(self, grids: np.ndarray) -> np.ndarray:
        """``[..., D]`` token vectors -> ``[..., K]`` fp16 coordinates in the basis."""
        flat = np.asarray(grids, np.float32).reshape(-1, grids.shape[-1])
        reduced = (flat - self.mean) @ self.components.T
        return reduced.astype(np.float16).reshape(*grids.shape[:-1], self.dim)


def basis_path(store_root: str | Path, provenance: Provenance) -> Path:
    name = (
        f"{file_name_part(provenance.backbone)}__{provenance.clip_spec.key}__{provenance.embedding_variant}"
        f"__grid{provenance.token_grid}__dim{provenance.token_dim}.npz"
    )
    return Path(store_root) / FOLDER / name


def load_basis(path: Path) -> TokenBasis | None:
    """The basis at ``path``; None if there is none yet. A file that does not read is refused
    (silently refitting would put new entries in another space than the old ones)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            basis = TokenBasis(
                mean=data["mean"].astype(np.float32),
                components=data["components"].astype(np.float32),
                explained_variance_ratio=data["explained_variance_ratio"],
                n_tokens=int(data["n_tokens"]),
                fitted_on=str(data["fitted_on"]),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        # EOFError (an empty file) must not reach the CLI: click would turn it into "Aborted!"
        raise EthoprismError(
            f"token basis does not read ({exc.__class__.__name__}: {exc}); delete it and the entries "
            "made with it (their provenance names its digest), then extract again",
            path,
        ) from None
    if basis.components.ndim != 2 or basis.components.shape[1] != len(basis.mean):
        raise EthoprismError("token basis has inconsistent shapes; delete it and extract again", path)
    return basis


def check_reduces(dim: int, width: int, where=None) -> None:
    if dim >= width:
        raise EthoprismError(
            f"--token-dim {dim} does not reduce the backbone's {width} dimensions: choose fewer", where
        )


def fit_basis(tokens: np.ndarray, dim: int, fitted_on: str, where=None) -> TokenBasis:
    """PCA of ``tokens`` (``[n, D]``) keeping ``dim`` components."""
    n, width = tokens.shape
    check_reduces(dim, width, where)
    if dim > n:
        raise EthoprismError(
            f"--token-dim {dim} needs at least {dim} tokens to fit its PCA; the video gives {n}", where
        )
    # eigen-decomposition of the D x D covariance: exact, and fast when there are many more
    # tokens than dimensions (the case here)
    pca = PCA(n_components=dim, svd_solver="covariance_eigh").fit(tokens)
    return TokenBasis(
        mean=pca.mean_.astype(np.float32),
        components=pca.components_.astype(np.float32),
        explained_variance_ratio=pca.explained_variance_ratio_,
        n_tokens=n,
        fitted_on=fitted_on,
    )


def save_first(path: Path, basis: TokenBasis) -> TokenBasis:
    """Store ``basis`` unless another process stored one first; -> the basis that stands.

    Written to a temporary and hard-linked into place (which fails if the name exists), so two
    extractions finishing their first videos at once agree on one basis."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            np.savez(
                handle,
                mean=basis.mean,
                components=basis.components,
                explained_variance_ratio=basis.explained_variance_ratio,
                n_tokens=basis.n_tokens,
                fitted_on=basis.fitted_on,
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
        return basis
    except FileExistsError:
        return load_basis(path)
    finally:
        temporary.unlink(missing_ok=True)


def store_basis(store_root: str | Path, provenance: Provenance, read_frames, where=None) -> TokenBasis:
    """The store's basis for ``provenance``'s grids; if there is none yet, fitted on this video:
    ``read_frames(rows)`` gives the whole grids ``[len(rows), g, g, D]`` of those (sorted) frames."""
    path = basis_path(store_root, provenance)
    basis = load_basis(path)
    if basis is not None:
        return basis
    grid = provenance.token_grid
    grids = read_frames(sample_rows(provenance.video.n_frames, grid * grid))
    tokens = np.asarray(grids, np.float32).reshape(-1, grids.shape[-1])
    fitted = fit_basis(tokens, provenance.token_dim, Path(provenance.video.path).name, where)
    return save_first(path, fitted)


def sample_rows(n_frames: int, tokens_per_frame: int) -> np.ndarray:
    """The frames whose grid tokens a basis is fitted on: evenly spread, at most
    :data:`MAX_FIT_TOKENS` tokens in all."""
    wanted = max(1, MAX_FIT_TOKENS // tokens_per_frame)
    if n_frames <= wanted:
        return np.arange(n_frames)
    return np.unique(np.linspace(0, n_frames - 1, wanted).round().astype(np.int64))


def reduced_copy(store, entry: StoreEntry, token_dim: int) -> StoreEntry:
    """:meth:`EmbeddingStore.reduced_copy`: ``entry`` with its whole token grids reduced to
    ``token_dim`` dimensions by the store's basis, written as a new entry beside it (streamed)."""
    provenance = replace(entry.provenance, token_dim=token_dim, token_basis=None)
    basis = store_basis(store.root, provenance, lambda rows: entry.grid_tokens(rows), entry.path)
    provenance = replace(provenance, token_basis=basis.digest)
    target = store.entry_path(provenance)
    temporary = temporary_name(target)
    try:
        with h5py.File(entry.path, "r") as source, h5py.File(temporary, "w") as out:
            for name in source:
                if name != "grid_tokens":
                    source.copy(source[name], out, name)
            grids = source["grid_tokens"]
            n_frames, grid = len(grids), grids.shape[1]
            reduced = out.create_dataset(
                "grid_tokens",
                (n_frames, grid, grid, token_dim),
                np.float16,
                chunks=(min(n_frames, 64), grid, grid, token_dim),
            )
            for start in range(0, n_frames, 2048):
                reduced[start : start + 2048] = basis.project(grids[start : start + 2048])
            out.attrs["provenance"] = json.dumps(provenance.to_dict())
            out.attrs["complete"] = True
            out.flush()
            os.fsync(out.id.get_vfd_handle())
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise EthoprismError(f"cannot write to the store ({os_reason(exc)})", target) from exc
    return StoreEntry(target, provenance)
