"""Model versions in MLflow: training runs, registered versions, aliases and verified
artifacts, for every service that touches models (trainer, registry, predictor).

A thin, synchronous adapter over ``MlflowClient`` bound to one tracking server (no global
MLflow state, so two stores in one process never mix); call it from a thread in async
code. Artifacts are the ``churn_model`` folder (``spec.json`` + ``weights.safetensors``);
loading one always goes through ``churn_model.load_model``, which verifies the sha256
recorded on the version before anything is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from churn_model import LoadedModel, load_model

CHAMPION = "champion"
CHALLENGER = "challenger"
SHA256_TAG = "sha256"
SPEC_SHA256_TAG = "spec_sha256"
MODEL_ARTIFACT_PATH = "model"

# MLflow's HTTP client retries 7 times with backoff (minutes) by default: a service must
# report an unreachable tracking server in seconds and let its own retry policy decide.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


class ModelStoreError(RuntimeError):
    """The tracking server refused or failed a request; the message says which. Usually
    transient (server down, timeout): worth retrying."""


class ModelVersionMissing(ModelStoreError):
    """The registry has no such model, version or run: retrying will not help."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version as the registry records it."""

    name: str
    version: int
    run_id: str | None
    source: str
    sha256: str | None
    aliases: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class RunInfo:
    """A training run's recorded numbers (lineage of a version)."""

    run_id: str
    status: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    artifact_uri: str


