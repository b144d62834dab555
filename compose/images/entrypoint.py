"""Container entry point of every service image: run the service the image was built for.

``python3 entrypoint.py [ARGS...]`` replaces itself (``os.execv``, the same PID) with
``python3 -m <package> [ARGS...]``, the package being ``MLOPS_SERVICE`` (the image's
``SERVICE`` build argument, a folder under ``services/``) with ``-`` replaced by ``_``. So
python stays PID 1 and gets SIGTERM itself, exactly as with ``ENTRYPOINT ["python3", "-m",
"<package>"]``, which an exec-form ENTRYPOINT cannot write from a build argument.
Exits 2 with a message when ``MLOPS_SERVICE`` is unset or names no installed package.
Standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping

VARIABLE = "MLOPS_SERVICE"
_SERVICE = re.compile(r"^[a-z][a-z0-9-]*$")


class EntryPointError(Exception):
    """The image's environment names no service to run."""


def package(environ: Mapping[str, str]) -> str:
    """The package ``python3 -m`` runs: ``MLOPS_SERVICE`` with ``-`` as ``_``, installed here."""
    service = environ.get(VARIABLE, "")
    if not service:
        raise EntryPointError(
            f"{VARIABLE} is not set: build the image with --build-arg SERVICE=<folder under "
            "services/> (compose/images/Dockerfile), or set it to the service to run"
        )
    if not _SERVICE.match(service):
        raise EntryPointError(f"{VARIABLE}={service!r} is not a service folder name")
    name = service.replace("-", "_")
    if importlib.util.find_spec(name) is None:
        raise EntryPointError(
            f"{VARIABLE}={service}: no package {name!r} is installed in this image "
            "(an image of another service, or a misspelt name)"
        )
    return name


def main(argv: list[str]) -> int:
    """Exec ``python3 -m <package>`` with the remaining arguments; returns only on error."""
    # Not this script's folder (healthcheck.py is beside it): only what `-m` will see.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    try:
        name = package(os.environ)
    except EntryPointError as error:
        print(f"entrypoint: {error}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", name, *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
