"""``python -m registry``: run the registry service until SIGTERM."""

from registry.main import create_app
from registry.settings import RegistrySettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(RegistrySettings, create_app)


if __name__ == "__main__":
    main()
