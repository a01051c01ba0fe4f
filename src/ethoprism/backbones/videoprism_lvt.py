"""VideoPrism video-text models (LvT): ``videoprism-lvt-b`` / ``videoprism-lvt-l``.

transformers' ``VideoPrismClipModel`` holds the architecture. Two places differ from Google's
official JAX model and are corrected when official checkpoints are loaded (and for hub weights,
which were converted with transformers' table):

* the text encoder's sinusoidal position table: official timescales are
  ``10000 ** (-i / (D/2 - 1))`` for ``i < D/2`` (Praxis ``PositionalEmbedding``), transformers
  uses ``D/2`` as the denominator; we write the official table into the buffer;
* the video-text attention pooler's width: official ``4·D``; transformers derives it from the
  vision MLP size. We rebuild the pooler with the width the checkpoint's arrays have.
"""

from __future__ import annotations

import copy
import string
from pathlib import Path

import numpy as np
import torch

from ethoprism.backbones import videoprism_flax
from ethoprism.backbones.base import WeightsInfo, hash_files
from ethoprism.backbones.hub import load_pretrained, random_init
from ethoprism.backbones.models import VideoPrismBackbone, _load_strict, _use_fast_inference_ops
from ethoprism.errors import EthoprismError


def official_text_positions(num_positions: int, dim: int) -> torch.Tensor:
    """Praxis sinusoids: [sin(p·τ_i), cos(p·τ_i)], τ_i = 10000^(-i/(dim/2 - 1))."""
    half = dim // 2
    increment = np.log(10000.0) / max(half - 1, 1)
    inv_timescales = np.exp(np.arange(half) * -increment)
    scaled = np.arange(num_positions)[:, None] * inv_timescales[None, :]
    return torch.as_tensor(np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1), dtype=torch.float32)


def set_pooler_width(model, width: int) -> None:
    """Rebuild the video pooler so its attention projections are ``width`` wide."""
    from transformers.models.videoprism.modeling_videoprism import VideoPrismMultiheadAttentionPoolingHead

    video = model.video_model
    if video.head.q_proj.out_features == width:
        return
    config = copy.copy(video.config)
    config.intermediate_size = width  # the pooler reads its width from this field only
    video.head = VideoPrismMultiheadAttentionPoolingHead(config)


def apply_official_corrections(model, pooler_width: int | None = None) -> None:
    text = model.text_model.embeddings
    text.position_embedding.copy_(official_text_positions(*text.position_embedding.shape))
    set_pooler_width(model, pooler_width or 4 * model.config.vision_config.hidden_size)


def _lvt_state(params: dict, path) -> tuple[dict, dict, int]:
    """Official LvT arrays -> (VideoPrismConfig kwargs, state dict, pooler width)."""
    vision, state = videoprism_flax.vision_config_and_state(
        params, path, hf_prefix="video_model.vision_model."
    )
    try:
        aux_prefix = "params/auxiliary_encoder/transformers_stack/x_layers"
        state.update(videoprism_flax.stacked_layers(params, aux_prefix, "video_model.auxiliary_layers"))
        pool = "params/contrastive_vision_pooler"
        query_w = params[f"{pool}/pooling_attention/query/w"]  # (D, N, H)
        width = query_w.shape[1] * query_w.shape[2]
        for name, hf in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
            state[f"video_model.head.{hf}.weight"] = torch.from_numpy(
                params[f"{pool}/pooling_attention/{name}/w"]
                .reshape(query_w.shape[0], -1)
                .T.astype(np.float32)
                .copy()
            )
            state[f"video_model.head.{hf}.bias"] = torch.from_numpy(
                params[f"{pool}/pooling_attention/{name}/b"].reshape(-1).astype(np.float32)
            )
        state["video_model.head.o_proj.weight"] = torch.from_numpy(
            params[f"{pool}/pooling_attention/post/w"].reshape(query_w.shape[0], -1).astype(np.float32).copy()
        )
        state["video_model.head.o_proj.bias"] = torch.from_numpy(
            params[f"{pool}/pooling_attention/post/b"].astype(np.float32)
        )
        state["video_model.head.per_dim_scale"] = torch.from_numpy(
            params[f"{pool}/pooling_attention/per_dim_scale/per_dim_scale"].astype(np.float32)
        )
        state["video_model.head.pooling_attention_query"] = torch.from_numpy(
            params[f"{pool}/pooling_attention_query"].reshape(1, 1, -1).astype(np.float32)
        )
        state["video_model.head_layernorm.weight"] = torch.from_numpy(
            params[f"{pool}/pooling_attention_layer_norm/scale"].astype(np.float32)
        )
        state["video_model.head_layernorm.bias"] = torch.from_numpy(
            params[f"{pool}/pooling_attention_layer_norm/bias"].astype(np.float32)
        )
        text_prefix = "params/text_encoder"
        token_emb = params[f"{text_prefix}/token_emb/emb_var"]  # (vocab, D)
        text_query = params[
            f"{text_prefix}/unimodal_transformer/x_layers/self_attention/query/w"
        ]  # (L, D, N, H)
        text_ffn = params[f"{text_prefix}/unimodal_transformer/x_layers/ff_layer/ffn_layer1/linear/kernel"]
        state.update(
            videoprism_flax.stacked_layers(
                params, f"{text_prefix}/unimodal_transformer/x_layers", "text_model.layers"
            )
        )
        state["text_model.embeddings.token_embedding.weight"] = torch.from_numpy(token_emb.astype(np.float32))
        state["text_model.embeddings.cls_emb"] = torch.from_numpy(
            params[f"{text_prefix}/cls_emb"].reshape(1, 1, -1).astype(np.float32)
        )
        state["text_model.layernorm.weight"] = torch.from_numpy(
            params[f"{text_prefix}/unimodal_ln/scale"].astype(np.float32)
        )
        state["text_model.layernorm.bias"] = torch.from_numpy(
            params[f"{text_prefix}/unimodal_ln/bias"].astype(np.float32)
        )
        aux_layers = videoprism_flax.layer_count(params, aux_prefix)
    except KeyError as exc:
        raise EthoprismError(f"not a VideoPrism LvT checkpoint: array {exc} missing", path) from exc
    config = {
        "vision_config": {**vision, "num_auxiliary_layers": aux_layers},
        "text_config": {
            "vocab_size": int(token_emb.shape[0]),
            "hidden_size": int(token_emb.shape[1]),
            "num_hidden_layers": int(text_query.shape[0]),
            "num_attention_heads": int(text_query.shape[2]),
            "intermediate_size": int(text_ffn.shape[2]),
        },
    }
    return config, state, int(width)


