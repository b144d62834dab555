"""The hyper-parameters of a training run (no torch here: settings import it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one run (all recorded as MLflow params)."""

    max_epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 4
    min_improvement: float = 1e-4
    validation_fraction: float = 0.2
    seed: int = 7
    hidden_sizes: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    min_rows: int = 200
    min_class_rows: int = 10

    def as_params(self) -> dict[str, object]:
        """The config as flat parameters."""
        return {
            name: ",".join(map(str, value)) if isinstance(value, tuple) else value
            for name, value in self.__dict__.items()
        }
