"""``extract --token-grid G --token-dim K``: token grids reduced by one PCA basis per store."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from conftest import TINY_CONFIGS, write_video
from ethoprism.backbones import load_backbone
from ethoprism.clips import ClipSpec
from ethoprism.errors import EthoprismError
from ethoprism.extract import check_token_options, extract_video
from ethoprism.store import EmbeddingStore, EntryFilter
from ethoprism.store.bases import FOLDER, fit_basis, load_basis, sample_rows, save_first

SPEC = ClipSpec(frames=4, overlap=1, size=36)  # the tiny model's token map is 2 x 2, D = 32


@pytest.fixture(scope="module")
def tiny_videoprism():
    return load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"])


@pytest.fixture
def two_videos(tmp_path):
    return [
        write_video(tmp_path / "first.mp4", n_frames=22, height=40, width=40, seed=1),
        write_video(tmp_path / "second.mp4", n_frames=17, height=40, width=40, seed=2),
    ]


def test_reduced_grids_are_the_full_grids_projected_on_one_basis_fitted_on_the_first_video(
    tmp_path, tiny_videoprism, two_videos
):
    store = EmbeddingStore(tmp_path / "store")
    full = [extract_video(v, tiny_videoprism, store, SPEC, token_grid=2)[0] for v in two_videos]
    reduced = [
        extract_video(v, tiny_videoprism, store, SPEC, token_grid=2, token_dim=6)[0] for v in two_videos
    ]
    bases = list((store.root / FOLDER).glob("*.npz"))
    assert len(bases) == 1 and "grid2__dim6" in bases[0].name
    basis = load_basis(bases[0])
    assert basis.fitted_on == "first.mp4" and basis.n_tokens == 22 * 4
    # the basis is scikit-learn's PCA of the first video's grid tokens
    tokens = full[0].grid_tokens().reshape(-1, 32).astype(np.float32)
    expected = PCA(6).fit(tokens)
    np.testing.assert_allclose(np.abs(basis.components), np.abs(expected.components_), atol=1e-4)
    np.testing.assert_allclose(basis.mean, expected.mean_, atol=1e-6)
    for whole, small in zip(full, reduced):
        assert small.provenance.token_dim == 6 and small.provenance.token_basis == basis.digest
        assert small.path != whole.path  # whole and reduced grids of one video coexist
        grids = small.grid_tokens()
        assert grids.shape == (whole.n_frames, 2, 2, 6) and grids.dtype == np.float16
        np.testing.assert_allclose(grids, basis.project(whole.grid_tokens()), atol=1e-3)
        np.testing.assert_array_equal(small.embeddings(), whole.embeddings())
    # a second extraction is a cache hit; the basis stays
    again, hit = extract_video(two_videos[1], tiny_videoprism, store, SPEC, token_grid=2, token_dim=6)
    assert hit and again.provenance.token_basis == basis.digest
    # whole grids unless --token-dim asks for the reduced ones
    assert {e.provenance.token_dim for e in store.select()} == {None}
    picked = store.select(EntryFilter(token_dim=6))
    assert {e.provenance.token_dim for e in picked} == {6} and len(picked) == 2


def test_a_refitted_basis_is_not_mixed_with_the_old_one(tmp_path, tiny_videoprism, two_videos):
    store = EmbeddingStore(tmp_path / "store")
    for video in two_videos:
        extract_video(video, tiny_videoprism, store, SPEC, token_grid=2, token_dim=6)
    old = next((store.root / FOLDER).glob("*.npz"))
    digest = load_basis(old).digest
    old.unlink()
    # the entry was made with a basis the store no longer holds: extracted again, on a new basis
    entry, hit = extract_video(two_videos[1], tiny_videoprism, store, SPEC, token_grid=2, token_dim=6)
    assert not hit and entry.provenance.token_basis not in (None, digest)
    with pytest.raises(EthoprismError, match="different PCA bases") as info:
        store.select(EntryFilter(token_dim=6))
    assert str(store.root) in str(info.value)


def test_token_dim_options_are_checked_before_any_work(tiny_videoprism, tmp_path):
    with pytest.raises(EthoprismError, match="pass --token-grid"):
        check_token_options(None, 8)
    with pytest.raises(EthoprismError, match="does not reduce the backbone's 32 dimensions"):
        extract_video(
            write_video(tmp_path / "v.mp4"),
            tiny_videoprism,
            EmbeddingStore(tmp_path / "s"),
            SPEC,
            2,
            token_grid=2,
            token_dim=32,
        )
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("*/*"))
    with pytest.raises(EthoprismError, match="positive whole number"):
        check_token_options(2, 0)
    check_token_options(2, None)


def test_basis_files(tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(500, 16)).astype(np.float32) * np.linspace(3, 0.1, 16)
    first = fit_basis(tokens, 4, "a.mp4")
    assert np.allclose(first.explained_variance_ratio, PCA(4).fit(tokens).explained_variance_ratio_)
    path = tmp_path / FOLDER / "b.npz"
    assert save_first(path, first).digest == first.digest
    # a second process finishing its first video at the same time keeps the basis that stands
    second = fit_basis(tokens[::-1][:200], 4, "b.mp4")
    assert save_first(path, second).digest == first.digest and load_basis(path).fitted_on == "a.mp4"
    assert load_basis(tmp_path / "none.npz") is None
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a basis")
    with pytest.raises(EthoprismError, match="token basis does not read") as info:
        load_basis(broken)
    assert "broken.npz" in str(info.value)
    with pytest.raises(EthoprismError, match="needs at least 8 tokens"):
        fit_basis(tokens[:5], 8, "c.mp4")
    with pytest.raises(EthoprismError, match="does not reduce"):
        fit_basis(tokens, 16, "c.mp4")


def test_the_fit_sample_is_spread_over_the_video_and_bounded():
    rows = sample_rows(108_000, 16)
    assert len(rows) * 16 <= 32_768 and rows[0] == 0 and rows[-1] == 107_999
    assert np.ptp(np.diff(rows)) <= 1
    np.testing.assert_array_equal(sample_rows(100, 16), np.arange(100))


def test_reducing_stored_whole_grids_equals_extracting_reduced_ones(tmp_path, tiny_videoprism, two_videos):
    """--token-dim on a video whose whole grids are stored projects them (no backbone run) and
    gives what a reduced extraction from scratch gives: same basis, same arrays."""
    direct = EmbeddingStore(tmp_path / "direct")
    made = [extract_video(v, tiny_videoprism, direct, SPEC, 3, token_grid=2, token_dim=5) for v in two_videos]
    assert not any(hit for _, hit in made)
    derived_store = EmbeddingStore(tmp_path / "derived")
    for video in two_videos:
        extract_video(video, tiny_videoprism, derived_store, SPEC, 3, token_grid=2)

    class NoBackbone:  # what extract_video reads of a backbone before it would run it
        name, weights, dtype_name = tiny_videoprism.name, tiny_videoprism.weights, tiny_videoprism.dtype_name
        embed_dim = tiny_videoprism.embed_dim

        def default_clip_spec(self):
            return SPEC

    derived = [
        extract_video(v, NoBackbone(), derived_store, SPEC, 3, token_grid=2, token_dim=5) for v in two_videos
    ]
    for (one, _), (other, hit) in zip(made, derived):
        assert hit and other.provenance.token_basis == one.provenance.token_basis
        np.testing.assert_array_equal(other.grid_tokens(), one.grid_tokens())
        np.testing.assert_array_equal(other.embeddings(), one.embeddings())
        np.testing.assert_array_equal(other.timestamps(), one.timestamps())
        assert other.provenance.cache_key == one.provenance.cache_key
