"""The benchmarks' per-process CPU accounting, against real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.process_cpu import CpuMeter, mesh_processes, process_name

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
