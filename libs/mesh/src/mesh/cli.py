"""`mlops up | down | status`: the embedded mesh from the command line."""

import argparse
import sys

from pydantic import ValidationError

from mesh.control import Mesh, MeshError, format_status
from mesh.settings import MeshSettings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mlops`` command."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="boot the broker and every service, wait until ready")
    commands.add_parser("down", help="stop every process cleanly (SIGTERM, drain, commit)")
    commands.add_parser("status", help="each process's state, readiness and memory")
    commands.add_parser("endpoints", help="where each HTTP endpoint listens")
    commands.add_parser(
        "simulate",
        help="stream simulated customers through ingest (see `mlops simulate --help`)",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from simulator.cli import main as simulate  # imported only when asked for

        return int(simulate(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        mesh = Mesh(MeshSettings())
    except ValidationError as error:
        print(f"invalid MLOPS_MESH_* settings:\n{error}", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            mesh.up()
        elif args.command == "down":
            mesh.down()
        elif args.command == "status":
            print(format_status(mesh.status()))
        else:
            print(mesh.endpoints())
    except MeshError as error:
        print(f"mlops {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
