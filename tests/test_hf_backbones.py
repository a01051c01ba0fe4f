"""Any transformers vision model by hub id or folder (``--backbone hf:...``): for each family a
tiny randomly initialised model of the real class, saved as ``save_pretrained`` writes it and
loaded through the path a user's hub id takes, gives ``[B, T, h, w, D]`` tokens; and the bad
inputs (unsupported family, no network, no weights, a patch that does not divide) are one line."""

import json

import numpy as np
import pytest
import torch
import transformers
from typer.testing import CliRunner

from conftest import TINY_CONFIGS, write_video
from ethoprism.backbones import load_backbone
from ethoprism.cli import app
from ethoprism.errors import EthoprismError
from ethoprism.store import EmbeddingStore

runner = CliRunner()
VIT = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]

# family -> (model class, config, input size, patch, frames, width)
FAMILIES = {
    "dinov2": ("Dinov2Model", transformers.Dinov2Config(**VIT, image_size=28, patch_size=14), 28, 14, 1, 32),
    "dinov2_with_registers": (
        "Dinov2WithRegistersModel",
        transformers.Dinov2WithRegistersConfig(**VIT, image_size=28, patch_size=14, num_register_tokens=4),
        28,
        14,
        1,
        32,
    ),
    "dinov3_vit": (
        "DINOv3ViTModel",
        transformers.DINOv3ViTConfig(**VIT, image_size=32, patch_size=16, num_register_tokens=2),
        32,
        16,
        1,
        32,
    ),
    "vit": ("ViTModel", transformers.ViTConfig(**VIT, image_size=32, patch_size=16), 32, 16, 1, 32),
    "clip": (
        "CLIPModel",
        transformers.CLIPConfig(
            text_config=dict(**VIT, vocab_size=99), vision_config=dict(**VIT, image_size=32, patch_size=16)
        ),
        32,
        16,
        1,
        32,
    ),
    "siglip": (
        "SiglipModel",
        transformers.SiglipConfig(
            text_config=dict(**VIT, vocab_size=99), vision_config=dict(**VIT, image_size=32, patch_size=16)
        ),
        32,
        16,
        1,
        32,
    ),
    "siglip2": (  # NaFlex: a 4 x 4 grid of 8-pixel patches at most
        "Siglip2Model",
        transformers.Siglip2Config(
            text_config=dict(**VIT, vocab_size=99), vision_config=dict(**VIT, patch_size=8, num_patches=16)
        ),
        32,
        8,
        1,
        32,
    ),
    "xclip": (
        "XCLIPModel",
        transformers.XCLIPConfig(
            text_config=dict(**VIT, vocab_size=99),
            vision_config=dict(  # two layers: the first layer's messages come from content-free class tokens
                **VIT | {"num_hidden_layers": 2},
                image_size=32,
                patch_size=16,
                num_frames=4,
                mit_hidden_size=16,
                mit_intermediate_size=20,
                mit_num_attention_heads=2,
            ),
            projection_dim=16,
            prompt_layers=1,
        ),
        32,
        16,
        4,
        32,
    ),
    "convnext": (
        "ConvNextModel",
        transformers.ConvNextConfig(hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1]),
        64,
        32,
        1,
        16,
    ),
    "resnet": (
        "ResNetModel",
        transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1]),
        64,
        32,
        1,
        16,
    ),
    "videomae": (
        "VideoMAEModel",
        transformers.VideoMAEConfig(**VIT, image_size=32, patch_size=16, num_frames=4, tubelet_size=2),
        32,
        16,
        4,
        32,
    ),
    "timesformer": (
        "TimesformerModel",
        transformers.TimesformerConfig(**VIT, image_size=32, patch_size=16, num_frames=4),
        32,
        16,
        4,
        32,
    ),
    "vivit": (
        "VivitModel",
        transformers.VivitConfig(**VIT, image_size=32, num_frames=4, tubelet_size=[2, 16, 16]),
        32,
        16,
        4,
        32,
    ),
}


