"""A supervisord event listener: when the embedded broker dies, restart the whole mesh.

The embedded broker keeps topics, records and offsets in memory, so a broker that comes
back alone would be empty while the services hold stale metadata (and producers get false
acks). Restarting everything in order, topics included, is the only safe recovery.
"""

import sys

from supervisor import childutils

from mesh.control import Mesh
from mesh.plan import BROKER
from mesh.settings import MeshSettings


def _log(message: str) -> None:
    # stdout is supervisord's protocol channel for an event listener; logs go to stderr.
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    """Wait for events forever; on the broker's unexpected exit, restart the mesh."""
    mesh = Mesh(MeshSettings(), say=_log)
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        event = childutils.get_headers(payload.split("\n", 1)[0])
        lost = (
            event.get("processname") == BROKER
            and headers["eventname"] == "PROCESS_STATE_EXITED"
            and event.get("expected") == "0"
        )
        if lost:
            _log("broker exited unexpectedly: restarting the whole mesh with a fresh broker")
            try:
                mesh.restart_after_broker_loss()
            except Exception as error:  # keep listening; `make status` shows the damage
                _log(f"mesh restart failed: {error}")
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
