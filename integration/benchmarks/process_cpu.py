"""CPU time of the processes in a benchmark run, read from /proc (Linux): the mesh's own
processes (found by the MLOPS_MESH_HOME in their environment, the broker included), the
load generator (this process) and any other process the benchmark started (the echo).

On 2 cores every process of the mesh shares the machine with the load generator, so a
path's ceiling is 2 CPU-seconds divided by what all of them spend per answer:
``CpuMeter`` tells where that time goes."""

from __future__ import annotations

import os
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
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if marker in _proc(int(entry), "environ").split(b"\0"):
                found[int(entry)] = process_name(int(entry))
        except OSError:  # exited, or not ours to read
            continue
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


def cpu_seconds(pid: int) -> float:
    """The CPU seconds (user + system, all threads) process ``pid`` has spent so far."""
    # utime and stime: fields 14 and 15 of proc(5), 11 and 12 after the (name).
    fields = _proc(pid, "stat").rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _proc(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()
