"""Claims and temporaries in a store shared by several hosts: leases, not local pids."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

from ethoprism import leases
from ethoprism.clips import ClipSpec
from ethoprism.provenance import Provenance, VideoInfo, WeightsInfo
from ethoprism.store import EmbeddingStore

CLAIM_ON_ANOTHER_HOST = """
import sys
from ethoprism.provenance import Provenance
from ethoprism.store import EmbeddingStore
import json
store, record = EmbeddingStore(sys.argv[1]), json.loads(sys.argv[2])
partial = store.partial(Provenance.from_dict(record), [(0, 1), (1, 2)], 1)
assert partial.claim(0)
(partial.folder / ("chunk_000001.h5.tmp-" + sys.argv[3])).write_bytes(b"half a chunk")
print("claimed", flush=True)
"""


def _provenance() -> Provenance:
    video = VideoInfo("v.mp4", "ab" * 32, 8, 30.0, 32, 32)
    return Provenance(
        "effnet-lite0", WeightsInfo("package", "x"), "fp32", ClipSpec(frames=4, overlap=0), video
    )


def _age(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old))


def _other_host(tmp_path, partial):
    """A process that plays another host: it claims chunk 0, leaves a temporary, and exits (its
    pid means nothing here)."""
    env = {**os.environ, leases.HOST_ID_ENV: "node-17/boot-1"}
    tag = "0123456789-4242"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            CLAIM_ON_ANOTHER_HOST,
            str(tmp_path / "store"),
            json.dumps(_provenance().to_dict()),
            tag,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.strip() == "claimed", run.stderr
    return partial.folder / "chunk_000000.claim", partial.folder / f"chunk_000001.h5.tmp-{tag}"


def test_another_hosts_claim_stands_until_its_lease_expires(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    partial = store.partial(_provenance(), [(0, 1), (1, 2)], 1)
    claim, temporary = _other_host(tmp_path, partial)
    assert json.loads(claim.read_text())["host"] == "node-17/boot-1"
    # its pid is dead here, but that says nothing of a process on another machine
    assert not partial.claim(0) and partial.claim_alive(0)
    assert store.remove_debris() == [] and temporary.exists()
    partial.release(0)  # never another owner's claim
    assert claim.exists()
    _age(claim, leases.LEASE_S + 5)
    _age(temporary, leases.LEASE_S + 5)
    assert not partial.claim_alive(0)
    assert partial.claim(0)  # expired: taken over
    assert json.loads(claim.read_text())["pid"] == os.getpid()
    assert store.remove_debris() == [temporary]
    partial.release(0)
    assert not claim.exists()


def test_a_reused_pid_is_not_the_claims_owner(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    partial = store.partial(_provenance(), [(0, 1)], 1)
    claim = partial.folder / "chunk_000000.claim"
    parent = os.getppid()  # a live process on this host
    claim.write_text(json.dumps({"host": leases.host_id(), "pid": parent, "start": "1"}))
    assert leases.process_start(parent) != "1"
    assert partial.claim(0)  # the pid runs, but it is another process than the claim's
    partial.release(0)
    claim.write_text(
        json.dumps({"host": leases.host_id(), "pid": parent, "start": leases.process_start(parent)})
    )
    assert not partial.claim(0)  # that very process: its claim stands


def test_the_heartbeat_renews_held_leases(tmp_path):
    """One beat renews what is held, not what was dropped (no sleeping on the clock)."""
    held, dropped, gone = tmp_path / "a.claim", tmp_path / "b.claim", tmp_path / "c.claim"
    for path in (held, dropped, gone):
        path.write_text("x")
        _age(path, 1000)
    heartbeat = leases.Heartbeat()
    heartbeat.held.update({held, dropped, gone})
    heartbeat.drop(dropped)
    gone.unlink()
    heartbeat.renew()
    assert time.time() - held.stat().st_mtime < 60
    assert time.time() - dropped.stat().st_mtime > 900
    assert heartbeat.held == {held}  # a lease gone meanwhile is let go


def test_the_driver_runs_a_chunk_skipped_for_another_hosts_lease_once_it_ends(tmp_path):
    """A Ray worker skips a chunk leased elsewhere; the driver never counts it as done: it waits,
    then runs it, before finish."""
    from ethoprism.workflows.extract import run_until_committed

    store = EmbeddingStore(tmp_path / "store")
    partial = store.partial(_provenance(), [(0, 1), (1, 2)], 1)
    claim, _ = _other_host(tmp_path, partial)  # chunk 0 leased by a live owner elsewhere
    ran = []

    def run_tasks(tasks):
        for *_, index in tasks:
            assert partial.claim(index)
            partial.commit(index, {"frames": np.array([index]), "embeddings": np.zeros((1, 2), np.float32)})
            ran.append(index)

    ager = threading.Timer(0.5, lambda: _age(claim, leases.LEASE_S + 5))
    ager.start()
    run_until_committed([("v.mp4", _provenance(), partial)], run_tasks, wait_s=0.1)
    ager.join()
    assert ran == [1, 0] and partial.committed() == {0, 1}
