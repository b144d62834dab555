"""``python -m feature``: run the feature service until SIGTERM."""

from feature.main import create_app
from feature.settings import FeatureSettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(FeatureSettings, create_app)


if __name__ == "__main__":
    main()
