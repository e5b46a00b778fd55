"""File tracer for benchmarks/containers/trace.sh; on PYTHONPATH, Python loads it at start.

Records every file under site-packages that the process opens or imports, the shared
libraries it has mapped, and its modules' files, into /trace/<host>-<pid>.txt (rewritten
every 3 s and at exit, so short-lived and killed processes are kept too).
"""

import atexit
import contextlib
import os
import socket
import sys
import threading
import time

_seen: set[str] = set()
_SITE = "/site-packages/"


def _hook(event: str, args: tuple) -> None:
    if (
        event in ("open", "import", "ctypes.dlopen")
        and args
        and isinstance(args[0], str)
        and (_SITE in args[0] or event == "ctypes.dlopen")
    ):
        _seen.add(args[0])


def _dump() -> None:
    files = set(_seen)
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name:
            files.add(name)
    try:
        with open("/proc/self/maps") as maps:
            files.update(p[5] for p in map(str.split, maps) if len(p) >= 6 and p[5][:1] == "/")
    except OSError:
        pass
    path = f"/trace/{socket.gethostname()}-{os.getpid()}.txt"
    with open(path + ".tmp", "w") as out:
        out.write(" ".join(sys.argv) + "\n" + "\n".join(sorted(files)) + "\n")
    os.replace(path + ".tmp", path)


def _every_few_seconds() -> None:
    while True:
        time.sleep(3)
        with contextlib.suppress(Exception):  # a tracer must never break its process
            _dump()


sys.addaudithook(_hook)
threading.Thread(target=_every_few_seconds, daemon=True).start()
atexit.register(_dump)
