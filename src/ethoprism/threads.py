"""How many threads the compute pools get: the cores this process may use, not the machine's.

torch, MKL/OpenBLAS (numpy, scikit-learn) and OpenMP size their pools from the machine's core
count; in a container or a SLURM job limited by a cgroup CPU quota that oversubscribes the cores
the job really has, and spinning OpenMP threads then wait for each other (docs/benchmarks.md,
*Threads*). :func:`usable_cores` reads the process's CPU affinity and the cgroup quota (v2
``cpu.max``, v1 ``cpu.cfs_quota_us``); :func:`configure` sizes every pool from it, or from
``--threads``, and makes OpenMP threads sleep rather than spin while they wait, before torch is
imported (the environment is what OpenMP reads at start).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup quota allows (e.g. 2.5), None when unlimited or unknown."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cores(root: Path = Path("/sys/fs/cgroup")) -> tuple[int, str]:
    """-> (cores, how that was found): the CPUs of the affinity mask, lowered to the cgroup quota."""
    try:
        affinity = len(os.sched_getaffinity(0))
        how = f"{affinity} in this process's CPU affinity"
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
        how = f"{affinity} CPUs"
    quota = cgroup_quota(root)
    if quota is not None and math.ceil(quota) < affinity:
        return max(1, math.ceil(quota)), f"{how}, a cgroup quota of {quota:g} CPUs"
    return affinity, how


def configure(threads: int | None = None) -> str:
    """Size the pools (before torch loads; afterwards torch's is set directly) -> one line saying
    what was used."""
    cores, how = usable_cores()
    chosen = threads or cores
    for variable in POOL_VARIABLES:
        os.environ[variable] = str(chosen)
    # OpenMP threads that spin while they wait for each other are what a loaded machine cannot
    # afford: an MLP fit took 118 s instead of 17 s with two busy processes beside it, 32 s with
    # passive waiting, which costs nothing measurable when idle (benchmarks/threads.py)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import sys

    if "torch" in sys.modules:  # imported already: OpenMP has read the environment
        sys.modules["torch"].set_num_threads(chosen)
    source = "--threads" if threads else how
    return f"threads: {chosen} ({source}; OpenMP wait policy {os.environ['OMP_WAIT_POLICY'].lower()})"