def save_family(folder, family):
    name, config, size, _, _, _ = FAMILIES[family]
    torch.manual_seed(0)
    getattr(transformers, name)(config).save_pretrained(folder)
    processor = {"image_mean": MEAN, "image_std": STD, "do_normalize": True}
    if family == "siglip2":
        processor |= {"max_num_patches": 16, "patch_size": 8}
    processor["crop_size" if family != "convnext" else "size"] = (
        {"height": size, "width": size} if family != "convnext" else {"shortest_edge": size}
    )
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_gives_tokens_per_frame_from_its_own_config(tmp_path, family):
    _, _, size, patch, frames, width = FAMILIES[family]
    folder = save_family(tmp_path / family, family)
    backbone = load_backbone(f"hf:{folder}")
    assert backbone.name == f"hf:{folder}" and backbone.input_size == size and backbone.patch == patch
    assert backbone.weights.sha256 and backbone.weights.extra["family"] == family
    assert backbone.mean == tuple(MEAN) and backbone.std == tuple(STD)  # from the preprocessor config
    assert backbone.is_video_model == (frames > 1)
    clip = frames if frames > 1 else 3
    tokens = backbone.encode(torch.rand(2, clip, size, size, 3))
    assert tokens.shape == (2, clip, size // patch, size // patch, width)
    assert torch.isfinite(tokens).all()
    if frames == 1:  # an image model embeds each frame on its own
        alone = backbone.encode(torch.rand(1, 1, size, size, 3, generator=torch.Generator().manual_seed(1)))
        again = backbone.encode(
            torch.cat(
                [torch.rand(1, 1, size, size, 3, generator=torch.Generator().manual_seed(1))] * 2, dim=1
            )
        )
        torch.testing.assert_close(alone[:, 0], again[:, 1], atol=1e-5, rtol=1e-4)


def test_siglip2_and_xclip_tokens_are_those_of_their_own_input_paths(tmp_path):
    """SigLIP 2 NaFlex: our patch rows equal its image processor's; X-CLIP: the tower of the
    whole video-text model, the clip's frames seen together."""
    frames = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    siglip2 = load_backbone(f"hf:{save_family(tmp_path / 'siglip2', 'siglip2')}")
    processor = transformers.Siglip2ImageProcessorPil(
        max_num_patches=16, patch_size=8, do_rescale=False, do_normalize=False, do_resize=False
    )
    reference = transformers.Siglip2VisionModel.from_pretrained(tmp_path / "siglip2").eval()
    with torch.no_grad():
        expected = reference(**processor(images=[frames[0, 0]], return_tensors="pt")).last_hidden_state
        tokens = siglip2._tokens(frames[:, :1])
    torch.testing.assert_close(tokens[0, 0].reshape(1, 16, -1), expected, atol=1e-5, rtol=1e-4)

    xclip = load_backbone(f"hf:{save_family(tmp_path / 'xclip', 'xclip')}")
    whole = transformers.XCLIPModel.from_pretrained(tmp_path / "xclip").eval()
    with torch.no_grad():
        expected = whole.vision_model(pixel_values=frames.flatten(0, 1)).last_hidden_state[:, 1:]
        tokens = xclip._tokens(frames)
    torch.testing.assert_close(tokens, expected.reshape(2, 4, 2, 2, -1), atol=1e-5, rtol=1e-4)
    changed = frames.clone()
    changed[:, 3] = 0  # message tokens carry one frame's content to the others
    with torch.no_grad():
        assert not torch.allclose(xclip._tokens(changed)[:, 0], tokens[:, 0])
    with pytest.raises(EthoprismError, match="clips of 4 frames"):
        xclip._tokens(frames[:, :3])


def test_an_own_backbone_family_goes_to_its_class(tmp_path):
    folder = tmp_path / "vjepa"
    transformers.VJEPA2Model(transformers.VJEPA2Config(**TINY_CONFIGS["vjepa2-l"])).save_pretrained(folder)
    backbone = load_backbone(f"hf:{folder}")
    assert type(backbone).__name__ == "VJEPA2Backbone" and backbone.name == f"hf:{folder}"
    assert backbone.encode(torch.rand(1, 4, 32, 32, 3)).shape == (1, 4, 2, 2, 32)


def test_extract_with_a_model_folder_records_it(tmp_path):
    folder = save_family(tmp_path / "dino", "dinov2")
    video = write_video(tmp_path / "v.mp4", n_frames=10, height=40, width=40)
    store = tmp_path / "store"
    result = runner.invoke(app, ["extract", str(video), "--store", str(store), "--backbone", f"hf:{folder}"])
    assert result.exit_code == 0, result.output
    (entry,) = EmbeddingStore(store).entries()
    assert entry.backbone == f"hf:{folder}" and entry.embeddings().shape == (10, 32)
    assert entry.provenance.weights.sha256 == load_backbone(f"hf:{folder}").weights.sha256
    assert entry.provenance.clip_spec.size == 28
    video_model = save_family(tmp_path / "mae", "videomae")
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s2"), "--backbone", f"hf:{video_model}"]
    )
    assert result.exit_code == 0, result.output
    (entry,) = EmbeddingStore(tmp_path / "s2").entries()
    assert entry.provenance.clip_spec.frames == 4 and np.isfinite(entry.embeddings()).all()


def test_bad_models_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bert = tmp_path / "bert"
    transformers.BertModel(transformers.BertConfig(**VIT, vocab_size=99)).save_pretrained(bert)
    with pytest.raises(EthoprismError, match="family 'bert' is not supported; supported: .*dinov2"):
        load_backbone(f"hf:{bert}")
    with pytest.raises(EthoprismError, match="hf download facebook/dinov2-small --revision v9"):
        load_backbone("hf:facebook/dinov2-small@v9")
    no_weights = save_family(tmp_path / "dino", "dinov2")
    for weights in no_weights.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(EthoprismError, match="cannot load the model's weights"):
        load_backbone(f"hf:{no_weights}")
    odd = tmp_path / "odd"
    transformers.ViTModel(transformers.ViTConfig(**VIT, image_size=30, patch_size=16)).save_pretrained(odd)
    with pytest.raises(EthoprismError, match="patch size 16 does not divide the input size 30"):
        load_backbone(f"hf:{odd}")
    with pytest.raises(EthoprismError, match="no config.json"):
        load_backbone(f"hf:{tmp_path}")
    video = write_video(tmp_path / "v.mp4", n_frames=4)
    result = runner.invoke(
        app, ["extract", str(video), "--store", str(tmp_path / "s"), "--backbone", f"hf:{bert}"]
    )
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")][0].count("bert") >= 1
