"""Stage 1 of the flow: reading video files (metadata, sequential and random-access decoding)."""

from ethoprism.video.reader import VideoMetadata, VideoReader, file_sha256
from ethoprism.video.writer import VideoWriter

__all__ = ["VideoMetadata", "VideoReader", "VideoWriter", "file_sha256"]
