"""Container HEALTHCHECK: GET the service's readiness endpoint on its own port.

``python3 healthcheck.py [PATH]``: the service's environment prefix and default port come
from the image's environment, ``MLOPS_ENV_PREFIX`` and ``MLOPS_HTTP_PORT`` (the build
arguments ENV_PREFIX and HTTP_PORT of compose/images/Dockerfile); the port is
``<PREFIX>HTTP_PORT`` when set (as the service itself reads it), else the default; PATH
defaults to ``/ready``. Exit 0 when it answers 2xx, 1 otherwise. Standard library only; no
curl in the image.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping

DEFAULT_PATH = "/ready"


def url(arguments: list[str], environ: Mapping[str, str]) -> str:
    """What to probe, from the arguments after the script name and the environment."""
    prefix = environ.get("MLOPS_ENV_PREFIX", "")
    default_port = environ.get("MLOPS_HTTP_PORT", "")
    if not prefix or not default_port:
        raise ValueError(
            "MLOPS_ENV_PREFIX and MLOPS_HTTP_PORT are not set (build arguments ENV_PREFIX "
            "and HTTP_PORT of compose/images/Dockerfile)"
        )
    path = arguments[0] if arguments else DEFAULT_PATH
    port = environ.get(f"{prefix}HTTP_PORT") or default_port
    return f"http://127.0.0.1:{port}{path}"


def main(argv: list[str]) -> int:
    """Probe once; the exit status is the health."""
    try:
        target = url(argv[1:], os.environ)
    except ValueError as error:
        print(f"healthcheck: {error}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(target, timeout=4) as answer:
            return 0 if 200 <= answer.status < 300 else 1
    except OSError as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
