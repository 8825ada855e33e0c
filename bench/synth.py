#!/usr/bin/env python3
"""Synthetic pcaps for the memory benchmarks in bench/run.sh (standard library only).

  synth.py flood   OUT K        K TCP SYNs, each from a distinct spoofed IPv4 source, one attacker MAC,
                                all to 192.168.1.10:80, 1 us apart (every flow stays inside the idle timeout)
  synth.py devices OUT N [M]    N rounds of (gratuitous ARP + DHCP DISCOVER with hostname, option 55 and vendor
                                class); round i comes from MAC number i % M (M defaults to N, so N distinct devices;
                                a small M gives the same packet count from only M devices)
  synth.py tiny    OUT          one ARP packet (start-up cost of the binary)
"""
import struct
import sys

T0 = 1_700_000_000  # 2023-11-14, arbitrary


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.buf = []

    def add(self, usec_total: int, frame: bytes):
        sec, usec = divmod(usec_total, 1_000_000)
        self.buf.append(struct.pack("<IIII", T0 + sec, usec, len(frame), len(frame)))
        self.buf.append(frame)
        if len(self.buf) >= 131072:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.buf))
        self.buf = []

    def close(self):
        self.flush()
        self.f.close()


def mac(i: int, oui=b"\x00\x17\x88") -> bytes:  # 00:17:88 = Philips Lighting (a real OUI)
    return oui + struct.pack("!I", i)[1:]


def flood(path, k):
    w = Writer(path)
    dst_mac, src_mac = mac(1, b"\x00\x0c\x29"), mac(0xABCDEF, b"\x00\x0c\x29")
    eth = dst_mac + src_mac + b"\x08\x00"
    dst = bytes([192, 168, 1, 10])
    dst_w = (dst[0] << 8 | dst[1]) + (dst[2] << 8 | dst[3])
    # IPv4 header with src = 0 and checksum 0; the per-packet checksums are adjusted incrementally.
    ip0 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0x1234, 0x4000, 64, 6, 0, b"\0\0\0\0", dst)
    ip_base = csum(ip0)
    for i in range(k):
        src_n = 0x0B000001 + i  # 11.0.0.1 upwards: distinct public sources
        sport = 1024 + (i % 60000)
        seq = (i * 2654435761) & 0xFFFFFFFF
        src_w = (src_n >> 16) + (src_n & 0xFFFF)
        ipc = fold(ip_base + src_w)
        ip = ip0[:10] + struct.pack("!H", ipc) + struct.pack("!I", src_n) + dst
        tcp0 = struct.pack("!HHIIBBHHH", sport, 80, seq, 0, 0x50, 0x02, 64240, 0, 0)
        pseudo = src_w + dst_w + 6 + 20
        tc = fold(csum(tcp0) + pseudo)
        tcp = tcp0[:16] + struct.pack("!H", tc) + tcp0[18:]
        w.add(i, eth + ip + tcp)
    w.close()


def dhcp_discover(m: bytes, xid: int, host: str) -> bytes:
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, m + b"\0" * 10, b"\0" * 64, b"\0" * 128)
    opts = b"\x63\x82\x53\x63" + b"\x35\x01\x01"
    hb = host.encode()
    opts += bytes([12, len(hb)]) + hb
    prl = bytes([1, 3, 6, 15, 28, 42])
    opts += bytes([55, len(prl)]) + prl
    vc = b"udhcp 1.30.1"
    opts += bytes([60, len(vc)]) + vc + b"\xff"
    payload = bootp + opts
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", fold(csum(ip))) + ip[12:]
    return b"\xff" * 6 + m + b"\x08\x00" + ip + udp


def garp(m: bytes, ip: bytes) -> bytes:
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, m, ip, b"\0" * 6, ip)
    return b"\xff" * 6 + m + b"\x08\x06" + arp + b"\0" * 18


def devices(path, n, m):
    w = Writer(path)
    for i in range(n):
        d = i % m
        mm = mac(d + 1)
        ip = struct.pack("!I", 0x0A000000 + d + 2)  # 10.0.0.2 upwards
        w.add(2 * i, garp(mm, ip))
        w.add(2 * i + 1, dhcp_discover(mm, d + 1, "sensor-%d" % d))
    w.close()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    kind, out = argv[1], argv[2]
    if kind == "flood":
        flood(out, int(argv[3]))
    elif kind == "devices":
        n = int(argv[3])
        devices(out, n, int(argv[4]) if len(argv) > 4 else n)
    elif kind == "tiny":
        w = Writer(out)
        w.add(0, garp(mac(1), b"\x0a\x00\x00\x02"))
        w.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
