"""Settings of the trainer-gpu service; every field is read from ``TRAINER_<FIELD>``."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from churn_features.settings import FeatureStoreAccess
from model_store.access import ModelStoreAccess
from service_kit import ServiceSettings
from trainer_gpu.domain.training_config import TrainingConfig


class TrainerSettings(ServiceSettings, FeatureStoreAccess, ModelStoreAccess):
    """Trainer: trains the churn classifier on CUDA when present, else on the CPU."""

    model_config = SettingsConfigDict(env_prefix="TRAINER_", extra="forbid", frozen=True)

    service_name: str = "trainer-gpu"
    http_port: int = 8703
    model_names: tuple[str, ...] = Field(
        default=("churn",),
        min_length=1,
        description="Registered models this trainer trains; a request for another is failed "
        "(no stray experiment or registered model is created).",
    )
    max_window_days: float = Field(
        default=400,
        gt=0,
        description="A request whose data window is longer than this is failed.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="`auto` takes CUDA when a GPU is visible, else the CPU; `cuda` fails "
        "at start when no GPU is visible.",
    )
    torch_threads: int = Field(
        default=1, ge=1, description="CPU threads torch may use (1 is fastest on 2 cores)."
    )
    max_epochs: int = Field(default=30, ge=1, le=1000, description="Most epochs of a run.")
    batch_size: int = Field(default=512, ge=8, le=65536, description="Examples per step.")
    learning_rate: float = Field(default=2e-3, gt=0, lt=1, description="AdamW learning rate.")
    patience: int = Field(
        default=4, ge=1, description="Stop after this many epochs without a better validation AUC."
    )
    validation_fraction: float = Field(
        default=0.2, gt=0, lt=0.9, description="Share of each class held out for validation."
    )
    seed: int = Field(default=7, description="Seed of the split, initialisation and shuffling.")
    hidden_sizes: tuple[int, ...] = Field(
        default=(64, 32), description="Hidden layer widths, e.g. `[64,32]`."
    )
    min_training_rows: int = Field(
        default=200, ge=10, description="Fewer labelled examples in the window fail the run."
    )

    def training_config(self) -> TrainingConfig:
        """The hyper-parameters of a run."""
        return TrainingConfig(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            patience=self.patience,
            validation_fraction=self.validation_fraction,
            seed=self.seed,
            hidden_sizes=self.hidden_sizes,
            min_rows=self.min_training_rows,
        )
