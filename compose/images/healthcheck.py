"""Container HEALTHCHECK: GET the service's readiness endpoint on its own port.

``python3 healthcheck.py PREFIX DEFAULT_PORT [PATH]``: the port is ``<PREFIX>HTTP_PORT`` from
the environment (as the service itself reads it), else the default. Exit 0 when it answers
2xx, 1 otherwise. Standard library only; no curl in the image.
"""

import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    """Probe once; the exit status is the health."""
    prefix, default_port = argv[1], argv[2]
    path = argv[3] if len(argv) > 3 else "/ready"
    port = os.environ.get(f"{prefix}HTTP_PORT", default_port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=4) as answer:
            return 0 if 200 <= answer.status < 300 else 1
    except OSError as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