class VideoPrismLvTBackbone(VideoPrismBackbone):
    """Vision tokens for extraction (``encode``) plus the video-text embedding space:
    ``video_embedding(frames)`` and ``text_embedding(token_ids, paddings)``, both L2-normalised."""

    hub_ids = {
        "videoprism-lvt-b": "google/videoprism-lvt-base-f16r288",
        "videoprism-lvt-l": "google/videoprism-lvt-large-f8r288",
    }

    @classmethod
    def load(
        cls,
        name,
        weights=None,
        revision=None,
        config=None,
        device=None,
        dtype=None,
        compile=False,
        tokenizer=None,
    ):
        from transformers import VideoPrismClipModel, VideoPrismConfig

        hub_id = cls.hub_ids[name]
        found_tokenizer = None
        if weights == "random":
            config = dict(config or {})
            pooler_width = config.pop("pooler_width", None)
            model, info = random_init(VideoPrismClipModel, VideoPrismConfig(**config), hub_id)
            apply_official_corrections(model, pooler_width)
            torch.manual_seed(1)
            model.video_model.head.apply(model._init_weights)
        elif videoprism_flax.is_flax_npz(weights):
            params = videoprism_flax.read_npz(weights)
            model_config, state, width = _lvt_state(params, weights)
            model = VideoPrismClipModel(VideoPrismConfig(**model_config))
            apply_official_corrections(model, width)
            _load_strict(model, state, weights)
            info = WeightsInfo("flax-npz", str(Path(weights).resolve()), sha256=hash_files([Path(weights)]))
        else:
            model, info = load_pretrained(VideoPrismClipModel, "videoprism", name, hub_id, weights, revision)
            apply_official_corrections(model, model.video_model.head.q_proj.out_features)
            found_tokenizer = _try_tokenizer(weights or hub_id, revision)
        _use_fast_inference_ops(model)
        vision = model.config.vision_config
        backbone = cls(
            model,
            info,
            input_size=int(vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]),
            patch=int(vision.tubelet_size[1]),
            embed_dim=int(vision.hidden_size),
            default_frames=int(vision.num_frames),
            device=device,
            dtype=dtype,
            compile=compile,
        )
        backbone.name = name
        if tokenizer is None:
            tokenizer = found_tokenizer
        else:
            tokenizer = SentencePieceTokenizer(tokenizer)
            vocabulary = model.config.text_config.vocab_size
            if tokenizer.vocab_size > vocabulary:
                raise EthoprismError(
                    f"tokenizer has {tokenizer.vocab_size} pieces but the text model only {vocabulary}",
                    tokenizer.path,
                )
        backbone.tokenizer = tokenizer
        return backbone

    def _forward_target(self):
        return self.model.video_model.vision_model

    def _tokens_and_clip_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One vision pass giving both the tokens ``[B, T, h, w, D]`` and the L2-normalised
        video-text embedding ``[B, D]`` of each clip (what text search compares against)."""
        batch, time, _, height, width = x.shape
        hidden = self.forward_fn(pixel_values_videos=x, interpolate_pos_encoding=True).last_hidden_state
        tokens = hidden.reshape(batch, time, height // self.patch, width // self.patch, -1)
        video = self.model.video_model
        for layer in video.auxiliary_layers:
            hidden = layer(hidden)
        pooled = video.head_layernorm(video.head(hidden)[0]).reshape(batch, -1)
        return tokens, torch.nn.functional.normalize(pooled.float(), dim=-1)

    @torch.inference_mode()
    def encode_with_clip_embedding(self, frames) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, clip_embedding = self._tokens_and_clip_embedding(self._prepare(frames))
        return tokens.float(), clip_embedding

    @torch.inference_mode()
    def video_embedding(self, frames) -> torch.Tensor:
        """RGB ``[B, T, H, W, 3]`` in [0, 1] -> L2-normalised ``[B, D]``."""
        x = self._prepare(frames)
        out = self.model.video_model(pixel_values_videos=x, interpolate_pos_encoding=True).pooler_output
        return torch.nn.functional.normalize(out.reshape(out.shape[0], -1).float(), dim=-1)

    @torch.inference_mode()
    def text_embedding(self, token_ids, paddings=None) -> torch.Tensor:
        """Token ids ``[B, L]`` (+ paddings, 1 = pad; none = every token real) -> L2-normalised
        ``[B, D]``. The text tower is causal either way: transformers builds its causal mask only
        when it is given an attention mask, so one is always passed."""
        ids = torch.as_tensor(np.asarray(token_ids), dtype=torch.long, device=self.device)
        paddings = np.zeros(ids.shape, np.int64) if paddings is None else np.asarray(paddings)
        mask = 1 - torch.as_tensor(paddings, dtype=torch.long, device=self.device)
        out = self.model.text_model(input_ids=ids, attention_mask=mask).pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Strings -> ``[B, D]``, canonicalised as the official code does (:func:`canonicalize_text`)
        and tokenised with the model's SentencePiece vocabulary (``tokenizer=`` at load, or the
        hub snapshot's)."""
        if getattr(self, "tokenizer", None) is None:
            raise EthoprismError(
                f"{self.name} has no tokenizer here (weights '{self.weights.model_id}'); pass "
                "--tokenizer PATH (the model's SentencePiece .model file), or load hub weights or a "
                "local snapshot that includes it"
            )
        canonical = [canonicalize_text(t) for t in texts]
        if isinstance(self.tokenizer, SentencePieceTokenizer):
            ids, paddings = self.tokenizer(canonical)
        else:
            encoded = self.tokenizer(
                canonical, padding="max_length", max_length=TEXT_MAX_LEN, truncation=True, return_tensors="np"
            )
            ids, paddings = encoded["input_ids"], 1 - encoded["attention_mask"]
        return self.text_embedding(ids, paddings)


