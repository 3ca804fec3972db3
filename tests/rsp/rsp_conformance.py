#!/usr/bin/env python3
"""Raw-protocol conformance tests for kvmgdb's RSP server (no gdb, stdlib only).

  rsp_conformance.py --kvmgdb BUILD/kvmgdb --guests BUILD/guests [-k SUBSTRING]

Starts `kvmgdb --listen 127.0.0.1:0 GUEST` (waiting for its "listening on" line,
as tests/gdb/run_gdb_test.py does) with cguest64.elf for the cases that never
resume the guest and spin-long.elf (a guest that never ends) for those that do,
and drives it with hand-made packets: overlong and unterminated frames, bad
checksums, split and batched writes, 0x03 everywhere, edge-case m/M/X/Z/P/G/vCont
packets, unknown packets, clients that say nothing or vanish mid-packet or
mid-continue (also by SIGKILL), and 200 connect/close cycles with kvmgdb's fd
count and RSS watched. Replies are checked byte for byte where the GDB manual
(Remote Protocol appendix) or docs/gdb.md fixes them.

After each case the server must answer the next well-formed packet, and the
guest's registers (`g`) and the memory page around its pc must be what they were
before, unless the case was meant to change them.

One line per case, then `rsp: N passed, M failed`; the exit status is 1 when
any case failed. Needs /dev/kvm: run it through scripts/with-kvm (ctest label kvm).
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 30.0  # per reply; TCG inside the with-kvm VM is slow
ERROR = re.compile(rb"E[0-9a-fA-F]{2}")
REFUSAL = b"kvmgdb: another debugger is already connected\n"


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def expect_eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def expect_error(got, what):
    if not ERROR.fullmatch(got):
        raise Fail(f"{what}: got {got!r}, want an E NN error reply")


def checksum(data):
    return sum(data) & 0xFF


def frame(payload):
    """`$payload#cc` ("Overview"); payload as given (escape it yourself for X)."""
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape(data):
    """`}`-escape `$ # } *` as gdb does in binary data ("Binary data")."""
    out = bytearray()
    for b in data:
        if b in b"$#}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def unescape(body):
    if b"}" not in body:  # hex replies: no per-byte loop (slow under TCG)
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == 0x7D and i + 1 < len(body):
            out.append(body[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return bytes(out)


def hexnum(n):
    return "%x" % n


class Kvmgdb:
    """One kvmgdb --listen process; its stdout and stderr are drained by threads."""

    def __init__(self, binary, guest):
        self.cmd = [binary, "--listen", "127.0.0.1:0", guest]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.lock = threading.Lock()
        for name in self.out:
            threading.Thread(target=self._drain, args=(name,), daemon=True).start()
        deadline = time.monotonic() + 120
        self.port = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            with self.lock:
                m = re.search(rb"^listening on 127\.0\.0\.1:(\d+)$", bytes(self.out["stderr"]), re.M)
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise Fail(f"{' '.join(self.cmd)} never said 'listening on': {self.text('stderr')!r}")

    def _drain(self, name):
        stream = getattr(self.proc, name)
        while True:
            data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            if not data:
                return
            with self.lock:
                self.out[name] += data

    def text(self, name):
        with self.lock:
            return self.out[name].decode(errors="replace")

    @property
    def pid(self):
        return self.proc.pid

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Fail("no VmRSS in /proc/PID/status")

    def alive(self):
        return self.proc.poll() is None

    def client(self, **kw):
        return Client(self.port, **kw)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A raw RSP client. Starts in ack mode, as every new connection does.

    handshake=True sends qSupported first (retrying while the server still holds
    the previous connection and refuses this one with its one-line notice)."""

    def __init__(self, port, handshake=True, no_ack=False):
        self.port = port
        self.ack = True
        self.buf = bytearray()
        self.sock = None
        deadline = time.monotonic() + TIMEOUT
        while True:
            self._connect()
            if not handshake:
                break
            self.send(frame("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+"))
            if not self.refused(deadline):
                self.supported = self.reply()
                break
            self.close()
            time.sleep(0.05)
        if no_ack:
            self.no_ack()

    def refused(self, deadline):
        """True when what arrives is the server's one-line refusal (another client
        still holds it: the previous one's close has not been seen yet)."""
        while not self.buf:
            self._fill()
        if self.buf[:1] != REFUSAL[:1]:
            return False
        check(time.monotonic() < deadline, f"still refused after {TIMEOUT:.0f} s")
        return True

    def _connect(self):
        self.buf = bytearray()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail(f"no reply within {timeout:.0f} s (have {bytes(self.buf)[:80]!r})")
        except ConnectionResetError:
            data = b""
        if not data:
            raise Fail(f"connection closed by kvmgdb (have {bytes(self.buf)[:80]!r})")
        self.buf += data

    def byte(self):
        while not self.buf:
            self._fill()
        b = self.buf[:1]
        del self.buf[:1]
        return bytes(b)

    def frame_payload(self, start=b"$"):
        """The next `$...#cc` frame (`%...#cc`, a notification, with start=b"%"), which
        must start right here; checksum verified."""
        while not self.buf:
            self._fill()
        check(self.buf[:1] == start, f"expected {start!r}, got {bytes(self.buf)[:80]!r}")
        while True:
            end = self.buf.find(b"#")
            if end >= 0 and len(self.buf) >= end + 3:
                break
            self._fill()
        body = bytes(self.buf[1:end])
        digits = bytes(self.buf[end + 1:end + 3])
        del self.buf[:end + 3]
        check(digits == b"%02x" % checksum(body), f"bad checksum {digits!r} on {body[:80]!r}")
        self.last_body = body  # as on the wire, escapes included
        return unescape(body)

    def reply(self):
        """One reply: `+` then the packet in ack mode (which we ack), the packet alone without."""
        if self.ack:
            expect_eq(self.byte(), b"+", "ack before the reply")
        payload = self.frame_payload()
        if self.ack:
            self.send(b"+")
        return payload

    def request(self, payload):
        self.send(frame(payload))
        return self.reply()

    def no_ack(self):
        expect_eq(self.request("QStartNoAckMode"), b"OK", "QStartNoAckMode")
        self.ack = False

    def silence(self, seconds):
        """Nothing at all arrives for `seconds`."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = None
        self.buf += data or b""
        check(not self.buf and data is None,
              f"expected nothing, got {bytes(self.buf)!r}" + (" (connection closed)" if data == b"" else ""))

    def closed_by_peer(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return False
        return data == b""


# --- guest state ---------------------------------------------------------------

def pc_of(c):
    # x86-64 layout (target.xml): rip is regnum 16, 8 bytes little-endian.
    value = c.request("p10")
    check(re.fullmatch(rb"[0-9a-f]{16}", value) is not None, f"p10 gave {value!r}")
    return int.from_bytes(bytes.fromhex(value.decode()), "little")


def snapshot(c):
    """(stop reply, g, the 4 KiB page around the pc) as hex."""
    stop = c.request("?")
    regs = c.request("g")
    check(re.fullmatch(rb"([0-9a-f]{2}|xx)+", regs) is not None, f"g gave {regs[:80]!r}")
    page = pc_of(c) & ~0xFFF
    mem = c.request(f"m{hexnum(page)},1000")
    expect_eq(len(mem), 0x2000, "length of the m reply for the pc's page")
    return stop, regs, mem


def wait_stopped(c, timeout=TIMEOUT):
    """`?` until it is a stop reply (a stop still in flight gets E10, EBUSY)."""
    deadline = time.monotonic() + timeout
    while True:
        r = c.request("?")
        if re.match(rb"[TS][0-9a-f]{2}", r):
            return r
        check(time.monotonic() < deadline and ERROR.fullmatch(r), f"? gave {r!r}")
        time.sleep(0.1)


def assert_stays_stopped(c):
    first = c.request("g")
    time.sleep(0.5)
    expect_eq(c.request("g"), first, "registers of a guest that should be stopped")


# --- the cases -------------------------------------------------------------------
# Each gets (server, client): a fresh client, handshake done, ack mode. It returns
# the client the harness should check afterwards (None: make a new one) and
# whether the guest's state may have changed.

def packet_size(c):
    m = re.search(rb"PacketSize=([0-9a-f]+)", c.supported)
    check(m is not None, f"qSupported gave no PacketSize: {c.supported!r}")
    return int(m.group(1), 16)


def case_overlong(server, c):
    size = packet_size(c)
    big = frame("q" + "x" * (size + 4096))
    c.send(big)
    expect_error(c.reply(), "a packet beyond PacketSize, ack mode")
    expect_eq(c.request("qC"), b"QC1", "the next packet")
    c.no_ack()
    c.send(big)
    expect_error(c.reply(), "a packet beyond PacketSize, no-ack mode")
    return c


def case_ten_megabytes_without_hash(server, c):
    c.no_ack()
    rss_before = server.rss_kib()
    c.send(b"$")
    chunk = b"a" * 65536
    for _ in range(160):  # 10 MiB
        c.send(chunk)
    c.silence(0.5)  # still inside the frame: nothing to say yet
    c.send(frame("qC"))
    expect_error(c.reply(), "the unterminated frame, once a `$` ends it")
    expect_eq(c.reply(), b"QC1", "the packet after it")
    growth = server.rss_kib() - rss_before
    check(growth < 2048, f"kvmgdb's RSS grew by {growth} KiB")
    # The same cut short by `#` instead: answered at the checksum.
    c.send(b"$" + chunk * 32 + b"#00")
    expect_error(c.reply(), "the frame cut by `#`")
    return c


def case_bad_checksum(server, c):
    c.send(b"$qC#00")
    expect_eq(c.byte(), b"-", "nack of a bad checksum")
    c.silence(0.3)
    expect_eq(c.request("qC"), b"QC1", "the resend")
    c.send(b"$qC#zz")
    expect_eq(c.byte(), b"-", "nack of non-hex checksum digits")
    c.silence(0.3)
    c.send(b"$qC#b")  # half a checksum, then a new frame: the first is dropped
    c.send(frame("qC"))
    expect_eq(c.reply(), b"QC1", "the frame after a truncated one")
    return c


def case_one_byte_per_write(server, c):
    pc = pc_of(c)
    for mode in ("ack", "no-ack"):
        if mode == "no-ack":
            c.no_ack()
        for payload in (f"m{hexnum(pc)},10", "qXfer:features:read:target.xml:0,40", "p10"):
            whole = c.request(payload)
            for b in frame(payload):
                c.send(bytes([b]))
                time.sleep(0.002)
            expect_eq(c.reply(), whole, f"{payload} one byte per write, {mode} mode")
    return c


def case_many_packets_in_one_write(server, c):
    pc = pc_of(c)
    payloads = []
    for i in range(64):
        payloads += [f"m{hexnum(pc + i)},{hexnum(i + 1)}", "qC", "p7"]
    want = [c.request(p) for p in payloads]
    c.send(b"".join(frame(p) + b"+" for p in payloads))  # with gdb's acks for our replies in between
    got = []
    for _ in payloads:
        expect_eq(c.byte(), b"+", "ack")
        got.append(c.frame_payload())
    expect_eq(got, want, "replies to 192 packets in one write")
    c.no_ack()
    c.send(b"".join(frame(p) for p in payloads))
    expect_eq([c.reply() for _ in payloads], want, "the same without acks")
    return c


def case_ctrl_c_while_stopped(server, c):
    qc = frame("qC")
    # Outside a frame a 0x03 while stopped is ignored (it may have crossed a stop reply).
    for data in (b"\x03" + qc, qc + b"\x03", b"\x03\x03" + qc + b"\x03"):
        c.send(data)
        expect_eq(c.byte() + c.frame_payload(), b"+QC1", f"{data!r}")
        c.send(b"+")
        c.silence(0.2)
    # Inside the body it is data: an unknown packet (the checksum counts it).
    for body in (b"\x03qC", b"q\x03C", b"qC\x03"):
        c.send(frame(body))
        expect_eq(c.reply(), b"", f"the packet {body!r}")
    # In the checksum it is a bad digit: `-`, and nothing else.
    for data in (b"$qC#\x03b4", b"$qC#b\x034"):
        c.send(data)
        expect_eq(c.byte(), b"-", f"{data!r}")
        c.silence(0.2)
    expect_eq(c.request("qC"), b"QC1", "the next packet")
    return c


def case_zero_lengths(server, c):
    c.no_ack()
    pc = pc_of(c)
    expect_eq(c.request(f"m{hexnum(pc)},0"), b"", "m with length 0")
    expect_eq(c.request(f"M{hexnum(pc)},0:"), b"OK", "M with length 0")
    expect_eq(c.request(f"X{hexnum(pc)},0:"), b"OK", "X with length 0 (gdb's probe)")
    return c


def case_binary_read_and_error_texts(server, c):
    """x (binary-upload+), LLDB's x0,0 probe, E.text after error-message+, and the
    error strings, memory regions and host info LLDB asks for, on the KVM target."""
    c.no_ack()
    features = c.request("qSupported:swbreak+;error-message+")
    check(b";binary-upload+" in features and b";error-message+" in features, f"qSupported offers both: {features!r}")
    pc = pc_of(c)
    as_hex = c.request(f"m{hexnum(pc)},100")
    expect_eq(c.request(f"x{hexnum(pc)},100"), b"b" + bytes.fromhex(as_hex.decode()), "x: `b` and what m reads")
    expect_eq(c.request("x0,0"), b"b", "x0,0: `b`, not LLDB's old `OK`")
    # cguest64 runs in long mode with the low GiBs identity-mapped; the upper half is not.
    unmapped = 0xffff800000000000
    for p in (f"m{hexnum(unmapped)},4", f"x{hexnum(unmapped)},4"):
        got = c.request(p)
        check(re.fullmatch(rb"E\.address 0xffff800000000000 is not mapped in the guest's page tables "
                           rb"\(PML4E not present\)", got), f"{p}: E.text: {got!r}")
    got = c.request("m8000000000000000,4")
    check(got.startswith(b"E.address 0x8000000000000000 is not mapped") and b"non-canonical" in got,
          f"a non-canonical address says so: {got!r}")
    got = c.request("qRcmd," + b"no-such-command".hex())
    check(got.startswith(b"E.") and b"no-such-command" in got, f"a failed monitor command: {got!r}")
    region = c.request(f"qMemoryRegionInfo:{hexnum(pc)}")
    m = re.fullmatch(rb"start:([0-9a-f]+);size:([0-9a-f]+);permissions:(r?w?x?);", region)
    check(m and int(m.group(1), 16) <= pc < int(m.group(1), 16) + int(m.group(2), 16) and b"x" in m.group(3),
          f"qMemoryRegionInfo at the pc: a mapped, executable region holding it: {region!r}")
    region = c.request(f"qMemoryRegionInfo:{hexnum(unmapped)}")
    check(re.fullmatch(rb"start:ffff800000000000;size:[0-9a-f]+;", region), f"unmapped: no permissions: {region!r}")
    expect_eq(c.request("qHostInfo"), b"triple:" + b"x86_64-unknown-unknown".hex().encode() + b";ptrsize:8;endian:little;",
              "qHostInfo")
    c.request("qSupported:swbreak+")  # as LLDB: without error-message+, then its own request
    expect_eq(c.request("QEnableErrorStrings"), b"OK", "QEnableErrorStrings")
    got = c.request(f"m{hexnum(unmapped)},4")
    check(got.startswith(b"E0e;") and b"is not mapped" in bytes.fromhex(got[4:].decode()), f"LLDB's E0e;text: {got!r}")
    return c


def case_long_reads_and_region_walk(server, c):
    """m and x longer than a reply can hold are cut to fit ("Packets", m: fewer
    bytes than asked), as LLDB reads PacketSize bytes with x; and LLDB's walk over
    every region (qMemoryRegionInfo from 0, then at each region's end, until one
    ends at 2^64-1) ends, in steps that follow on from each other."""
    c.no_ack()
    features = c.request("qSupported:swbreak+")
    m = re.search(rb"PacketSize=([0-9a-f]+)", features)
    check(m, f"qSupported has PacketSize: {features!r}")
    packet_size = int(m.group(1), 16)
    pc = pc_of(c)
    ram = bytes.fromhex(c.request(f"m{hexnum(pc)},100").decode())
    for p in (f"m{hexnum(pc)},ffffffff", f"x{hexnum(pc)},{hexnum(packet_size)}"):
        got = c.request(p)
        data = bytes.fromhex(got.decode()) if p[0] == "m" else got[1:]
        check(0x100 <= len(data) and len(c.last_body) <= packet_size and data[:0x100] == ram,
              f"{p}: {len(data):#x} bytes, the reply on the wire ({len(c.last_body):#x}, escapes included) "
              f"within PacketSize {packet_size:#x}")
    addr, regions, top = 0, [], (1 << 64) - 1
    while len(regions) < 20000:
        got = c.request(f"qMemoryRegionInfo:{hexnum(addr)}")
        m = re.fullmatch(rb"start:([0-9a-f]+);size:([0-9a-f]+);(?:permissions:(r?w?x?);)?", got)
        check(m and int(m.group(1), 16) == addr and int(m.group(2), 16) > 0
              and addr + int(m.group(2), 16) <= top,
              f"qMemoryRegionInfo:{hexnum(addr)}: a region from there, not past 2^64-1: {got!r}")
        regions.append((addr, int(m.group(2), 16), m.group(3)))
        addr += int(m.group(2), 16)
        if addr == top:
            break
    check(addr == top, f"the region walk reached 2^64-1 in {len(regions)} steps (stopped at {addr:#x})")
    check(any(p and b"x" in p and a <= pc < a + n for a, n, p in regions), "the pc is in an executable region")
    check((1 << 47, 0xffff000000000000, None) in regions, "the non-canonical hole is one region")
    return c


def case_huge_and_overflowing(server, c):
    c.no_ack()
    pc = pc_of(c)
    top = "ffffffffffffffff"
    for p in (f"m{hexnum(pc)},{top}", f"m{top},2", f"m{top},1",
              "m10000000000000000,1", f"m{hexnum(pc)},10000000000000000", "m8000000000000000,10",
              f"M{top},2:0000", f"M{hexnum(pc)},{top}:00", "M10000000000000000,1:00",
              f"M{hexnum(pc)},ffffffff:00", "M8000000000000000,1:00"):
        expect_error(c.request(p), p)
    for p in (frame(f"X{top},2:ab"), frame(f"X{hexnum(pc)},ffffffff:a"), frame("X10000000000000000,1:a")):
        c.send(p)
        expect_error(c.reply(), p.decode())
    return c


def case_x_bad_escapes(server, c):
    pc = pc_of(c)
    for body in (f"X{hexnum(pc)},1:}}", f"X{hexnum(pc)},1:}}}}}}", f"X{hexnum(pc)},2:}}]",
                 f"X{hexnum(pc)},1:a*", f"X{hexnum(pc)},1:*a"):
        c.send(frame(body))  # raw: the escapes are the point
        expect_error(c.reply(), f"{body!r}, ack mode")
    c.no_ack()
    c.send(frame(f"X{hexnum(pc)},1:}}"))
    expect_error(c.reply(), "escape at the end, no-ack mode")
    return c


def case_z_unknown_kinds(server, c):
    c.no_ack()
    pc = pc_of(c)
    for p in (f"Z5,{hexnum(pc)},1", f"z9,{hexnum(pc)},1", f"Z7,{hexnum(pc)},1;X1,00", "Z9"):
        expect_eq(c.request(p), b"", p)
    for z_type, addr, kind in ((0, pc, 0), (0, pc, 0xFFFF), (0, pc, 0xFFFFFFFFFFFFFFFF), (1, pc, 0x10),
                               (1, pc, 0), (2, pc, 3), (2, pc, 0), (2, pc, 0x100000), (4, pc, 0),
                               (2, 0xFFFFFFFFFFFFFFFF, 8), (0, 0x8000000000000000, 1), (3, pc, 1)):
        args = f"{z_type},{hexnum(addr)},{hexnum(kind)}"
        r = c.request("Z" + args)
        check(r in (b"OK", b"") or ERROR.fullmatch(r), f"Z{args} gave {r!r}")
        if r == b"OK":
            expect_eq(c.request("z" + args), b"OK", f"z{args} after Z{args} said OK")
    return c


def case_p_unknown_registers(server, c):
    c.no_ack()
    for p in ("pffff", "p10000000000000000", "Pffff=00000000", "P1000=00", "Pffffffffffffffff=00",
              "P0=00", "P0=000000000000000000", "P10=zz", "P10="):
        expect_error(c.request(p), p)
    return c


def case_g_wrong_size(server, c):
    c.no_ack()
    regs = c.request("g").decode()
    for p in ("G" + regs[:-2], "G" + regs + "00", "G" + regs[:-1], "G", "G" + "zz" * (len(regs) // 2)):
        expect_error(c.request(p), p[:20] + "...")
    expect_eq(c.request("G" + regs), b"OK", "G of the right size (the same values)")
    return c


def case_vcont_unknown_threads(server, c):
    c.no_ack()
    for p in ("vCont;c:2", "vCont;s:2", "vCont;c:p2.1", "vCont;s:p2.-1", "vCont;c:p1.2", "vCont;C05:3",
              "vCont;c:zz", "vCont;x", "vCont;c:", "Hgp2.1", "Tp2.1", "T0", "T-1", "Hg2"):
        expect_error(c.request(p), p)
    expect_eq(c.request("Tp1.1"), b"OK", "Tp1.1")
    expect_eq(c.request("Hgp1.1"), b"OK", "Hgp1.1")
    return c


def case_unknown_packets(server, c):
    c.no_ack()
    for p in ("qFooBar", "qFooBar:1", "qFooBar,1", "vFooBar", "vFooBar;1", "QFooBar:1", "Qx", "vMustReplyEmpty",
              "qTStatus", "vFile:open:2f,0,0", "qXfer:auxv:read::0,100", "qXfer:features:write:target.xml:0:ab",
              "A", "b", "i", "!", "vRun;", "qL1200", "Z5,1000,1"):
        expect_eq(c.request(p), b"", p)
    xml = c.request("qXfer:features:read:target.xml:0,ffff")
    check(xml.startswith(b"l"), f"target.xml in one read: {xml[:40]!r}")
    end = len(xml) - 1
    expect_eq(c.request(f"qXfer:features:read:target.xml:{hexnum(end)},10"), b"l", "qXfer at the end")
    expect_error(c.request(f"qXfer:features:read:target.xml:{hexnum(end + 1)},10"), "qXfer past the end")
    return c


def connect_raw(server, first_bytes):
    """A client that sends `first_bytes` as its very first bytes, once the server
    has taken it (a refused one gets the refusal line: retried)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        k = server.client(handshake=False)
        k.send(first_bytes)
        try:
            k.silence(0.5)
            return k
        except Fail:
            if not k.buf.startswith(REFUSAL[:8]):
                raise
        k.close()
        check(time.monotonic() < deadline, "refused for too long")
        time.sleep(0.1)


