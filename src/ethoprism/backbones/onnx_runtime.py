"""The convolutional backbones on ONNX Runtime: the same network, exported once per weights and
run by an inference engine made for CPUs (fused convolutions, no Python between layers).

The PyTorch model stays the reference: the export is checked against it on random images at
every input size it is used at (max |difference| <= :data:`TOLERANCE` relative to the output's
scale), and refused — falling back to PyTorch with a note — where it does not agree. Exports are
cached per weights hash under ``$ETHOPRISM_CACHE`` (default ``~/.cache/ethoprism/onnx``),
written to a temporary and renamed, so parallel runs never read half a file.

The runtime is recorded in the provenance (``weights.extra["runtime"]``) but is not part of the
cache key: the two agree to the tolerance, so a store may hold entries of both.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ethoprism.errors import EthoprismError

TOLERANCE = 1e-4
RUNTIMES = ("auto", "torch", "onnx")


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    root = os.environ.get("ETHOPRISM_CACHE") or Path.home() / ".cache" / "ethoprism"
    return Path(root) / "onnx"


def _export(module: torch.nn.Module, path: Path, height: int, width: int) -> None:
    """One export per input size: the network's "same" padding is computed from the size in
    Python, which the tracer records as constants. Dynamic batch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    example = torch.rand(2, 3, height, width)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes about those constants
            torch.onnx.export(
                module,
                (example,),
                str(temporary),
                input_names=["images"],
                output_names=["features"],
                dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    module.eval()  # the exporter may leave the module as it found it, or not


class _Bound(torch.nn.Module):
    """A model's method (``features``) as a module of its own, weights included, for the export."""

    def __init__(self, model: torch.nn.Module, method):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, images):
        return self.method(images)


class OnnxFeatures:
    """A drop-in for ``backbone.forward_fn``: ``[N, 3, H, W]`` float32 -> ``[N, D, h, w]``; one
    export and session per input size, each checked against PyTorch before its first use."""

    def __init__(self, module: torch.nn.Module, key: str, threads: int | None = None):
        import onnxruntime

        self.module, self.key = module, key
        self.threads = threads or torch.get_num_threads()
        self.version = onnxruntime.__version__
        self.sessions: dict[tuple[int, int], object] = {}
        self.checked: dict[tuple[int, int], float] = {}

    def path(self, height: int, width: int) -> Path:
        return cache_dir() / f"{self.key}-{width}x{height}.onnx"

    def _session(self, height: int, width: int):
        import onnxruntime

        if (height, width) in self.sessions:
            return self.sessions[(height, width)]
        path = self.path(height, width)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        for attempt in range(2):  # a damaged cache file is made again, once
            if not path.exists():
                _export(self.module, path, height, width)
            try:
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                break
            except Exception as exc:
                path.unlink(missing_ok=True)
                if attempt:
                    raise EthoprismError(
                        f"ONNX Runtime cannot load the exported model ({exc})", path
                    ) from exc
        self.sessions[(height, width)] = session
        return session

    def parity(self, height: int, width: int) -> float:
        """Max |ONNX - PyTorch| / max |PyTorch| on two random images of this size (once per size)."""
        if (height, width) not in self.checked:
            images = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                reference = self.module(images.contiguous(memory_format=torch.channels_last)).float()
            ours = self._run(images)
            if ours.shape != reference.shape:
                difference = float("inf")
            else:
                difference = float((ours - reference).abs().max()) / max(float(reference.abs().max()), 1e-6)
            self.checked[(height, width)] = difference
            _record(self.path(height, width), difference)
        return self.checked[(height, width)]

    def _run(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().to(torch.float32).cpu().numpy())
        (features,) = self._session(array.shape[2], array.shape[3]).run(None, {"images": array})
        return torch.from_numpy(features)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        difference = self.parity(images.shape[2], images.shape[3])
        if difference > TOLERANCE:
            raise EthoprismError(
                f"the ONNX export differs from PyTorch by {difference:.2g} (> {TOLERANCE}) at "
                f"{images.shape[3]}x{images.shape[2]} px: run with --runtime torch",
                self.path(images.shape[2], images.shape[3]),
            )
        return self._run(images).to(images.dtype)


def _record(path: Path, difference: float) -> None:
    """What was checked, beside the export (for the curious and for bug reports)."""
    report = path.with_suffix(".parity.json")
    data = {"max_relative_difference": difference, "tolerance": TOLERANCE}
    try:
        temporary = report.with_name(f"{report.name}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps(data, indent=1))
        os.replace(temporary, report)
    except OSError:
        pass  # a read-only cache still runs; only the record is lost


def use_onnx(backbone, runtime: str = "auto"):
    """Put ``backbone`` on ONNX Runtime where it can and ``runtime`` allows; -> the runtime used.
    ``auto``: ONNX Runtime for the convolutional backbones on the CPU in float32 when installed."""
    if runtime not in RUNTIMES:
        raise EthoprismError(f"--runtime must be one of {', '.join(RUNTIMES)}, not '{runtime}'")
    supported = getattr(backbone, "onnx_ready", False) and backbone.device.type == "cpu"
    supported = supported and backbone.dtype == torch.float32 and not backbone.compiled
    if runtime == "torch" or (runtime == "auto" and not (supported and available())):
        backbone.weights.extra["runtime"] = f"torch {torch.__version__}"
        return "torch"
    if not supported:
        raise EthoprismError(
            f"--runtime onnx runs the convolutional backbones (effnet-lite0*) on the CPU in fp32, not "
            f"{backbone.name} on {backbone.device.type} in {backbone.dtype_name}"
        )
    if not available():
        raise EthoprismError("--runtime onnx needs ONNX Runtime: pip install onnxruntime")
    weights = backbone.weights
    identity = weights.sha256 or json.dumps(weights.extra.get("seed", 0))
    key = f"{backbone.name.split('-motion')[0]}-{str(identity)[:16]}-torch{torch.__version__.split('+')[0]}"
    # eval() on the wrapper: a new module trains by default, and its batch norms would follow
    backbone.forward_fn = OnnxFeatures(_Bound(backbone.model, backbone._forward_target()).eval(), key)
    weights.extra["runtime"] = f"onnxruntime {backbone.forward_fn.version}"
    return "onnx"
