#!/usr/bin/env python3
"""Opens outbound connections to a server at a steady rate.

--mode leak keeps every connection open (a socket leak) until connect() fails for lack of local
ports (EADDRNOTAVAIL), prints {"event": "exhausted", "unix_ms": ..., "held": N} and then keeps
holding what it has. --mode churn opens and closes (each close leaves a TIME_WAIT that expires),
which must never look like a leak. The server side (--serve) accepts and holds connections.
"""
import argparse
import errno
import json
import socket
import sys
import threading
import time


def serve(port_file):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4096)
    with open(port_file, "w") as f:
        f.write(str(lst.getsockname()[1]))
    held = []
    while True:
        held.append(lst.accept()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", metavar="PORT_FILE")
    ap.add_argument("--target")
    ap.add_argument("--rate", type=float, default=1.0, help="connections per second")
    ap.add_argument("--mode", choices=["leak", "churn"], default="leak")
    ap.add_argument("--seconds", type=float, default=3600)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve)
    host, port = a.target.rsplit(":", 1)
    held = []
    start = time.monotonic()
    n = 0
    exhausted = False
    while time.monotonic() - start < a.seconds:
        n += 1
        due = start + n / a.rate
        time.sleep(max(0, due - time.monotonic()))  # pacing the load, not synchronisation
        if exhausted:
            continue
        s = socket.socket()
        try:
            s.connect((host, int(port)))
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRNOTAVAIL:
                exhausted = True
                print(json.dumps({"event": "exhausted", "unix_ms": int(time.time() * 1000),
                                  "held": len(held)}), flush=True)
                continue
            raise
        if a.mode == "leak":
            held.append(s)
        else:
            s.close()


if __name__ == "__main__":
    main()
