"""Finding behaviours in long recordings: a FAISS index over stored frame embeddings, queries by
example (segments or clips) and by text, and the segments they return."""

from ethoprism.retrieval.index import FrameIndex, open_index, update_index
from ethoprism.retrieval.query import (
    Segment,
    example_vector,
    parse_segment,
    query_by_example,
    search_segments,
)

__all__ = [
    "FrameIndex",
    "open_index",
    "update_index",
    "Segment",
    "parse_segment",
    "example_vector",
    "search_segments",
    "query_by_example",
]
