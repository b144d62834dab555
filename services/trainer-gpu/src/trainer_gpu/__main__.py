"""``python -m trainer_gpu``: run the trainer-gpu service until SIGTERM."""

from service_kit import serve
from trainer_gpu.main import create_app
from trainer_gpu.settings import TrainerSettings


def main() -> None:
    """Console entry point."""
    serve(TrainerSettings, create_app)


if __name__ == "__main__":
    main()
