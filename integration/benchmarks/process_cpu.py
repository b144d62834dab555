"""CPU time of the processes in a benchmark run, read from /proc (Linux): the mesh's own
processes (found by the MLOPS_MESH_HOME in their environment, the broker included), the
load generator (this process) and any other process the benchmark started (the echo).

On a small machine every process of the mesh shares the cores with the load generator, so
a path's ceiling is the cores' CPU-seconds per second divided by what all of them spend per
answer: ``CpuMeter`` tells where that time goes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_name(pid: int) -> str:
    """The Python module process ``pid`` runs (``-m NAME``), else its program's name."""
    args = [part.decode(errors="replace") for part in _proc(pid, "cmdline").split(b"\0")]
    if "-m" in args[:-1]:
        return args[args.index("-m") + 1]
    program = Path(args[0]).name
    return "broker (tansu)" if program.startswith("tansu") else program


def mesh_processes(home: Path) -> dict[int, str]:
    """The processes of the mesh living in ``home``, by pid: their names."""
    marker = f"MLOPS_MESH_HOME={home}".encode()
    found = {}
    for pid in _pids():
        try:
            if marker in _proc(pid, "environ").split(b"\0"):
                found[pid] = process_name(pid)
        except OSError:  # exited, or not ours to read
            continue
    return found


def with_descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a server that runs its workers as children)."""
    parents = {}
    for candidate in _pids():
        try:
            parents[candidate] = int(_stat_fields(candidate)[1])  # ppid: field 4 of proc(5)
        except OSError:
            continue
    found = [pid]
    for candidate in found:  # grows while it is read: breadth first
        found += [child for child, parent in parents.items() if parent == candidate]
    return found


class CpuMeter:
    """CPU seconds (user + system, all threads) that the named processes spend between
    ``start()`` and ``stop()``; processes of one name are added up."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self._started: dict[int, float] = {}

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for pid, seconds in self._now().items():
            if pid in self._started:
                name = self.names[pid]
                spent[name] = spent.get(name, 0.0) + seconds - self._started[pid]
        return spent

    def count(self, name: str) -> int:
        return sum(1 for held in self.names.values() if held == name)

    def _now(self) -> dict[int, float]:
        seconds = {}
        for pid in self.names:
            try:
                seconds[pid] = cpu_seconds(pid)
            except OSError:
                continue  # exited
        return seconds


def cpu_rows(measured: Sequence[tuple[dict[str, float], int]], meter: CpuMeter) -> list[list[str]]:
    """Table rows for ``measured`` (one column each: CPU seconds by process name, and the
    answers they bought): us per answer for each process (the idle ones too, above 50 ms),
    then all of them, then the answers/s this machine's cores allow at that cost."""
    names = sorted({name for seconds, _ in measured for name in seconds})
    names.sort(key=lambda name: -measured[0][0].get(name, 0.0))

    def per_answer(seconds: float, answers: int) -> str:
        return f"{seconds / answers * 1e6:,.0f}" if answers else "-"

    rows = [
        [
            f"{name} x{meter.count(name)}" if meter.count(name) > 1 else name,
            *(per_answer(seconds.get(name, 0.0), answers) for seconds, answers in measured),
        ]
        for name in names
        if sum(seconds.get(name, 0.0) for seconds, _ in measured) >= 0.05
    ]
    totals = [(sum(seconds.values()), answers) for seconds, answers in measured]
    rows.append(["all", *(per_answer(total, answers) for total, answers in totals)])
    cores = os.cpu_count() or 1
    ceilings = (f"{cores * answers / total:,.0f}/s" if total else "-" for total, answers in totals)
    rows.append([f"{cores} cores / all", *ceilings])
    return rows


def cpu_seconds(pid: int) -> float:
    """The CPU seconds (user + system, all threads) process ``pid`` has spent so far."""
    fields = _stat_fields(pid)  # utime and stime: fields 14 and 15 of proc(5)
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _stat_fields(pid: int) -> list[bytes]:
    """/proc/PID/stat after the (name), which may hold spaces: field 3 of proc(5) first."""
    return _proc(pid, "stat").rsplit(b")", 1)[1].split()


def _proc(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()
