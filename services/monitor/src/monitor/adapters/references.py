"""Reference samples of model versions, read from their MLflow training runs."""

from __future__ import annotations

import dataclasses

from model_store import CHAMPION, ModelStore, ModelStoreError
from monitor.domain.reference import (
    ReferenceInvalid,
    ReferenceSample,
    ReferenceUnavailable,
    parse_reference,
)

REFERENCE_SAMPLE_PATH = "reference_sample.json"
"""The trainer's artifact (``trainer_gpu.training.REFERENCE_SAMPLE_PATH``)."""

BASELINE_METRICS = ("roc_auc", "accuracy", "log_loss")


class MlflowReferenceSource:
    """Synchronous (call from a thread): the champion's version and a version's reference
    sample with its training metrics as the performance baseline."""

    def __init__(self, models: ModelStore, *, max_rows: int) -> None:
        self.models = models
        self.max_rows = max_rows

    def champion_version(self, model_name: str) -> int | None:
        """The version the ``champion`` alias points at; None when there is none."""
        try:
            info = self.models.by_alias(model_name, CHAMPION)
        except ModelStoreError as error:
            raise ReferenceUnavailable(f"could not ask MLflow for the champion: {error}") from error
        return None if info is None else info.version

    def load(self, model_name: str, version: int) -> ReferenceSample:
        """The validated reference of ``version``; ``ReferenceUnavailable`` (or its
        subclass ``ReferenceInvalid``) says why there is none."""
        try:
            info = self.models.version(model_name, version)
            if info.run_id is None:
                raise ReferenceUnavailable(f"{model_name} version {version} records no run")
            document = self.models.read_json(info.run_id, REFERENCE_SAMPLE_PATH)
            run = self.models.run(info.run_id)
        except ModelStoreError as error:
            raise ReferenceUnavailable(
                f"could not read the reference of {model_name} version {version}: {error}"
            ) from error
        except ValueError as error:  # not JSON
            raise ReferenceInvalid(
                f"{REFERENCE_SAMPLE_PATH} of {model_name} version {version} is not JSON: {error}"
            ) from error
        if document is None:
            raise ReferenceUnavailable(
                f"the training run {info.run_id} of {model_name} version {version} has no "
                f"{REFERENCE_SAMPLE_PATH} (trained before the trainer logged one?)"
            )
        try:
            sample = parse_reference(
                document, model_name=model_name, model_version=version, max_rows=self.max_rows
            )
        except ReferenceInvalid as error:
            raise ReferenceInvalid(
                f"{REFERENCE_SAMPLE_PATH} of {model_name} version {version} "
                f"(run {info.run_id}) is invalid: {error}"
            ) from error
        baseline = {name: run.metrics[name] for name in BASELINE_METRICS if name in run.metrics}
        return dataclasses.replace(sample, baseline=baseline)
