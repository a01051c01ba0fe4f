"""Stage 5: light heads on stored embeddings (scikit-learn conventions)."""

from ethoprism.heads.decision import ThresholdedHead, decide, tune_thresholds
from ethoprism.heads.io import HEADS, check_embeddings_match, load_head, make_head, save_head
from ethoprism.heads.linear import LinearProbe
from ethoprism.heads.postprocess import remove_short_bouts, smooth_probabilities
from ethoprism.heads.torch_heads import AttentiveProbe, AttentiveTokensHead, MLPHead, TemporalHead

__all__ = [
    "LinearProbe",
    "MLPHead",
    "AttentiveProbe",
    "TemporalHead",
    "AttentiveTokensHead",
    "HEADS",
    "make_head",
    "save_head",
    "load_head",
    "check_embeddings_match",
    "ThresholdedHead",
    "decide",
    "tune_thresholds",
    "remove_short_bouts",
    "smooth_probabilities",
]
