"""CPU and memory of the run's processes, from /proc: what the runner samples around
each phase and the floor reads around its operations."""

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """CPU and memory of each watched process (with its descendants), and of the machine."""

    at: float
    cpu_s: dict[str, float]
    rss_kb: dict[str, int]
    hwm_kb: dict[str, int]
    machine_busy: int
    machine_total: int


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Processes:
    """Every process started with start_new_session=True leads its own session, so a
    session id names a server or service with all its children."""

    def __init__(self, leaders: Mapping[str, int]) -> None:
        self._names = {pid: name for name, pid in leaders.items()}

    def snapshot(self) -> Snapshot:
        ticks = dict.fromkeys(self._names.values(), 0)
        members: dict[str, list[int]] = {name: [] for name in self._names.values()}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
            # The command name may hold spaces and parentheses: split after its ")".
            fields = stat[stat.rindex(")") + 2 :].split()
            name = self._names.get(int(fields[3]))  # session id
            if name is None:
                continue
            # utime stime cutime cstime: reaped children count with their parent.
            ticks[name] += sum(int(v) for v in fields[11:15])
            members[name].append(int(entry.name))
        busy, total = _machine_ticks()
        return Snapshot(
            at=time.time(),
            cpu_s={name: t / CLOCK_TICKS for name, t in ticks.items()},
            rss_kb={n: sum(_status_kb(p, "VmRSS") for p in pids) for n, pids in members.items()},
            hwm_kb={n: sum(_status_kb(p, "VmHWM") for p in pids) for n, pids in members.items()},
            machine_busy=busy,
            machine_total=total,
        )


def usage(start: Snapshot, end: Snapshot) -> dict[str, Any]:
    """Process figures over [start, end]: CPU seconds, machine utilisation, RSS."""
    cpu_s = {name: end.cpu_s[name] - start.cpu_s[name] for name in end.cpu_s}
    busy_s = (end.machine_busy - start.machine_busy) / CLOCK_TICKS
    return {
        "cpu_s": cpu_s,
        "machine_cpu_util": (end.machine_busy - start.machine_busy)
        / max(1, end.machine_total - start.machine_total),
        # Whatever else kept the cores busy meanwhile (another benchmark, a build, the
        # hypervisor's steal): figures taken beside it are noisy.
        "other_cpu_cores": max(0.0, busy_s - sum(cpu_s.values())) / max(1e-9, end.at - start.at),
        # The sum of each member's own peak: exact for the single-process services.
        "peak_rss_mb": {name: kb / 1024 for name, kb in end.hwm_kb.items()},
        "end_rss_mb": {name: kb / 1024 for name, kb in end.rss_kb.items()},
    }
