#!/usr/bin/env python3
"""Makes server-side TIME_WAIT for real and then measures what is left of the ephemeral range.

1. A listener on --listen-port accepts --inbound connections from clients bound to fixed ports
   outside the ephemeral range (--client-base ...); the server closes each first, so the
   TIME_WAIT sits on the server side, on the listener's port.
2. Outbound: connects from ephemeral ports toward a second listener, the client closing first
   (its TIME_WAIT keeps the ephemeral port), until connect() fails with EADDRNOTAVAIL. The count
   says how many ephemeral ports the inbound TIME_WAIT left free.

Prints one JSON line and holds the listeners (the agent recognises inbound by a listening port)
until stdin closes. Run inside a network namespace with a small ip_local_port_range and
tcp_tw_reuse=0, so nothing else shares the table and TIME_WAIT is not reused.
"""
import argparse
import errno
import json
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--inbound", type=int, default=50)
    ap.add_argument("--client-base", type=int, default=20000)
    ap.add_argument("--dest-port", type=int, default=9090,
                    help="the outbound side's server; outside the range, so it holds none of it")
    a = ap.parse_args()

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", a.listen_port))
    server.listen(128)
    for i in range(a.inbound):
        c = socket.socket()
        c.bind(("127.0.0.1", a.client_base + i))
        c.connect(("127.0.0.1", a.listen_port))
        s, _ = server.accept()
        s.close()                   # the server closes first...
        if c.recv(1) != b"":        # ...the client sees its FIN...
            raise SystemExit("expected EOF from the server")
        c.close()                   # ...and answers with its own: the server is in TIME_WAIT

    dest = socket.socket()
    dest.bind(("127.0.0.1", a.dest_port))
    dest.listen(128)
    dest_port = a.dest_port
    outbound, failure = 0, ""
    while outbound < 65536:
        c = socket.socket()
        try:
            c.connect(("127.0.0.1", dest_port))
        except OSError as e:
            c.close()
            failure = errno.errorcode.get(e.errno, str(e.errno))
            break
        s, _ = dest.accept()
        c.close()                   # the client closes first: its ephemeral port is in TIME_WAIT
        if s.recv(1) != b"":
            raise SystemExit("expected EOF from the client")
        s.close()
        outbound += 1
    print(json.dumps({"dest_port": dest_port, "outbound_connects": outbound,
                      "outbound_failure": failure}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
