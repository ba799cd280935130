"""Installed in every Python process of an offline test (this folder goes first on PYTHONPATH).

An audit hook records, then refuses, every attempt to resolve a host name or to connect anywhere but this
machine (AF_UNIX sockets and loopback addresses stay allowed: W&B's service and DDP talk over them). The
test reads the records from ``$SETI_OFFLINE_LOG`` (one file per process) and asserts there are none.
"""

import os
import sys

_LOG_DIR = os.environ.get("SETI_OFFLINE_LOG")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return host in _LOOPBACK_NAMES or str(host).startswith("127.")


def _record(event: str, detail: str) -> None:
    import traceback

    stack = "".join(traceback.format_stack(limit=25)[:-2])
    with open(os.path.join(_LOG_DIR, f"attempts-{os.getpid()}.txt"), "a") as handle:
        handle.write(f"{event} {detail}\n{stack}\n")


def _hook(event: str, args) -> None:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        host = args[0]
    elif event in ("socket.connect", "socket.sendto"):
        address = args[1]
        if not isinstance(address, tuple):  # AF_UNIX path (str/bytes): a local socket
            return
        host = address[0]
    else:
        return
    if _is_loopback(host):
        return
    _record(event, repr(host))
    raise OSError(f"network access refused by the offline test: {event} {host!r}")


if _LOG_DIR:
    sys.addaudithook(_hook)
