"""``python -m predictor``: run the predictor service until SIGTERM."""

from predictor.main import create_app
from predictor.settings import PredictorSettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(PredictorSettings, create_app)


if __name__ == "__main__":
    main()
