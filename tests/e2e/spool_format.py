"""An independent reader of the agent's spool format (agent/src/spool.h), so tests can see what an
agent holds on disk and damage it on purpose. Uses zlib's CRC-32, which is the one the format
names, so it also checks the agent's framing."""
import os
import re
import struct
import zlib

MAGIC = b"PWSP"
HEADER = 12
REPORT, CONSUMED = 1, 2
_NAME = re.compile(r"^seg-(\d{16})\.pws$")


def _intact(data, pos):
    """The body of an intact record at pos, or None."""
    if data[pos:pos + 4] != MAGIC or len(data) - pos < HEADER:
        return None
    length, crc = struct.unpack_from("<II", data, pos + 4)
    body = data[pos + HEADER:pos + HEADER + length]
    if length == 0 or len(body) != length or zlib.crc32(body) != crc:
        return None
    return body


def read_segment(path, number):
    """Records of one segment file, in order, skipping damage as the agent does. A segment the
    agent removed meanwhile (all of it acknowledged or dropped) has none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out, pos = [], 0
    while pos < len(data):
        body = _intact(data, pos)
        if body is None:
            nxt = data.find(MAGIC, pos + 1)
            while nxt != -1 and _intact(data, nxt) is None:
                nxt = data.find(MAGIC, nxt + 1)
            pos = len(data) if nxt == -1 else nxt
            continue
        rec = {"segment": number, "offset": pos, "length": HEADER + len(body), "type": body[0]}
        if body[0] == REPORT:
            n = body[1]
            rec["instance"] = body[2:2 + n].decode()
            rec["seq"], rec["created_ms"] = struct.unpack_from("<Qq", body, 2 + n)
            rec["payload"] = body[18 + n:]
        elif body[0] == CONSUMED:
            rec["position"] = struct.unpack_from("<QQ", body, 1)
        out.append(rec)
        pos += rec["length"]
    return out


def segments(spool_dir):
    """(number, path) of each segment file, oldest first; none before the agent made the
    directory."""
    found = []
    if not os.path.isdir(spool_dir):
        return found
    for name in os.listdir(spool_dir):
        m = _NAME.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(spool_dir, name)))
    return sorted(found)


def waiting_reports(spool_dir):
    """The reports an agent restarted on this directory would send: after the newest consumed
    marker, oldest first."""
    records = [r for n, p in segments(spool_dir) for r in read_segment(p, n)]
    consumed = max([r["position"] for r in records if r["type"] == CONSUMED], default=(0, 0))
    return [r for r in records
            if r["type"] == REPORT and (r["segment"], r["offset"]) >= consumed]


def size_on_disk(spool_dir):
    total = 0
    for _, p in segments(spool_dir):
        try:
            total += os.path.getsize(p)
        except FileNotFoundError:
            pass
    return total
