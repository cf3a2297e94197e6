#!/usr/bin/env python3
"""Records a real sock_diag IPv4 TCP dump into sockdiag_ipv4_dump.bin for the parser tests.

Opens a listener on 127.0.0.1:45001, three connections to it (ESTABLISHED at both ends) and two
more that the client closes first (TIME_WAIT on the client side), one socket bound to
127.0.0.1:45002 and never connected (bound-only; dumped on Linux 6.7+), then asks the kernel for every
IPv4 TCP socket through NETLINK_SOCK_DIAG and writes each reply datagram prefixed with its 4-byte
length (native byte order). Run it on Linux as any user: python3 record_sockdiag.py
"""
import os
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE = 3


def main():
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 45001))
    lst.listen(16)
    keep = []
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", 45001))
        s, _ = lst.accept()
        keep += [c, s]
    for _ in range(2):
        c = socket.create_connection(("127.0.0.1", 45001))
        s, _ = lst.accept()
        c.close()  # active close: the client end goes to TIME_WAIT
        s.close()

    bound = socket.socket()
    bound.bind(("127.0.0.1", 45002))
    keep.append(bound)

    # struct inet_diag_req_v2: family, protocol, ext, pad, states, then a 48-byte sockid.
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + bytes(48)
    hdr = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    nl.sendto(hdr + req, (0, 0))
    out = bytearray()
    done = False
    while not done:
        data = nl.recv(65536)
        out += struct.pack("=I", len(data)) + data
        off = 0
        while off + 16 <= len(data):
            length, typ = struct.unpack_from("=IH", data, off)
            if typ == NLMSG_DONE:
                done = True
            off += (length + 3) & ~3
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sockdiag_ipv4_dump.bin")
    with open(path, "wb") as f:
        f.write(out)
    print(f"wrote {len(out)} bytes to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
