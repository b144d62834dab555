"""`up`, `down` and `status` of the embedded mesh, through supervisord's XML-RPC API."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from supervisor.xmlrpc import SupervisorTransport

from mesh.model_loop import (
    MODEL_NAME,
    BootstrapPlan,
    Endpoints,
    ModelLoopError,
    bootstrap,
    champion_version,
)
from mesh.plan import (
    BROKER,
    GUARD,
    MLFLOW,
    Program,
    invalid_service_settings,
    mesh_programs,
    supervisord_config,
)
from mesh.project_commands import apply
from mesh.settings import MeshSettings
from mlops_contracts import topics_to_create
from mlops_projects import ProjectFileError, read_project
from service_kit import ensure_topics
from service_kit.secrets import ensure_secret_file

Say = Callable[[str], None]


class MeshError(RuntimeError):
    """`up` or `down` could not do what was asked; the message says what to do."""


@dataclass(frozen=True)
class ProcessStatus:
    """One line of `status`."""

    name: str
    state: str
    pid: int
    uptime_s: float
    port: int
    ready: bool | None
    rss_mib: float | None


# Supervisor states of a process nobody is (re)starting; STARTING and BACKOFF are in hand.
_DOWN_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})


def _rpc(settings: MeshSettings) -> Any:
    transport = SupervisorTransport(None, None, f"unix://{settings.socket_path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisor_pid(settings: MeshSettings) -> int | None:
    """The pid of this mesh's supervisord if it is running and answering, else None."""
    if not settings.socket_path.exists():
        return None
    try:
        return int(_rpc(settings).supervisor.getPID())
    except (OSError, xmlrpc.client.Fault, http.client.HTTPException):
        return None


