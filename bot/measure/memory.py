"""Resident memory as the benchmarks report it, read from /proc (Linux)."""

from __future__ import annotations

import resource


def _status_mb(field: str, pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb(pid: int | str = "self") -> float:
    """Current resident memory of a process (this one by default), in MB."""
    return _status_mb("VmRSS", pid) or 0.0


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include a parent's)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start this process's peak (VmHWM) afresh from its current memory (Linux: /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
