"""Settings of the trainer-gpu service; every field is read from ``TRAINER_<FIELD>``."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class TrainerSettings(ServiceSettings):
    """Trainer: trains the churn classifier on CUDA when present, else on the CPU."""

    model_config = SettingsConfigDict(env_prefix="TRAINER_", extra="forbid", frozen=True)

    service_name: str = "trainer-gpu"
    http_port: int = 8703
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="`auto` takes CUDA when a GPU is visible, else the CPU; `cuda` fails "
        "at start when no GPU is visible.",
    )
    torch_threads: int = Field(
        default=1, ge=1, description="CPU threads torch may use (1 is fastest on 2 cores)."
    )