def port_in_use(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def is_ready(url: str, timeout: float = 2.0) -> bool:
    """True when a service's /ready answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


class Mesh:
    """The embedded mesh under one supervisord, described by ``settings``."""

    def __init__(self, settings: MeshSettings, say: Say = print, cwd: Path | None = None):
        self.settings = settings
        self.say = say
        self.cwd = (cwd or Path.cwd()).resolve()
        self.programs = mesh_programs(settings)

    # -- up ----------------------------------------------------------------------------
    def up(self) -> None:
        """Start supervisord, the broker, the topics, then each tier of services, waiting
        for every process to be ready before the next tier starts. On a mesh that is
        already (partly) running, start only what is not running."""
        try:
            self._up()
        except (OSError, subprocess.CalledProcessError, xmlrpc.client.Fault) as error:
            raise MeshError(f"{type(error).__name__}: {error}") from error

    def _up(self) -> None:
        pid = supervisor_pid(self.settings)
        if pid is not None:
            stopped = self._not_running()
            if not stopped:
                self.say(
                    f"The mesh is already running (supervisord pid {pid}, "
                    f"{self.settings.home_dir}). `make status` shows it; `make down` stops it."
                )
                return
            self.say(f"The mesh is partly running; starting {', '.join(stopped)}.")
            self._start([p for p in self.programs if p.name in stopped])
            return
        token = ensure_secret_file(self.settings.api_token_path)
        self.settings.api_token_path.parent.chmod(0o700)
        self.programs = mesh_programs(self.settings, api_token=token)
        problems = invalid_service_settings(self.programs)
        if problems:
            raise MeshError("invalid service settings:\n" + "\n".join(problems))
        busy = [p for p in self.programs if port_in_use(p.port)]
        if busy:
            taken = ", ".join(f"{p.port} ({p.name})" for p in busy)
            raise MeshError(
                f"port(s) already in use: {taken}. Another program holds them; stop it or "
                "move the mesh with MLOPS_MESH_BROKER_PORT / MLOPS_MESH_BASE_PORT."
            )
        self._start_supervisord()
        self._start(self.programs)
        self.say(
            f"API token (Authorization: Bearer ...) for the write APIs (ingest): {token}\n"
            f"  kept in {self.settings.api_token_path}; `mlops simulate` reads it from there."
        )
        if self.settings.bootstrap:
            self.ensure_champion()

    # -- models ------------------------------------------------------------------------
    def loop_endpoints(self) -> Endpoints:
        """Where the launcher reaches the model plane."""
        urls = {p.name: p.url or "" for p in self.programs}
        return Endpoints(
            bootstrap_servers=self.settings.bootstrap_servers,
            ingest_url=urls["ingest"],
            feature_url=urls["feature"],
            registry_url=urls["registry"],
            trainer_url=urls["trainer-gpu"],
            mlflow_url=self.settings.mlflow_url,
            api_token=self.settings.api_token_path.read_text().strip(),
        )

    def ensure_champion(self) -> None:
        """Bootstrap a first champion model unless the registry has one."""
        endpoints = self.loop_endpoints()
        try:
            version = champion_version(endpoints)
            if version is not None:
                self.say(f"Champion model: {MODEL_NAME} version {version}.")
                return
            plan = BootstrapPlan(
                customers=self.settings.bootstrap_customers,
                history_days=self.settings.bootstrap_history_days,
                day=self.settings.day,
            )
            asyncio.run(bootstrap(endpoints, plan, self.say, self.settings.bootstrap_state_path))
        except (ModelLoopError, OSError, httpx.HTTPError) as error:
            raise MeshError(
                f"bootstrap failed: {error}\nThe mesh keeps running; `mlops bootstrap` tries "
                "again, `make logs` shows the services' logs."
            ) from error

    def _start(self, programs: list[Program]) -> None:
        started = time.monotonic()
        if any(p.name == BROKER for p in programs):
            self._start_broker()
        for tier in sorted({p.tier for p in programs if p.name != BROKER}):
            self._start_tier([p for p in programs if p.tier == tier and p.name != BROKER])
        self.say(f"Mesh ready in {time.monotonic() - started:.1f} s.")
        self.say(self.endpoints())

    def _not_running(self) -> list[str]:
        states = {
            info["name"]: info["statename"]
            for info in _rpc(self.settings).supervisor.getAllProcessInfo()
        }
        return [p.name for p in self.programs if states.get(p.name, "STOPPED") in _DOWN_STATES]

    def _start_supervisord(self) -> None:
        for folder in (self.settings.log_dir, self.settings.run_dir, self.settings.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        config = self.settings.run_dir / "supervisord.conf"
        config.unlink(missing_ok=True)
        config.touch(mode=0o600)  # it holds the services' environment, the token included
        config.write_text(supervisord_config(self.settings, self.programs, self.cwd))
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            check=True,
            cwd=self.cwd,
        )
        self._wait(lambda: supervisor_pid(self.settings) is not None, 15, "supervisord")
        self.say(f"supervisord running; logs in {self.settings.log_dir}")

    def _start_broker(self) -> None:
        _rpc(self.settings).supervisor.startProcess(BROKER, True)
        # Events only now: what happened to the broker before this start is history.
        with contextlib.suppress(xmlrpc.client.Fault):  # already running
            _rpc(self.settings).supervisor.startProcess(GUARD, True)
        self._wait(lambda: port_in_use(self.settings.broker_port), 15, "the broker")
        created = asyncio.run(ensure_topics(self.settings.bootstrap_servers, topics_to_create()))
        self.say(
            f"broker ready on {self.settings.bootstrap_servers}; {len(created)} topics created"
        )
        self._apply_projects()

    def _apply_projects(self) -> None:
        """Apply the mesh's default projects (churn): each service learns them from the
        projects topic. On the embedded broker, whose topics live in memory, a restarted
        mesh applies them again as version 1."""
        for folder in self.settings.projects:
            path = folder if folder.is_absolute() else self.cwd / folder
            try:
                project = read_project(path)
            except ProjectFileError as error:
                raise MeshError(f"the default project at {path} is not valid:\n{error}") from error
            plan = asyncio.run(apply(project, self.settings.bootstrap_servers))
            if plan.action == "refused":
                raise MeshError(plan.summary(project.name))
            self.say(plan.summary(project.name))

    def _start_tier(self, programs: list[Program]) -> None:
        rpc = _rpc(self.settings)
        for program in programs:
            try:
                rpc.supervisor.startProcess(program.name, False)
            except xmlrpc.client.Fault as fault:
                if "ALREADY_STARTED" not in fault.faultString:
                    raise
        pending = {p.name: p for p in programs}
        deadline = time.monotonic() + self.settings.ready_timeout_s
        tier_started = time.monotonic()
        while pending:
            for name, program in list(pending.items()):
                if program.ready_url and is_ready(program.ready_url, timeout=1.0):
                    del pending[name]
                    self.say(
                        f"  {name:<18} ready   {program.url}"
                        f"   ({time.monotonic() - tier_started:.1f} s)"
                    )
            failed = [
                info["name"]
                for info in rpc.supervisor.getAllProcessInfo()
                if info["name"] in pending and info["statename"] == "FATAL"
            ]
            if failed or time.monotonic() > deadline:
                culprits = failed or sorted(pending)
                logs = "\n".join(
                    f"--- {name} ({self.settings.log_dir / (name + '.log')}) ---\n"
                    + _tail(self.settings.log_dir / f"{name}.log")
                    for name in culprits
                )
                raise MeshError(
                    f"not ready: {', '.join(culprits)}"
                    + (
                        " (gave up restarting)"
                        if failed
                        else f" after {self.settings.ready_timeout_s:.0f} s"
                    )
                    + f"\n{logs}\nThe rest keeps running: `make status`, `make down`."
                )
            if pending:
                time.sleep(0.25)

    def restart_after_broker_loss(self) -> None:
        """Stop every service, start a fresh broker and its topics, then the services in
        order (used by the broker guard; see mesh.broker_guard). MLflow keeps running: it
        holds no broker state, and its restart would only slow the services' starts."""
        self._stop([p.name for p in self.programs if p.name not in (BROKER, MLFLOW)])
        self._start(self.programs)

    def _stop(self, names: list[str]) -> None:
        rpc = _rpc(self.settings)
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
                rpc.supervisor.stopProcess(name, False)
        self._wait(
            lambda: all(
                info["statename"] in _DOWN_STATES
                for info in rpc.supervisor.getAllProcessInfo()
                if info["name"] in names
            ),
            self.settings.stop_timeout_s + 10,
            f"{', '.join(names)} to stop",
        )

    # -- down --------------------------------------------------------------------------
    def down(self) -> None:
        """SIGTERM every service (reverse start order, each drains and commits), then the
        broker, then supervisord; returns once no process of the mesh is left."""
        pid = supervisor_pid(self.settings)
        if pid is None:
            self.say("The mesh is not running.")
            return
        rpc = _rpc(self.settings)
        pids = {info["name"]: info["pid"] for info in rpc.supervisor.getAllProcessInfo()}
        started = time.monotonic()
        # The guard first, so stopping the broker is not taken for a crash.
        self._stop([GUARD])
        for tier in sorted({p.tier for p in self.programs}, reverse=True):
            self._stop([p.name for p in self.programs if p.tier == tier])
        rpc.supervisor.shutdown()
        self._wait(lambda: not process_alive(pid), 30, "supervisord to exit")
        leftovers = [name for name, child in pids.items() if child and process_alive(child)]
        if leftovers:
            raise MeshError(f"still running after down: {', '.join(leftovers)}")
        self.say(f"Mesh stopped in {time.monotonic() - started:.1f} s; no process left.")

    # -- status ------------------------------------------------------------------------
    def status(self) -> list[ProcessStatus]:
        """Each process's supervisor state, readiness and memory."""
        if supervisor_pid(self.settings) is None:
            return []
        now = time.time()
        by_name = {p.name: p for p in self.programs}
        lines = []
        for info in _rpc(self.settings).supervisor.getAllProcessInfo():
            program = by_name.get(info["name"])
            if program is None:
                continue
            running = info["statename"] in {"RUNNING", "STARTING"}
            ready: bool | None = None
            if running:
                ready = (
                    is_ready(program.ready_url) if program.ready_url else port_in_use(program.port)
                )
            lines.append(
                ProcessStatus(
                    name=info["name"],
                    state=info["statename"],
                    pid=info["pid"],
                    uptime_s=now - info["start"] if running else 0.0,
                    port=program.port,
                    ready=ready,
                    rss_mib=rss_mib(info["pid"]) if running else None,
                )
            )
        order = [p.name for p in self.programs]
        return sorted(lines, key=lambda line: order.index(line.name))

    def endpoints(self) -> str:
        """Where each HTTP endpoint and the broker listen."""
        rows = [f"  {'broker (Kafka protocol)':<24} {self.settings.bootstrap_servers}"]
        rows += [
            f"  {'MLflow (UI, registry)':<24} {p.url}"
            if p.name == MLFLOW
            else f"  {p.name:<24} {p.url}   (docs: /docs)"
            for p in self.programs
            if p.url
        ]
        return "Endpoints:\n" + "\n".join(rows)

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise MeshError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.1)


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0) but is gone for our purpose.
    with contextlib.suppress(OSError):
        if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
    return True


def format_status(lines: Iterable[ProcessStatus]) -> str:
    """A table of `status` lines with the whole mesh's RSS at the bottom."""
    rows = list(lines)
    if not rows:
        return "The mesh is not running. `make up` starts it."
    header = (
        f"{'process':<18} {'state':<9} {'pid':>7} {'uptime':>8} {'port':>6} {'ready':<6} "
        f"{'RSS MiB':>8}"
    )
    body = [
        f"{r.name:<18} {r.state:<9} {r.pid:>7} {r.uptime_s:>7.0f}s {r.port:>6} "
        f"{'yes' if r.ready else ('no' if r.ready is False else '-'):<6} "
        f"{(f'{r.rss_mib:.0f}' if r.rss_mib is not None else '-'):>8}"
        for r in rows
    ]
    total = sum(r.rss_mib or 0 for r in rows)
    return "\n".join([header, *body, f"{'total RSS':<53} {total:>8.0f}"])
