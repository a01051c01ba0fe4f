"""Head files are committed atomically: kill -9 at each step of a save leaves the previous head
(or, after the commit, the new one) loadable, never a JSON paired with another save's arrays."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ethoprism.errors import EthoprismError
from ethoprism.heads.io import load_head

SAVE = """
import os, signal, sys
import numpy as np
from ethoprism.heads.decision import ThresholdedHead
from ethoprism.heads.io import save_head
from ethoprism.heads.linear import LinearProbe
import ethoprism.io.model_files as model_files

threshold, kill_at, path = float(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 8)).astype(np.float32)
Y = np.zeros((60, 2), np.int8)
Y[:20, 0] = 1
Y[20:40, 1] = 1
model = ThresholdedHead(LinearProbe(), thresholds=[threshold, threshold])
model.fit(X, Y, groups=np.arange(60) // 20)
if kill_at != "none":
    def die(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    model_files.SAVE_FAULT_HOOK = die
save_head(model, path, ["a", "b"], {"backbone": "x", "clip_spec": {}})
"""


def save_in_subprocess(threshold: float, kill_at: str, path) -> int:
    return subprocess.run([sys.executable, "-c", SAVE, str(threshold), kill_at, str(path)]).returncode


@pytest.mark.parametrize(
    "kill_at, survivor",
    [("arrays written", 0.3), ("arrays committed", 0.3), ("json written", 0.3), ("json committed", 0.7)],
)
def test_kill_9_at_each_step_of_a_head_save(tmp_path, kill_at, survivor):
    head = tmp_path / "mouse.day1"
    assert save_in_subprocess(0.3, "none", head) == 0
    assert save_in_subprocess(0.7, kill_at, head) == -9  # SIGKILL landed at that step
    model, meta = load_head(head)
    np.testing.assert_allclose(model.thresholds_, [survivor, survivor])
    assert meta["weights_file"].startswith("mouse.day1.")
    assert not list(tmp_path.glob("*.tmp-*")) or kill_at != "json committed"


def test_arrays_that_do_not_match_their_json_are_refused(tmp_path):
    assert save_in_subprocess(0.3, "none", tmp_path / "h") == 0
    meta = json.loads((tmp_path / "h.json").read_text())
    arrays = tmp_path / meta["weights_file"]
    data = bytearray(arrays.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the arrays
    arrays.write_bytes(bytes(data))
    with pytest.raises(EthoprismError, match="do not match its JSON"):
        load_head(tmp_path / "h")


def test_resaving_removes_the_previous_arrays(tmp_path):
    assert save_in_subprocess(0.3, "none", tmp_path / "h") == 0
    assert save_in_subprocess(0.7, "none", tmp_path / "h") == 0
    assert len(list(tmp_path.glob("h.*.safetensors"))) == 1
