import numpy as np
import pytest
import torch

from ethoprism.backbones import load_backbone
from ethoprism.backbones.videoprism_lvt import official_text_positions
from ethoprism.errors import EthoprismError
from official_layout import lvt_arrays, randomize_

TINY_LVT = dict(
    vision_config=dict(
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        num_spatial_layers=2,
        num_temporal_layers=1,
        num_frames=4,
        image_size=36,
        num_auxiliary_layers=1,
    ),
    text_config=dict(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2
    ),
)


def test_official_text_position_table():
    table = official_text_positions(5, 8).numpy()
    half = 4
    for p in range(5):
        for i in range(half):
            timescale = 10000 ** (-i / (half - 1))  # D/2 - 1, as the official model
            assert table[p, i] == pytest.approx(np.sin(p * timescale), abs=1e-6)
            assert table[p, half + i] == pytest.approx(np.cos(p * timescale), abs=1e-6)


def test_random_lvt_api():
    backbone = load_backbone("videoprism-lvt-b", "random", config=TINY_LVT)
    assert backbone.model.video_model.head.q_proj.out_features == 4 * 32  # official pooler width
    video = backbone.video_embedding(np.random.rand(2, 4, 36, 36, 3))
    text = backbone.text_embedding(
        np.array([[5, 6, 7, 0], [8, 9, 0, 0]]), np.array([[0, 0, 0, 1], [0, 0, 1, 1]])
    )
    assert video.shape == (2, 32) and text.shape == (2, 32)
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(2))
    assert backbone.encode(np.random.rand(1, 4, 36, 36, 3)).shape == (1, 4, 2, 2, 32)
    with pytest.raises(EthoprismError, match="no tokenizer"):
        backbone.embed_texts(["a mouse grooming"])


def test_official_lvt_npz_loads_with_both_corrections(tmp_path):
    import copy

    from transformers import VideoPrismClipModel, VideoPrismConfig
    from transformers.models.videoprism.modeling_videoprism import VideoPrismMultiheadAttentionPoolingHead

    reference = VideoPrismClipModel(VideoPrismConfig(**TINY_LVT)).eval()
    # the official pooler is 4·D wide (here 128), not the MLP size (64) transformers would use
    cfg = copy.copy(reference.config.vision_config)
    cfg.intermediate_size = 128
    reference.video_model.head = VideoPrismMultiheadAttentionPoolingHead(cfg)
    randomize_(reference, seed=3)
    path = tmp_path / "flax_lvt_tiny_repeated.npz"
    np.savez(path, **lvt_arrays(reference))

    backbone = load_backbone("videoprism-lvt-b", str(path))
    assert backbone.model.video_model.head.q_proj.out_features == 128
    assert backbone.provenance()["weights"]["source"] == "flax-npz"
    frames = torch.rand(2, 4, 36, 36, 3)
    with torch.no_grad():
        expected_video = reference.video_model(
            pixel_values_videos=frames.permute(0, 1, 4, 2, 3)
        ).pooler_output
    torch.testing.assert_close(
        backbone.video_embedding(frames),
        torch.nn.functional.normalize(expected_video[:, 0], dim=-1),
        atol=1e-5,
        rtol=1e-5,
    )
    # text: the reference with the official position table gives the loaded model's output
    ids, pads = np.array([[3, 4, 5, 6], [7, 8, 0, 0]]), np.array([[0, 0, 0, 0], [0, 0, 1, 1]])
    uncorrected = reference.text_model(
        input_ids=torch.as_tensor(ids), attention_mask=torch.as_tensor(1 - pads)
    ).pooler_output
    reference.text_model.embeddings.position_embedding.copy_(official_text_positions(64, 32))
    with torch.no_grad():
        expected_text = reference.text_model(
            input_ids=torch.as_tensor(ids), attention_mask=torch.as_tensor(1 - pads)
        ).pooler_output
    got = backbone.text_embedding(ids, pads)
    torch.testing.assert_close(
        got, torch.nn.functional.normalize(expected_text, dim=-1), atol=1e-5, rtol=1e-5
    )
    assert not torch.allclose(got, torch.nn.functional.normalize(uncorrected.detach(), dim=-1), atol=1e-4)


def test_lvt_npz_missing_text_tower(tmp_path):
    from transformers import VideoPrismClipModel, VideoPrismConfig

    arrays = lvt_arrays(VideoPrismClipModel(VideoPrismConfig(**TINY_LVT)))
    arrays = {k: v for k, v in arrays.items() if not k.startswith("params/text_encoder")}
    path = tmp_path / "vision_only.npz"
    np.savez(path, **arrays)
    with pytest.raises(EthoprismError, match="not a VideoPrism LvT checkpoint"):
        load_backbone("videoprism-lvt-b", str(path))


