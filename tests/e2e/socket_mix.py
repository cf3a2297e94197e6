#!/usr/bin/env python3
"""Opens a known mix of TCP sockets and holds them until stdin closes.

Prints one JSON line when ready: the ports it used and the PID of the child process that holds
`--leak N` connections toward one server (the "leaker"). Used by the Linux agent tests, inside a
network namespace so that nothing else shares the socket table.
"""
import argparse
import ctypes
import json
import os
import socket
import struct
import sys


def serve(n_accept_from, listener):
    return [listener.accept()[0] for _ in range(n_accept_from)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--established", type=int, default=5)
    ap.add_argument("--time-wait", type=int, default=3)
    ap.add_argument("--bound", type=int, default=2)
    ap.add_argument("--leak", type=int, default=40)
    ap.add_argument("--syn-backlog", type=int, default=0,
                    help="connections left unaccepted in a second listener's queue")
    a = ap.parse_args()
    keep = []
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(128)
    keep.append(lst)
    port = lst.getsockname()[1]
    for _ in range(a.established):
        c = socket.create_connection(("127.0.0.1", port))
        keep += [c, lst.accept()[0]]
    for _ in range(a.time_wait):
        c = socket.create_connection(("127.0.0.1", port))
        s = lst.accept()[0]
        c.close()
        s.close()
    bound_ports = []
    for _ in range(a.bound):
        b = socket.socket()
        b.bind(("127.0.0.1", 0))
        keep.append(b)
        bound_ports.append(b.getsockname()[1])
    # A second server whose accept queue fills: backlog 8, never accepted.
    q = socket.socket()
    q.bind(("127.0.0.1", 0))
    q.listen(8)
    keep.append(q)
    for _ in range(a.syn_backlog):
        keep.append(socket.create_connection(("127.0.0.1", q.getsockname()[1])))

    # The leaker: a child process holding many connections to one destination.
    dest = socket.socket()
    dest.bind(("127.0.0.1", 0))
    dest.listen(1024)
    keep.append(dest)
    dport = dest.getsockname()[1]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        # A name of its own, so per-program metrics can tell it from the other python3s.
        ctypes.CDLL(None).prctl(15, b"pw-leaker", 0, 0, 0)  # PR_SET_NAME
        conns = [socket.create_connection(("127.0.0.1", dport)) for _ in range(a.leak)]
        os.write(w, b"x")
        sys.stdin.read()  # hold until the parent's stdin closes (inherited)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    keep += [dest.accept()[0] for _ in range(a.leak)]
    print(json.dumps({"listen_port": port, "dest_port": dport, "queue_port": q.getsockname()[1],
                      "leaker_pid": pid, "pid": os.getpid(),
                      "bound_ports": bound_ports}), flush=True)
    sys.stdin.read()
    os.kill(pid, 9)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
