"""The benchmarks' per-process CPU accounting, against real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.process_cpu import (
    CpuMeter,
    cpu_rows,
    mesh_processes,
    process_name,
    with_descendants,
)

BURN_ON_INPUT = """
import sys, time
sys.stdin.readline()
started = time.process_time()
while time.process_time() - started < 0.5:
    pass
print("burnt", flush=True)
time.sleep(60)
"""


@contextmanager
def child(args: list[str], home: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, "MLOPS_MESH_HOME": str(home)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_meter_counts_what_a_mesh_process_burns_between_start_and_stop(
    tmp_path: Path,
) -> None:
    home = tmp_path / "mesh"
    with child(["-c", BURN_ON_INPUT], home) as burner:
        found = mesh_processes(home)
        assert found == {burner.pid: Path(sys.executable).name}
        assert mesh_processes(tmp_path / "another-mesh") == {}
        meter = CpuMeter(found | {os.getpid(): "this test"})
        meter.start()
        assert burner.stdin is not None
        assert burner.stdout is not None
        burner.stdin.write("go\n")
        burner.stdin.flush()
        assert burner.stdout.readline() == "burnt\n"
        spent = meter.stop()
    burnt = spent[Path(sys.executable).name]
    assert 0.45 <= burnt < 1.5, spent
    assert spent["this test"] < burnt


def test_a_python_module_is_named_by_its_module_and_processes_of_one_name_add_up(
    tmp_path: Path,
) -> None:
    sleeper = ["-m", "timeit", "-n", "1", "import time; time.sleep(60)"]
    with child(sleeper, tmp_path) as one, child(sleeper, tmp_path):
        assert process_name(one.pid) == "timeit"
        meter = CpuMeter(mesh_processes(tmp_path))
        assert meter.count("timeit") == 2
        meter.start()
        assert set(meter.stop()) == {"timeit"}


def test_a_server_is_found_with_the_workers_it_started(tmp_path: Path) -> None:
    starts_a_worker = (
        "import subprocess, sys, time; "
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(worker.pid, flush=True); time.sleep(60)"
    )
    with child(["-c", starts_a_worker], tmp_path) as server:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        try:
            assert sorted(with_descendants(server.pid)) == sorted([server.pid, worker])
            assert with_descendants(worker) == [worker]
        finally:
            os.kill(worker, 9)


def test_the_rows_give_each_process_per_answer_then_the_total_and_the_ceiling() -> None:
    meter = CpuMeter({1: "predictor", 2: "predictor", 3: "broker", 4: "idle"})
    measured = [
        ({"predictor": 0.5, "broker": 1.5, "idle": 0.01}, 1000),
        ({"broker": 0.2, "idle": 0.0}, 0),
    ]
    cores = os.cpu_count() or 1
    assert cpu_rows(measured, meter) == [
        ["broker", "1,500", "-"],
        ["predictor x2", "500", "-"],
        ["all", "2,010", "-"],
        [f"{cores} cores / all", f"{cores * 1000 / 2.01:,.0f}/s", "0/s"],
    ]
