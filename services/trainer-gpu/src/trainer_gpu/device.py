"""Choosing the device training runs on."""

import logging

import torch

logger = logging.getLogger(__name__)


class DeviceUnavailable(RuntimeError):
    """The configured device cannot be used on this machine."""


def resolve_device(preference: str, *, cuda_available: bool | None = None) -> torch.device:
    """``auto`` -> CUDA if visible else CPU; ``cuda`` must be visible; ``cpu`` always works."""
    has_cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if preference == "cpu" or (preference == "auto" and not has_cuda):
        return torch.device("cpu")
    if not has_cuda:
        raise DeviceUnavailable(
            "TRAINER_DEVICE=cuda but no CUDA device is visible; use auto or cpu"
        )
    return torch.device("cuda")
