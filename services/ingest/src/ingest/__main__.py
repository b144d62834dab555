"""``python -m ingest``: run the ingest service until SIGTERM."""

from ingest.main import create_app
from ingest.settings import IngestSettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(IngestSettings, create_app)


if __name__ == "__main__":
    main()