def case_client_that_does_not_read(server, c):
    """Requests whose replies nobody reads must not pile up in kvmgdb's memory:
    it stops reading until its replies drain (each 19-byte request here asks for
    an 8 KiB reply: 32 MiB in all)."""
    c.no_ack()
    page = pc_of(c) & ~0xFFF
    req = frame(f"m{hexnum(page)},1000")
    want = c.request(f"m{hexnum(page)},1000")
    data = req * 4096
    rss = server.rss_kib()
    c.sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + 3
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += c.sock.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    growth, until = 0, time.monotonic() + 3  # kvmgdb works through what it read
    while growth < 8192 and time.monotonic() < until:
        time.sleep(0.1)
        growth = max(growth, server.rss_kib() - rss)
    c.sock.setblocking(True)
    c.sock.settimeout(TIMEOUT)
    rest = threading.Thread(target=c.sock.sendall, args=(data[sent:],), daemon=True)
    rest.start()  # the rest, from another thread: kvmgdb reads it only as we read its replies
    for i in range(len(data) // len(req)):
        expect_eq(c.reply(), want, f"reply {i}")
    rest.join()
    check(growth < 8192, f"kvmgdb's RSS grew by {growth} KiB while its replies were not read "
                         f"({sent // len(req)} requests sent)")
    return c


def case_silent_client(server, c):
    c.close()
    silent = connect_raw(server, b"")
    # It holds the server: another client is refused meanwhile.
    other = server.client(handshake=False)
    expect_eq(other.sock.recv(len(REFUSAL), socket.MSG_WAITALL), REFUSAL, "a second client while the first says nothing")
    other.close()
    time.sleep(1.0)
    silent.close()
    return None


def case_disconnect_mid_packet(server, c):
    c.no_ack()
    c.send(b"$qC")  # no `#`
    c.close()
    # The next client's first bytes would complete that frame if it were kept.
    k = connect_raw(server, b"#b4")
    k.send(b"$qC#b")  # and now one that leaves mid-checksum
    k.close()
    k = connect_raw(server, b"4")
    expect_eq(k.request("qC"), b"QC1", "a new client starts in ack mode with no partial frame")
    k.close()
    return None


def case_ctrl_c_while_running(server, c):
    c.no_ack()
    before = c.request("g")
    expect_eq(c.request("vCont?")[:9], b"vCont;c;C", "vCont?")
    c.send(frame("vCont;c"))
    c.silence(0.5)  # running: the stop reply comes later
    expect_eq(c.request("qC"), b"E10", "a packet while running (EBUSY)")
    c.send(b"\x03")
    stop = c.frame_payload()
    check(re.match(rb"[TS]02", stop), f"stop reply to 0x03: {stop!r}")
    expect_eq(c.request("?"), stop, "? after the stop")
    check(c.request("g") != before, "the guest ran (its registers changed)")
    c.send(b"\x03")  # crossed the stop reply: ignored
    c.silence(0.3)
    # vCont;c and 0x03 in one write (gdbserver's case: the 0x03 already waits).
    c.send(frame("vCont;c") + b"\x03")
    stop = c.frame_payload()
    check(re.match(rb"[TS]02", stop), f"stop reply to vCont;c+0x03: {stop!r}")
    # In ack mode, on a new connection.
    c.close()
    c = server.client()
    c.send(frame("vCont;c"))
    expect_eq(c.byte(), b"+", "ack of vCont;c")
    c.silence(0.3)
    c.send(b"\x03")
    stop = c.frame_payload()
    check(re.match(rb"[TS]02", stop), f"stop reply in ack mode: {stop!r}")
    c.send(b"+")
    return c


def case_non_stop(server, c):
    """ "Remote Non-Stop" on the spinning guest (one vCPU): resumes answered OK, the
    stop of vCont;t as a %Stop notification (never acked) with signal 0, memory read
    while the vCPU runs, vStopped draining, and back to all-stop."""
    c.no_ack()
    check(b"QNonStop+" in c.request("qSupported:swbreak+"), "qSupported offers QNonStop+")
    expect_eq(c.request("QNonStop:1"), b"OK", "QNonStop:1")
    stop = c.request("?")
    check(re.match(rb"T..thread:(p1\.)?0*1;", stop), f"? in non-stop names the stopped thread: {stop!r}")
    expect_eq(c.request("vStopped"), b"OK", "vStopped: no other stopped thread")
    pc = pc_of(c)
    code = c.request(f"m{pc:x},4")
    expect_eq(c.request("vCont;c:1"), b"OK", "vCont;c is answered OK in non-stop mode")
    c.silence(0.3)
    expect_eq(c.request(f"m{pc:x},4"), code, "memory is read while the vCPU runs")
    expect_error(c.request("g"), "registers of a running thread")
    expect_eq(c.request("vCont;t:1"), b"OK", "vCont;t")
    note = c.frame_payload(b"%")
    check(re.match(rb"Stop:T00", note), f"%Stop notification with signal 0: {note!r}")
    expect_eq(c.request("vStopped"), b"OK", "vStopped after the one notification")
    check(re.fullmatch(rb"[0-9a-f]+", c.request("g")) is not None, "registers once stopped")
    expect_eq(c.request("vCont;t:1"), b"OK", "vCont;t of a stopped thread")
    c.silence(0.3)  # and no notification for it
    expect_eq(c.request("QNonStop:0"), b"OK", "QNonStop:0")
    return c


def case_disconnect_mid_continue(server, c):
    c.no_ack()
    c.send(frame("vCont;c"))
    c.silence(0.3)
    c.close()
    c = server.client()
    check(re.match(rb"[TS][0-9a-f]{2}", wait_stopped(c)), "a stop reply for the next client")
    assert_stays_stopped(c)
    return c


def case_sigkill_mid_continue(server, c):
    c.close()
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child-continue", str(server.port)],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = child.stdout.readline()
        expect_eq(line, b"running\n", "the child client's report")
        time.sleep(0.5)
        child.kill()
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    c = server.client()
    check(re.match(rb"[TS][0-9a-f]{2}", wait_stopped(c)), "a stop reply for the next client")
    assert_stays_stopped(c)
    return c


def case_reconnect_forgets_features(server, c):
    """swbreak:/hwbreak: only for a gdb that asked for them in its own qSupported."""
    c.no_ack()
    check(b"swbreak+" in c.supported, f"qSupported offers swbreak+: {c.supported!r}")
    c.send(frame("vCont;c"))
    c.silence(0.3)
    c.send(b"\x03")
    check(re.match(rb"T02", c.frame_payload()), "stopped by 0x03")
    pc = pc_of(c)  # inside the spin loop: it comes back here
    expect_eq(c.request(f"Z0,{hexnum(pc)},1"), b"OK", "Z0 at the loop's pc")
    c.send(frame("vCont;c"))
    stop = c.frame_payload()
    check(re.match(rb"T05", stop) and b";swbreak:;" in stop, f"breakpoint stop with swbreak: {stop!r}")
    expect_eq(pc_of(c), pc, "pc at the breakpoint")
    expect_eq(c.request(f"z0,{hexnum(pc)},1"), b"OK", "z0")
    c.close()
    k = connect_raw(server, b"")  # no qSupported: nothing negotiated
    stop = k.request("?")
    check(re.match(rb"T05", stop) and b"swbreak" not in stop, f"? for a gdb that did not ask: {stop!r}")
    k.send(frame("qSupported:swbreak+"))
    k.reply()
    stop = k.request("?")
    check(b";swbreak:;" in stop, f"? once it asked: {stop!r}")
    return k


def monitor(c, command):
    """qRcmd: its text, from `O` packets ended by OK or from a final hex reply
    ("General Query Packets", qRcmd)."""
    c.send(frame("qRcmd," + command.encode().hex()))
    text = b""
    while True:
        payload = c.reply()
        if payload == b"OK":
            return text.decode()
        if payload.startswith(b"O"):
            text += bytes.fromhex(payload[1:].decode())
            continue
        check(re.fullmatch(rb"([0-9a-f]{2})+", payload) is not None, f"monitor {command}: {payload[:80]!r}")
        return (text + bytes.fromhex(payload.decode())).decode()


def case_disconnect_with_breakpoints_inserted(server, c):
    """The old gdb's breakpoints and watchpoints go with it, also while the guest runs:
    the target is interrupted, the stop swallowed, every patch and protected page removed,
    so the next gdb's continue is not stopped by a breakpoint it never set."""
    c.no_ack()
    c.send(frame("vCont;c"))
    c.silence(0.3)
    c.send(b"\x03")
    check(re.match(rb"T02", c.frame_payload()), "stopped by 0x03")
    pc = pc_of(c)  # inside the spin loop: it comes back here
    page = pc & ~0xFFF
    expect_eq(c.request(f"Z0,{hexnum(pc)},1"), b"OK", "Z0 at the loop's pc")
    expect_eq(c.request(f"Z2,{hexnum(page + 0xFF8)},8"), b"OK", "Z2 on the code page (never written)")
    check("1 patched breakpoint(s)" in monitor(c, "info debug"), "the patch is in place")
    c.send(frame("vCont;s"))  # off the breakpoint (the step does not hit it: a Z0 at pc is hit)
    stop = c.frame_payload()
    check(re.match(rb"T05", stop), f"a step or breakpoint stop: {stop!r}")
    expect_eq(c.request(f"z0,{hexnum(pc)},1"), b"OK", "z0 to leave pc")
    c.send(frame("vCont;s"))
    check(re.match(rb"T05", c.frame_payload()), "stepped")
    expect_eq(c.request(f"Z0,{hexnum(pc)},1"), b"OK", "Z0 again")
    c.send(frame("vCont;c"))  # it comes back to pc at once: T05, or still running when we go
    c.close()
    k = server.client()
    check(re.match(rb"[TS][0-9a-f]{2}", wait_stopped(k)), "a stop reply for the next client")
    info = monitor(k, "info debug")
    check("set now: 0 patched breakpoint(s), 0 debug register(s), 0 page-protection watchpoint(s), 0 protected page(s)"
          in info, f"nothing of the old gdb's is left: {info!r}")
    k.no_ack()
    k.send(frame("vCont;c"))
    k.silence(0.3)  # the loop passes pc all the time: no breakpoint there any more
    k.send(b"\x03")
    stop = k.frame_payload()
    check(re.match(rb"T02", stop), f"the next stop is the interrupt, not the old breakpoint: {stop!r}")
    return k


def case_connect_cycles(server, c):
    c.close()

    def cycle(i):
        k = server.client()
        check(re.match(rb"[TS][0-9a-f]{2}", k.request("?")), "stop reply")
        if i % 2:
            k.no_ack()
            expect_eq(k.request("qC"), b"QC1", "qC")
        k.close()

    def settled_fds(want=None):
        # The server notices a close asynchronously: give it a moment.
        deadline = time.monotonic() + 5
        n = server.fd_count()
        while want is not None and n != want and time.monotonic() < deadline:
            time.sleep(0.05)
            n = server.fd_count()
        return n

    for i in range(20):  # warm-up: allocator pools, the first connection's buffers
        cycle(i)
    time.sleep(0.3)
    fds, rss = settled_fds(), server.rss_kib()
    for i in range(200):
        cycle(i)
    after = settled_fds(fds)
    expect_eq(after, fds, "kvmgdb's open fds after 200 connect/close cycles")
    growth = server.rss_kib() - rss
    check(growth < 2048, f"kvmgdb's RSS grew by {growth} KiB over 200 cycles")
    return None


# (name, function, state may change, which guest)
STATIC = [
    ("overlong packet", case_overlong),
    ("10 MB without '#'", case_ten_megabytes_without_hash),
    ("bad checksums", case_bad_checksum),
    ("one byte per write", case_one_byte_per_write),
    ("many packets in one write", case_many_packets_in_one_write),
    ("0x03 while stopped, in every position", case_ctrl_c_while_stopped),
    ("m/M/X with length 0", case_zero_lengths),
    ("x, E.text (error-message), LLDB's regions and error strings", case_binary_read_and_error_texts),
    ("m/x longer than PacketSize, LLDB's walk over all regions", case_long_reads_and_region_walk),
    ("m/M/X huge lengths, overflowing addresses", case_huge_and_overflowing),
    ("X with bad escapes", case_x_bad_escapes),
    ("Z with unknown types, kinds and lengths", case_z_unknown_kinds),
    ("p/P unknown registers", case_p_unknown_registers),
    ("G of the wrong size", case_g_wrong_size),
    ("vCont/H/T naming unknown threads", case_vcont_unknown_threads),
    ("unknown q/v/Q packets", case_unknown_packets),
    ("client that does not read its replies", case_client_that_does_not_read),
    ("client that sends nothing", case_silent_client),
    ("disconnect mid-packet", case_disconnect_mid_packet),
    ("200 connect/close cycles: fds and RSS flat", case_connect_cycles),
]
RUNNING = [
    ("0x03 while running", case_ctrl_c_while_running),
    ("non-stop: OK resumes, %Stop, vStopped, memory while running", case_non_stop),
    ("disconnect mid-continue", case_disconnect_mid_continue),
    ("SIGKILLed client mid-continue", case_sigkill_mid_continue),
    ("a reconnecting client starts without the old one's swbreak+", case_reconnect_forgets_features),
    ("disconnect with breakpoints and watchpoints inserted", case_disconnect_with_breakpoints_inserted),
]


def run_case(server, name, fn, changes_state, results):
    t0 = time.monotonic()
    try:
        check(server.alive(), f"kvmgdb is not running (status {server.proc.returncode})")
        c = server.client()
        before = None if changes_state else snapshot(c)
        c = fn(server, c)
        if c is None:
            c = server.client()
        # The next well-formed packet is answered, and nothing changed that should not have.
        expect_eq(c.request("qC"), b"QC1", "the next well-formed packet")
        if changes_state:
            check(re.match(rb"[TS][0-9a-f]{2}", c.request("?")), "the guest is stopped afterwards")
        else:
            after = snapshot(c)
            expect_eq(after[0], before[0], "the stop reply (?)")
            expect_eq(after[1], before[1], "the registers (g)")
            expect_eq(after[2], before[2], "the memory page of the pc")
        c.close()
        results.append(True)
        print(f"PASS  {name} ({time.monotonic() - t0:.1f} s)", flush=True)
    except (Fail, OSError) as e:
        results.append(False)
        print(f"FAIL  {name}: {e}", flush=True)


def run_final(server, name, fn, results):
    t0 = time.monotonic()
    try:
        fn(server)
        results.append(True)
        print(f"PASS  {name} ({time.monotonic() - t0:.1f} s)", flush=True)
    except (Fail, OSError) as e:
        results.append(False)
        print(f"FAIL  {name}: {e}", flush=True)


def final_detach(server):
    c = server.client()
    expect_eq(c.request("D"), b"OK", "D")
    check(c.closed_by_peer(), "kvmgdb closes the connection after D")
    status = server.wait_exit(60)
    expect_eq(status, 0, "kvmgdb's exit status once the detached cguest64 halts")


def final_kill(server):
    c = server.client(no_ack=True)
    c.send(frame("k"))
    check(c.closed_by_peer(), "kvmgdb closes the connection after k, with no reply")
    expect_eq(server.wait_exit(60), 0, "kvmgdb's exit status after k")


def child_continue(port):
    """--child-continue: resume the guest, say so, then wait to be killed."""
    c = Client(port, no_ack=True)
    c.send(frame("vCont;c"))
    sys.stdout.write("running\n")
    sys.stdout.flush()
    time.sleep(600)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvmgdb")
    ap.add_argument("--guests", help="the build's guests/ directory")
    ap.add_argument("-k", default="", help="run only the cases whose name contains this")
    ap.add_argument("--child-continue", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_continue:
        child_continue(args.child_continue)
        return 0
    if not args.kvmgdb or not args.guests:
        ap.error("--kvmgdb and --guests are required")

    results = []
    for guest, cases, changes_state, final in (("cguest64.elf", STATIC, False, ("D: kvmgdb exits once the guest ends", final_detach)),
                                               ("spin-long.elf", RUNNING, True, ("k: no reply, kvmgdb exits 0", final_kill))):
        selected = [(n, f) for n, f in cases if args.k in n]
        if not selected:
            continue
        try:
            server = Kvmgdb(args.kvmgdb, os.path.join(args.guests, guest))
        except Fail as e:
            print(f"FAIL  starting kvmgdb with {guest}: {e}")
            results.append(False)
            continue
        try:
            for name, fn in selected:
                run_case(server, name, fn, changes_state, results)
            if args.k in final[0]:
                run_final(server, final[0], final[1], results)
        finally:
            server.stop()
            if not all(results):
                print(f"---- kvmgdb {guest} stderr (last 3000 bytes) ----\n{server.text('stderr')[-3000:]}")
    passed = sum(results)
    print(f"rsp: {passed} passed, {len(results) - passed} failed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