class ModelStore:
    """The MLflow tracking server and model registry at ``tracking_uri``."""

    def __init__(self, tracking_uri: str) -> None:
        for name, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        from mlflow import MlflowClient  # ~1 s to import: only when a store is built

        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # ---------------------------------------------------------------- health

    def ping(self) -> None:
        """Raise ``ModelStoreError`` unless the tracking server answers."""
        with _translated("reach the MLflow tracking server"):
            self._client.search_experiments(max_results=1)

    # ---------------------------------------------------------------- training runs

    def start_run(self, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        """Create a run in ``experiment`` (created if missing); return its id."""
        with _translated(f"start a run in experiment {experiment!r}"):
            found = self._client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id if found else self._client.create_experiment(experiment)
            )
            run = self._client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Record the run's parameters (as text)."""
        from mlflow.entities import Param

        with _translated("log parameters"):
            self._client.log_batch(
                run_id, params=[Param(key, str(value)) for key, value in params.items()]
            )

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Record ``metrics`` at ``step`` (an epoch), timestamped now."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        with _translated("log metrics"):
            self._client.log_batch(
                run_id,
                metrics=[Metric(key, float(value), stamp, step) for key, value in metrics.items()],
            )

    def log_json(self, run_id: str, document: Mapping[str, Any], path: str) -> str:
        """Store ``document`` as the run's JSON artifact ``path``; return its URI."""
        with _translated(f"log {path}"):
            self._client.log_dict(run_id, dict(document), path)
            return f"{self._client.get_run(run_id).info.artifact_uri}/{path}"

    def log_model(self, run_id: str, folder: Path) -> str:
        """Upload the model folder as the run's ``model`` artifact; return its URI."""
        with _translated("upload the model artifact"):
            self._client.log_artifacts(run_id, str(folder), MODEL_ARTIFACT_PATH)
            artifact_uri = self._client.get_run(run_id).info.artifact_uri
        return f"{artifact_uri}/{MODEL_ARTIFACT_PATH}"

    def metric_history(self, run_id: str, key: str) -> list[float]:
        """Every value logged for ``key`` in the run, in step order (e.g. one per epoch)."""
        with _translated(f"read metric {key} of run {run_id}"):
            history = self._client.get_metric_history(run_id, key)
        return [float(m.value) for m in sorted(history, key=lambda m: m.step)]

    def read_json(self, run_id: str, path: str) -> dict[str, Any] | None:
        """The run's JSON artifact ``path``; None when the run has no such artifact."""
        with _translated(f"read {path} of run {run_id}"):
            listed = [item.path for item in self._client.list_artifacts(run_id)]
            if path not in listed:
                return None
            with tempfile.TemporaryDirectory(prefix="artifact-") as scratch:
                local = self._client.download_artifacts(run_id, path, scratch)
                document: dict[str, Any] = json.loads(Path(local).read_text())
        return document

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark the run FINISHED, FAILED or KILLED."""
        with _translated("end the run"):
            self._client.set_terminated(run_id, status)

    def run(self, run_id: str) -> RunInfo:
        """The run's status, parameters, final metrics and tags."""
        with _translated(f"read run {run_id}"):
            run = self._client.get_run(run_id)
        return RunInfo(
            run_id=run_id,
            status=str(run.info.status),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            artifact_uri=str(run.info.artifact_uri),
        )

    # ---------------------------------------------------------------- registered versions

    def register(
        self,
        name: str,
        *,
        run_id: str,
        source: str,
        sha256: str,
        tags: Mapping[str, str],
        spec_sha256: str | None = None,
    ) -> ModelVersionInfo:
        """Register ``source`` as a new version of ``name`` (created if missing), with the
        weights' sha256 as the version's ``sha256`` tag and the spec file's as
        ``spec_sha256``."""
        from mlflow.exceptions import MlflowException

        with _translated(f"register a version of {name!r}"):
            try:
                self._client.create_registered_model(name)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            digests = {SHA256_TAG: sha256}
            if spec_sha256 is not None:
                digests[SPEC_SHA256_TAG] = spec_sha256
            version = self._client.create_model_version(
                name, source, run_id=run_id, tags={**tags, **digests}
            )
        return self.version(name, int(version.version))

    def delete_version(self, name: str, version: int) -> None:
        """Remove a version (a run that failed after registering leaves nothing behind)."""
        with _translated(f"delete {name} version {version}"):
            self._client.delete_model_version(name, str(version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` (moving it from wherever it was)."""
        with _translated(f"set alias {alias} of {name!r}"):
            self._client.set_registered_model_alias(name, alias, str(version))

    def tag_version(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        """Set tags on a version."""
        with _translated(f"tag {name} version {version}"):
            for key, value in tags.items():
                self._client.set_model_version_tag(name, str(version), key, value)

    def version(self, name: str, version: int) -> ModelVersionInfo:
        """One version; ``ModelVersionMissing`` when the registry has no such version."""
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_model_version(name, str(version))
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ModelVersionMissing(f"{name!r} has no version {version}") from error
            raise ModelStoreError(f"could not read {name} version {version}: {error}") from error
        except Exception as error:
            raise ModelStoreError(f"could not read {name} version {version}: {error}") from error
        return _version_info(found)

    def by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        """The version ``alias`` points at, or None when the alias (or model) is unset."""
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                return None
            raise ModelStoreError(f"could not read alias {alias} of {name!r}: {error}") from error
        except Exception as error:
            raise ModelStoreError(f"could not read alias {alias} of {name!r}: {error}") from error
        return _version_info(found)

    def versions(self, name: str) -> list[ModelVersionInfo]:
        """Every version of ``name``, oldest first (empty when the model does not exist)."""
        with _translated(f"list versions of {name!r}"):
            found = self._client.search_model_versions(f"name = '{_quoted(name)}'")
            if not found:
                return []
            # A search leaves the aliases out; the registered model lists them.
            aliases = dict(self._client.get_registered_model(name).aliases or {})
        infos = []
        for version in found:
            info = _version_info(version)
            held = tuple(a for a, v in aliases.items() if int(v) == info.version)
            infos.append(dataclasses.replace(info, aliases=held))
        return sorted(infos, key=lambda info: info.version)

    def load(self, info: ModelVersionInfo) -> LoadedModel:
        """Download the version's artifact and load it, verified against the version's
        recorded sha256 (``churn_model.ArtifactRefused`` when it does not match)."""
        from churn_model import ArtifactRefused

        if not info.sha256:
            raise ArtifactRefused(f"{info.name} version {info.version} records no sha256")
        spec_digest = info.tags.get(SPEC_SHA256_TAG)
        if not spec_digest:
            raise ArtifactRefused(f"{info.name} version {info.version} records no spec_sha256")
        import mlflow.artifacts

        with _translated(f"list {info.source}"):
            listed = mlflow.artifacts.list_artifacts(
                artifact_uri=info.source, tracking_uri=self.tracking_uri
            )
        if not listed:
            raise ArtifactRefused(f"no artifact files at {info.source}")
        with tempfile.TemporaryDirectory(prefix="model-") as scratch:
            folder = self.download(info.source, Path(scratch))
            return load_model(folder, info.sha256, expected_spec_sha256=spec_digest)

    def download(self, source: str, destination: Path) -> Path:
        """Download an artifact folder into ``destination``; return the local folder."""
        import mlflow.artifacts

        with _translated(f"download {source}"):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(destination), tracking_uri=self.tracking_uri
            )
        return Path(local)


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Re-raise any MLflow or transport error as ``ModelStoreError`` naming the action."""
    try:
        yield
    except ModelStoreError:
        raise
    except Exception as error:
        if getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
            raise ModelVersionMissing(f"could not {action}: {error}") from error
        raise ModelStoreError(f"could not {action}: {error}") from error


def _version_info(version: Any) -> ModelVersionInfo:
    tags = dict(version.tags or {})
    created = (
        datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC)
        if version.creation_timestamp
        else None
    )
    return ModelVersionInfo(
        name=str(version.name),
        version=int(version.version),
        run_id=version.run_id or None,
        source=str(version.source),
        sha256=tags.get(SHA256_TAG),
        aliases=tuple(getattr(version, "aliases", ()) or ()),
        tags=tags,
        created_at=created,
    )


def _quoted(name: str) -> str:
    return name.replace("'", "''")


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MODEL_ARTIFACT_PATH",
    "SHA256_TAG",
    "SPEC_SHA256_TAG",
    "ModelStore",
    "ModelStoreError",
    "ModelVersionInfo",
    "ModelVersionMissing",
    "RunInfo",
]
