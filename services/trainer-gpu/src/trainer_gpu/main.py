"""Composition root of the trainer-gpu service: ``create_app(settings)``, no I/O at import."""

import logging

import torch
from fastapi import FastAPI

from service_kit import ServiceRuntime, create_service_app
from trainer_gpu.device import resolve_device
from trainer_gpu.settings import TrainerSettings

logger = logging.getLogger(__name__)


def create_app(settings: TrainerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)

    async def choose_device(_runtime: ServiceRuntime) -> None:
        torch.set_num_threads(settings.torch_threads)
        device = resolve_device(settings.device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        logger.info(
            "training device chosen",
            extra={"device": str(device), "device_name": name, "threads": settings.torch_threads},
        )

    return create_service_app(
        runtime,
        title="trainer-gpu",
        description="Trainer: trains the churn classifier on CUDA when present, else on the CPU.",
        on_start=[choose_device],
    )
