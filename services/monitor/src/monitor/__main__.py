"""``python -m monitor``: run the monitor service until SIGTERM."""

from monitor.main import create_app
from monitor.settings import MonitorSettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(MonitorSettings, create_app)


if __name__ == "__main__":
    main()
