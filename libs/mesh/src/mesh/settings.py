"""Where the embedded mesh listens and keeps its files (env prefix ``MLOPS_MESH_``)."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _path_list(value: object) -> object:
    """``MLOPS_MESH_PROJECTS=examples/churn:projects/credit`` (``os.pathsep``-separated)."""
    if isinstance(value, str):
        return tuple(Path(part) for part in value.split(os.pathsep) if part)
    return value


class MeshSettings(BaseSettings):
    """Ports, folders and replica counts of the embedded mesh."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_MESH_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path("var"),
        description="Folder for the mesh's state: data/, log/, run/ (supervisord socket).",
    )
    broker_port: int = Field(default=19092, ge=1, le=65535, description="Kafka broker port.")
    base_port: int = Field(
        default=8700,
        ge=1024,
        le=65000,
        description="First HTTP port; each service takes base_port + its offset.",
    )
    predictor_replicas: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Predictor processes (ports base+10 .. base+19; MLflow is at base+20).",
    )
    ready_timeout_s: float = Field(
        default=90.0, gt=0, description="How long `up` waits for each tier to become ready."
    )
    stop_timeout_s: float = Field(
        default=45.0,
        gt=0,
        description="Per process: SIGTERM, then SIGKILL after this long. Above a service's "
        "drain time (HTTP grace + consumer graceful timeout, 15 s each by default).",
    )

    projects: Annotated[tuple[Path, ...], NoDecode, BeforeValidator(_path_list)] = Field(
        default=(Path("examples/churn"),),
        description="Model project folders applied on every `up` (relative to the directory "
        "`up` runs in), separated by `:` in the environment; the churn example is the "
        "embedded default.",
    )
    bootstrap: bool = Field(
        default=True,
        description="On `up`, when the registry has no champion, simulate history, train and "
        "promote version 1 (see `mlops bootstrap`).",
    )
    bootstrap_customers: int = Field(
        default=1000, ge=50, le=100_000, description="Customers of the bootstrap history."
    )
    bootstrap_history_days: float = Field(
        default=30.0, ge=7, le=365, description="Days of simulated history to bootstrap from."
    )
    day_seconds: float = Field(
        default=86400.0,
        ge=1,
        le=86400,
        description="Length of a day of the simulated business, seconds. Rolling feature "
        "windows, the bootstrap history and the retraining windows count in these days; the "
        "demo mesh compresses a day into seconds so that live traffic ages features as fast "
        "as the history did (every service gets it as MLOPS_DAY_SECONDS).",
    )

    @property
    def day(self) -> timedelta:
        """A day of the simulated business."""
        return timedelta(seconds=self.day_seconds)

    @property
    def home_dir(self) -> Path:
        """The mesh folder as an absolute path (supervisord changes directory)."""
        return self.home.resolve()

    @property
    def log_dir(self) -> Path:
        return self.home_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.home_dir / "data"

    @property
    def bootstrap_state_path(self) -> Path:
        """Where the bootstrap keeps its history's end (see ``model_loop.bootstrap``)."""
        return self.data_dir / "bootstrap.json"

    @property
    def demo_state_path(self) -> Path:
        """Until when `mlops demo` streamed the simulated business (see ``mesh.demo``)."""
        return self.data_dir / "demo.json"

    @property
    def api_token_path(self) -> Path:
        """The dev API token (0600), generated on the first `up`."""
        return self.home_dir / "secrets" / "api-token"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def mlflow_port(self) -> int:
        """The MLflow server's port: base_port + 20."""
        return self.base_port + 20

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking server, registry and UI."""
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker_port}"
