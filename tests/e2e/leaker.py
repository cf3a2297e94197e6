#!/usr/bin/env python3
"""Opens outbound connections to a server at a steady rate.

--mode leak keeps every connection open (a socket leak) until connect() fails for lack of local
ports (EADDRNOTAVAIL), prints {"event": "exhausted", "unix_ms": ..., "held": N} and then keeps
holding what it has. --mode churn opens and closes: the client closes first, so each close leaves
a TIME_WAIT on the client's ephemeral port that lasts the kernel's TIME_WAIT duration (60 s on
Linux, whatever the drill's clock). --ramp makes the churn rate grow by that many connections per
second, every second, after --ramp-after seconds at --rate (prints {"event": "ramp", ...} when it
starts): a TIME_WAIT storm builds until connect() fails with EADDRNOTAVAIL (printed as above).
--hold keeps each churned connection open that many seconds before closing it, as a client
doing a request on each would: the live connections are what names the process behind churn.

The server side (--serve) accepts connections, holds them while the client does, and closes its
end once the client has closed (read returns end of file), so TIME_WAIT stays on the client.
"""
import argparse
import collections
import errno
import json
import selectors
import socket
import time


def serve(port_file):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4096)
    with open(port_file, "w") as f:
        f.write(str(lst.getsockname()[1]))
    sel = selectors.DefaultSelector()
    sel.register(lst, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is lst:
                conn, _ = lst.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:  # the client closed first: close ours, TIME_WAIT stays on its side
                sel.unregister(key.fileobj)
                key.fileobj.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", metavar="PORT_FILE")
    ap.add_argument("--target")
    ap.add_argument("--rate", type=float, default=1.0, help="connections per second")
    ap.add_argument("--mode", choices=["leak", "churn"], default="leak")
    ap.add_argument("--ramp", type=float, default=0.0,
                    help="churn: the rate grows by this many connections per second per second")
    ap.add_argument("--ramp-after", type=float, default=0.0,
                    help="churn: seconds at --rate before the ramp starts")
    ap.add_argument("--hold", type=float, default=0.0,
                    help="churn: seconds each connection stays open before the client closes it")
    ap.add_argument("--seconds", type=float, default=3600)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve)
    host, port = a.target.rsplit(":", 1)
    held = []
    open_until = collections.deque()  # churn: (monotonic close time, socket), oldest first
    start = time.monotonic()
    due = start
    ramping = False
    exhausted = False
    while time.monotonic() - start < a.seconds:
        elapsed = due - start
        rate = a.rate
        if a.ramp > 0 and elapsed >= a.ramp_after:
            if not ramping:
                ramping = True
                print(json.dumps({"event": "ramp", "unix_ms": int(time.time() * 1000),
                                  "rate": a.rate}), flush=True)
            rate += a.ramp * (elapsed - a.ramp_after)
        due += 1 / rate
        time.sleep(max(0, due - time.monotonic()))  # pacing the load, not synchronisation
        while open_until and open_until[0][0] <= time.monotonic():
            open_until.popleft()[1].close()
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
                                  "held": len(held), "rate": round(rate, 3)}), flush=True)
                continue
            raise
        if a.mode == "leak":
            held.append(s)
        elif a.hold > 0:
            open_until.append((time.monotonic() + a.hold, s))
        else:
            s.close()


if __name__ == "__main__":
    main()
