"""``python -m gateway``: run the gateway service until SIGTERM."""

from gateway.main import create_app
from gateway.settings import GatewaySettings
from service_kit import serve


def main() -> None:
    """Console entry point."""
    serve(GatewaySettings, create_app)


if __name__ == "__main__":
    main()