TEXT_MAX_LEN = 64  # the official models' text length


def canonicalize_text(text: str) -> str:
    """As the official VideoPrism code: punctuation becomes spaces, lower case, single spaces, a
    final period (``"A mouse, GROOMING!"`` -> ``"a mouse grooming."``)."""
    text = text.translate(str.maketrans(string.punctuation, " " * len(string.punctuation))).lower()
    return " ".join(text.split()) + "."


class SentencePieceTokenizer:
    """A SentencePiece model file (the official ``sentencepiece.model`` of the 64k vocabulary)
    -> ids ``[B, 64]`` and paddings (1 = pad), no BOS/EOS, padded with the model's pad id."""

    def __init__(self, path):
        import sentencepiece

        self.path = Path(path)
        if not self.path.is_file():
            raise EthoprismError("tokenizer file does not exist", self.path)
        self.model = sentencepiece.SentencePieceProcessor()
        try:
            self.model.LoadFromSerializedProto(self.path.read_bytes())
        except Exception as exc:  # sentencepiece raises RuntimeError/OSError for foreign files
            raise EthoprismError(f"not a SentencePiece model ({exc.__class__.__name__})", self.path) from exc

    @property
    def vocab_size(self) -> int:
        return int(self.model.GetPieceSize())

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        pad = max(int(self.model.pad_id()), 0)
        ids = np.full((len(texts), TEXT_MAX_LEN), pad, np.int64)
        paddings = np.ones((len(texts), TEXT_MAX_LEN), np.int64)
        for row, text in enumerate(texts):
            tokens = self.model.EncodeAsIds(text)[:TEXT_MAX_LEN]
            ids[row, : len(tokens)] = tokens
            paddings[row, : len(tokens)] = 0
        return ids, paddings


def _try_tokenizer(source, revision):
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(source), revision=revision, local_files_only=True)
    except Exception:  # tokenizer files are optional: token ids still work
        return None
