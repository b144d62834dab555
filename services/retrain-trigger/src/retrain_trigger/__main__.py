"""``python -m retrain_trigger``: run the retrain-trigger service until SIGTERM."""

from retrain_trigger.main import create_app
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(RetrainTriggerSettings, create_app)


if __name__ == "__main__":
    main()