def test_text_search_and_zero_shot_over_stored_clip_embeddings(tmp_path):
    from conftest import write_video
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.retrieval.text import text_search, zero_shot
    from ethoprism.store import EmbeddingStore

    backbone = load_backbone("videoprism-lvt-b", "random", config=TINY_LVT)
    video = write_video(tmp_path / "v.mp4", n_frames=20)
    entry, _ = extract_video(
        video, backbone, EmbeddingStore(tmp_path / "s"), ClipSpec(frames=4, overlap=0, size=36)
    )
    clips, frame_clip = entry.clip_embeddings()
    assert clips.shape == (5, 32) and frame_clip.tolist() == [i // 4 for i in range(20)]
    # stored clip embeddings are the model's video embeddings of those clips
    from ethoprism.video import VideoReader

    frames = np.stack(list(VideoReader(video).iter_frames(size=36))).astype(np.float32) / 255
    torch.testing.assert_close(
        torch.as_tensor(clips[1]), backbone.video_embedding(frames[None, 4:8])[0], atol=1e-5, rtol=1e-5
    )
    texts = backbone.text_embedding(np.array([[5, 6, 7], [8, 9, 10]])).numpy()
    results = text_search(tmp_path / "s", texts[0], k=3, threshold_quantile=0.5)
    scores = clips @ texts[0]
    assert results.iloc[0]["score"] == pytest.approx(scores.max(), abs=1e-5)
    best_clip = int(scores.argmax())
    assert results.iloc[0]["start_frame"] <= best_clip * 4 <= results.iloc[0]["end_frame"]
    ((times, proba),) = zero_shot(tmp_path / "s", texts, ["groom", "rear"]).values()
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
    expected = np.exp(100 * (clips @ texts.T))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba[::4], expected, rtol=1e-4, atol=1e-6)


def test_canonicalize_text_as_the_official_code():
    from ethoprism.backbones.videoprism_lvt import canonicalize_text

    assert canonicalize_text("Hello, World!") == "hello world."
    assert canonicalize_text("Hello,World..") == "hello world."
    assert canonicalize_text("  A mouse   GROOMING") == "a mouse grooming."


def test_text_embedding_is_causal_without_paddings():
    backbone = load_backbone("videoprism-lvt-b", "random", config=TINY_LVT)
    ids = np.array([[5, 6, 7, 8]])
    no_paddings = backbone.text_embedding(ids)
    torch.testing.assert_close(no_paddings, backbone.text_embedding(ids, np.zeros((1, 4), int)))
    # with a causal tower, the pooled last token differs from a bidirectional pass
    out = backbone.model.text_model(input_ids=torch.as_tensor(ids), attention_mask=None).pooler_output
    assert not torch.allclose(torch.nn.functional.normalize(out.float(), dim=-1), no_paddings, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_sentencepiece(tmp_path_factory):
    import sentencepiece

    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    words = [
        "mouse",
        "grooming",
        "rearing",
        "walking",
        "a",
        "video",
        "of",
        "the",
        "fly",
        "jumps",
        "sniffing",
        "rest",
    ]
    rng = np.random.default_rng(0)
    corpus.write_text("\n".join(" ".join(rng.choice(words, 6)) + "." for _ in range(400)))
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "tiny"),
        vocab_size=36,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        minloglevel=2,
    )
    return folder / "tiny.model"


def test_text_search_from_the_official_npz_with_a_sentencepiece_file(tmp_path, tiny_sentencepiece):
    import sentencepiece
    from transformers import VideoPrismClipModel, VideoPrismConfig
    from typer.testing import CliRunner

    from conftest import write_video
    from ethoprism.cli import app

    weights = tmp_path / "lvt.npz"
    np.savez(
        weights, **lvt_arrays(randomize_(VideoPrismClipModel(VideoPrismConfig(**TINY_LVT)).eval(), seed=4))
    )
    backbone = load_backbone("videoprism-lvt-b", str(weights), tokenizer=str(tiny_sentencepiece))
    processor = sentencepiece.SentencePieceProcessor(model_file=str(tiny_sentencepiece))
    expected_ids = processor.EncodeAsIds("a mouse grooming.")
    ids, paddings = backbone.tokenizer(["a mouse grooming."])
    assert ids.shape == (1, 64) and ids[0, : len(expected_ids)].tolist() == expected_ids
    assert paddings[0].tolist() == [0] * len(expected_ids) + [1] * (64 - len(expected_ids))
    torch.testing.assert_close(
        backbone.embed_texts(["A mouse, GROOMING!"]), backbone.text_embedding(ids, paddings)
    )
    with pytest.raises(EthoprismError, match="not a SentencePiece model"):
        load_backbone("videoprism-lvt-b", str(weights), tokenizer=str(weights))
    with pytest.raises(EthoprismError, match="--tokenizer is for the video-text backbones"):
        load_backbone("effnet-lite0", tokenizer=str(tiny_sentencepiece))

    video = write_video(tmp_path / "v.mp4", n_frames=12, height=36, width=36)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "extract",
            str(video),
            "--store",
            str(tmp_path / "s"),
            "--backbone",
            "videoprism-lvt-b",
            "--weights",
            str(weights),
            "--frames",
            "4",
            "--size",
            "36",
            "--overlap",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "search",
            str(tmp_path / "s"),
            "--text",
            "a mouse grooming",
            "--k",
            "2",
            "--weights",
            str(weights),
            "--tokenizer",
            str(tiny_sentencepiece),
            "--out",
            str(tmp_path / "hits"),
        ],
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "hits" / "results.csv")
    from ethoprism.store import EmbeddingStore

    (entry,) = EmbeddingStore(tmp_path / "s").entries()
    clips, frame_clip = entry.clip_embeddings()
    text = backbone.embed_texts(["a mouse grooming"]).numpy()[0]
    assert table.iloc[0]["score"] == pytest.approx(float((clips @ text).max()), abs=1e-5)
    result = runner.invoke(
        app,
        [
            "zero-shot",
            str(tmp_path / "s"),
            "--behavior",
            "grooming",
            "--behavior",
            "rearing",
            "--weights",
            str(weights),
            "--tokenizer",
            str(tiny_sentencepiece),
            "--out",
            str(tmp_path / "zs"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "zs" / "v.frames.csv").exists()
