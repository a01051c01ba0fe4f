"""Who owns a claim or a temporary in a store that several machines share.

On one machine a process id says whether the owner lives. On a shared file system (NFS, Lustre:
the documented cluster set-up) it does not: another host's pid means nothing here, and a pid can
be reused by an unrelated process. So a claim is a **lease**: it names its owner by host (host
name + boot id), pid and the process's start time, and its owner renews it (the file's mtime) every
:data:`HEARTBEAT_S` while it works. A lease is alive when

* its owner is on this host and this boot: that pid runs and started when the lease says (a
  reused pid is another process);
* its owner is elsewhere: it was renewed within :data:`LEASE_S`.

Only the owner, or anyone once the lease has expired, may clean it up. Temporaries carry their
owner in their name (``*.tmp-<host id>-<pid>``) and follow the same rule, their mtime standing for
the heartbeat (a temporary is written in one go, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HOST_ID_ENV = "ETHOPRISM_HOST_ID"  # tests play two hosts on one machine with it
LEASE_S = float(os.environ.get("ETHOPRISM_LEASE_S", "120"))
HEARTBEAT_S = max(0.05, LEASE_S / 6)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def host_id() -> str:
    """This machine in this boot: a host name alone survives a reboot, which ends every process."""
    return os.environ.get(HOST_ID_ENV) or f"{socket.gethostname()}/{_boot_id()}"


def short_host_id() -> str:
    return hashlib.sha256(host_id().encode()).hexdigest()[:10]


def process_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields follow the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str | None

    @classmethod
    def me(cls) -> Owner:
        return cls(host_id(), os.getpid(), process_start(os.getpid()))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """A claim's owner; a claim of an older version holds a bare pid (this host)."""
        text = text.strip()
        if text.isdigit():
            return cls(host_id(), int(text), None)
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), data.get("start"))
        except (ValueError, KeyError, TypeError):
            return None


def owner_alive(owner: Owner | None, renewed_at: float) -> bool:
    """Whether a lease held by ``owner``, last renewed at ``renewed_at`` (epoch seconds), stands."""
    if owner is None:  # unreadable: trust only a fresh renewal
        return time.time() - renewed_at < LEASE_S
    if owner.host != host_id():
        return time.time() - renewed_at < LEASE_S
    if not _pid_runs(owner.pid):
        return False
    return owner.start is None or owner.start == process_start(owner.pid)


def temporary_name(path: Path) -> Path:
    """``path``'s temporary, named by its owner (this host and process, and thread: two threads of
    one process never share one)."""
    thread = "" if threading.current_thread() is threading.main_thread() else f"-t{threading.get_ident()}"
    return path.with_name(f"{path.name}.tmp-{short_host_id()}-{os.getpid()}{thread}")


def temporary_is_debris(path: Path) -> bool:
    """A temporary nobody is writing: its owner on this host is gone, or it is older than a lease."""
    tag = path.name.rsplit(".tmp-", 1)[-1].split("-")
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return False
    if len(tag) >= 2 and tag[0] == short_host_id() and tag[1].isdigit():
        return not _pid_runs(int(tag[1]))
    if len(tag) == 1 and tag[0].isdigit():  # an older version's *.tmp-<pid>: written on this host
        return not _pid_runs(int(tag[0])) or time.time() - mtime > LEASE_S
    return time.time() - mtime > LEASE_S


class Heartbeat:
    """Renews the leases this process holds (one daemon thread per process, started on demand)."""

    def __init__(self):
        self.held: set[Path] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def hold(self, path: Path) -> None:
        with self.lock:
            self.held.add(path)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="ethoprism-leases", daemon=True)
                self.thread.start()

    def drop(self, path: Path) -> None:
        with self.lock:
            self.held.discard(path)

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            self.renew()

    def renew(self) -> None:
        """One beat: touch every held lease (a lease gone meanwhile is dropped)."""
        with self.lock:
            held = list(self.held)
        for path in held:
            try:
                os.utime(path)
            except OSError:  # released or taken over meanwhile
                self.drop(path)


HEARTBEAT = Heartbeat()
