"""Exhausts the ephemeral port range of the network namespace it runs in, and holds it.

Each socket binds to port 0 (the kernel hands out an ephemeral port and marks it bound, so no
other connect() may share it, whatever the destination) and connects to a local listener, so the
ports show as established connections in the socket table. Stops when bind() finds no free port,
prints "held N", then checks that a plain connect() to PROBE_PORT now fails and prints
"probe ERRNO_NAME". Until stdin closes it keeps everything and, like the busy processes of a
really exhausted host, takes any port that comes free again within milliseconds.

  python3 hold_ports.py LISTEN_PORT PROBE_PORT
"""
import errno
import socket
import sys
import threading
import time


def main():
    listen_port, probe_port = int(sys.argv[1]), int(sys.argv[2])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(4096)
    held = []

    def grab():
        """Takes one free ephemeral port; False when there is none."""
        c = socket.socket()
        try:
            c.bind(("127.0.0.1", 0))
        except OSError as e:
            c.close()
            if e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                return False
            raise
        c.connect(("127.0.0.1", listen_port))
        s, _ = listener.accept()
        held.append((c, s))
        return True

    while grab():
        pass
    print(f"held {len(held)}", flush=True)
    probe = socket.socket()
    try:
        probe.connect(("127.0.0.1", probe_port))
        print("probe connected", flush=True)
    except OSError as e:
        print(f"probe {errno.errorcode.get(e.errno, e.errno)}", flush=True)
    finally:
        probe.close()
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    while not closed.wait(0.005):
        grab()


if __name__ == "__main__":
    main()
