"""Stage 4: the embedding store — per (video, backbone, clip spec) one HDF5 file.

One module per job: :mod:`~ethoprism.store.entry` (the file format, read),
:mod:`~ethoprism.store.folder` (where entries live; listing, finding),
:mod:`~ethoprism.store.selection` (which entries a command uses),
:mod:`~ethoprism.store.chunks` (writing in chunks: claims, commits, resume),
:mod:`~ethoprism.store.bases` (the PCA bases of ``--token-dim``).

Why HDF5: one self-describing file per entry makes writes atomic (write ``*.tmp-<host>-<pid>``, fsync,
``os.replace``), so an interrupted run, even ``kill -9``, leaves either a finished file or an
ignored temporary, never a half-written entry that looks complete; and labs open HDF5 directly
from MATLAB, R, Julia or h5py without ethoprism. (A Zarr directory store would need a
directory rename and many small files per entry for the same guarantee.)

Layout::

    STORE/<video-stem>__<sha12>/<backbone>__<spec-key>.h5
        embeddings  float32 [n_frames, D]     spatially pooled per-frame embedding
        timestamps  float64 [n_frames]        seconds from the first frame
        tokens      float16 [k, h, w, D]      optional spatial token maps ...
        token_frames int64  [k]               ... for these frames
        grid_tokens float16 [n_frames, g, g, D or K]  optional (--token-grid): every frame's token
                                              map pooled to g x g, PCA-reduced to K (--token-dim)
        clip_embeddings float32 [n_clips, D]  video-text models: joint-space embedding per clip,
        clip_frames, frame_clip               the clips' frames and each frame's clip
        animal_frames, animal_ids, animal_boxes, animal_embeddings
                                              optional (--tracks): one row per (frame, animal)
        attrs["provenance"]  JSON: package version, backbone, weights (id, revision, sha256),
                             dtype, clip spec, video path/sha256/fps/n_frames/size
    STORE/token_bases/*.npz                   PCA bases of --token-dim (ethoprism.store.bases)
"""

from ethoprism.store.chunks import PartialEntry
from ethoprism.store.entry import PARTS, SUFFIX, StoreEntry
from ethoprism.store.folder import EmbeddingStore
from ethoprism.store.selection import EntryFilter, animal_mode

__all__ = ["EmbeddingStore", "EntryFilter", "PartialEntry", "StoreEntry", "animal_mode", "PARTS", "SUFFIX"]
