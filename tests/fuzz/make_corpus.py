#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

  make_corpus.py [--guests BUILD/guests]

Sources:
  - packet-logs/*.log: real sessions, kvmgdb --log-packets while the gdb scenarios
    ran (see docs/reliability.md); each gives a request seed per distinct packet gdb
    sent, a codec seed (the framed stream gdb sent) and a session seed (the packets
    as session_fuzz.cpp records, with a stop record after each resume);
  - hand-written exchanges from the GDB manual's Remote Protocol appendix, for what
    the logs do not have (RLE, escapes, bad checksums, Ctrl-C, multiprocess ids);
  - ELF images: a valid ELF32 and ELF64 built here, the malformed variants that
    tests/unit/elf_loader_test.cpp checks one by one, and (with --guests) the real
    guests of a build.
The output is deterministic; file names say what each seed is.
"""
import argparse
import hashlib
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


# --- RSP -------------------------------------------------------------------------

def escape(payload: bytes) -> bytes:
    out = bytearray()
    for b in payload:
        if b in b"$#}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def frame(payload: bytes, raw: bool = False) -> bytes:
    body = payload if raw else escape(payload)
    return b"$" + body + b"#" + b"%02x" % (sum(body) % 256)


def unlog(text: str) -> bytes:
    """A --log-packets payload back to bytes (non-printables and \\ are \\xNN)."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text).encode("latin-1")


def read_log(path: pathlib.Path):
    """[(direction, payload bytes)] from a --log-packets file."""
    entries = []
    for line in path.read_text(encoding="latin-1").splitlines():
        m = re.match(r"^\S+ (<-|->) ?(.*)$", line)
        if m:
            entries.append((m.group(1), unlog(m.group(2))))
    return entries


RESUMES = re.compile(rb"^(c|s|C[0-9a-f]{2}|S[0-9a-f]{2}|vCont;[cCsS])")

# session_fuzz.cpp record tags
PACKET, RAW, STOP, DISCONNECT, FAULTS, BIG = 0, 3, 4, 5, 6, 7
# StopEvent::Kind order in stub/debug_target.hpp
KINDS = {"signal": 0, "swbreak": 1, "hwbreak": 2, "watch": 3, "rwatch": 4, "awatch": 5,
         "exited": 6, "terminated": 7}


def stop_of(reply: bytes):
    """(kind, signal) of a logged stop reply."""
    text = reply.decode("latin-1")
    if text.startswith("W"):
        return KINDS["exited"], int(text[1:3], 16)
    if text.startswith("X"):
        return KINDS["terminated"], int(text[1:3], 16)
    signal = int(text[1:3], 16) if len(text) >= 3 else 5
    for name in ("swbreak", "hwbreak", "rwatch", "awatch", "watch"):
        if name + ":" in text:
            return KINDS[name], signal
    return KINDS["signal"], signal


def packet_record(payload: bytes) -> bytes:
    if len(payload) <= 255:
        return bytes([PACKET, len(payload)]) + payload
    return bytes([BIG]) + struct.pack("<H", len(payload)) + payload


def session_seed(entries) -> bytes:
    out = bytearray()
    pending_resume = False
    for direction, payload in entries:
        if direction == "<-":
            # the log's descriptions of what is not a packet (describe(Event))
            if payload == b"Interrupt":
                out += bytes([RAW, 1, 3])
                continue
            if payload == b"Nack":
                out += bytes([RAW, 1, ord("-")])
                continue
            if payload.startswith(b"BadPacket{"):
                continue
            out += packet_record(payload)
            pending_resume = bool(RESUMES.match(payload))
        elif pending_resume and payload[:1] in (b"T", b"S", b"W", b"X"):
            kind, signal = stop_of(payload)
            out += bytes([STOP, kind, signal, 0])
            pending_resume = False
    return bytes(out)


HAND_REQUESTS = [
    b"?", b"g", b"G" + b"00" * 8, b"p10", b"pff", b"P10=0010000000000000", b"P0=zz",
    b"m0,0", b"m1000,10", b"mffffffffffffffff,2", b"m1000,ffffffffffffffff", b"M1000,2:abcd",
    b"M1000,3:ab", b"X1000,0:", b"X1000,4:" + bytes([0x7D, 0x23, 0x00, 0xFF]), b"c", b"c100000",
    b"C05", b"C0b;100000", b"s", b"S02;1000", b"vCont?", b"vCont;c", b"vCont;s:1;c",
    b"vCont;C05:p1.1;c:p1.-1", b"vCont;r1000,2000:1", b"vCont;t", b"vCont;", b"k", b"vKill;1",
    b"D", b"D;1", b"Hg0", b"Hgp1.1", b"Hc-1", b"Hgp-1.-1", b"T1", b"Tp1.1", b"vCtrlC", b"qC",
    b"qfThreadInfo", b"qsThreadInfo", b"qThreadExtraInfo,1", b"qAttached", b"qAttached:1",
    b"qSupported", b"qSupported:multiprocess+;swbreak+;hwbreak+;PacketSize=1000;xmlRegisters=i386",
    b"QStartNoAckMode", b"QThreadEvents:1", b"qXfer:features:read:target.xml:0,ffb",
    b"qXfer:features:read:i386-64bit.xml:ffff,10", b"qXfer:memory-map:read::0,100",
    b"qRcmd,68656c70", b"qRcmd,696e666f207265677320", b"qRcmd,7", b"qOffsets", b"qSymbol::",
    b"qSymbol:1000:6d61696e", b"vMustReplyEmpty", b"Z0,100000,1", b"Z1,100000,1",
    b"Z2,102000,8", b"Z3,102000,4", b"Z4,102000,2", b"Z0,100000,1;X3,220100", b"Z0,1000,1;cmds:0,X2,0102",
    b"z0,100000,1", b"z4,102000,2", b"Z5,0,0", b"Z0,,1", b"", b"x", b"qRcmd,",
    # binary reads, error-message+, LLDB's packets
    b"x0,0", b"x1000,10", b"xffffffffffffffff,2", b"qSupported:swbreak+;error-message+", b"qHostInfo",
    b"qProcessInfo", b"QListThreadsInStopReply", b"QEnableErrorStrings", b"qMemoryRegionInfo:1000",
    b"qMemoryRegionInfo:ffffffffffffffff", b"qMemoryRegionInfo:",
]

HAND_STREAMS = [
    b"+" + frame(b"qSupported") + b"+",                       # acks around a packet
    frame(b"m1000,4") + b"-",                                  # a nack after it
    b"$m1000,4#00",                                            # checksum mismatch
    b"$m1000,4#zz",                                            # bad checksum digits
    b"$0* #" + b"%02x" % (sum(b"0* ") % 256),                  # RLE: "0000"
    frame(b"X1000,1:}", raw=True),                             # escape at the end
    frame(b"*1", raw=True) + frame(b"a*", raw=True),          # RLE first / last
    frame(b"a*\x7f", raw=True),                                # RLE count out of range
    b"\x03",                                                   # Ctrl-C
    frame(b"vCont;c") + b"\x03" + frame(b"?"),                 # Ctrl-C between packets
    b"$m10$" + frame(b"g"),                                    # a `$` cutting a frame short
    frame(bytes(range(256))),                                  # every byte, escaped
]


def codec_seed(stream: bytes, cap: int = 0x80, seed: int = 0x9E3779B9) -> bytes:
    return bytes([cap]) + struct.pack("<I", seed) + stream


# --- ELF -------------------------------------------------------------------------

PT_LOAD, PT_NOTE = 1, 4


def elf(is64=True, entry=0x100010, segs=None, **over):
    """The layout of elf_loader_test.cpp's writer: header, program headers, then each
    segment's file bytes. segs: (type, paddr, vaddr, filesz, memsz). over: header fields."""
    if segs is None:
        segs = [(PT_LOAD, 0x100000, 0x100000, 0x40, 0x40), (PT_LOAD, 0x101000, 0x101000, 0x20, 0x200)]
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    h = dict(cls=2 if is64 else 1, data=1, ver=1, type=2, machine=62 if is64 else 3, version=1,
             entry=entry, phoff=ehsize, ehsize=ehsize, phentsize=phentsize, phnum=len(segs))
    h.update(over)
    data_off = ehsize + phentsize * len(segs)
    ident = b"\x7fELF" + bytes([h["cls"], h["data"], h["ver"]]) + bytes(9)
    if is64:
        hdr = ident + struct.pack("<HHIQQQIHHHHHH", h["type"], h["machine"], h["version"], h["entry"],
                                  h["phoff"], 0, 0, h["ehsize"], h["phentsize"], h["phnum"], 0, 0, 0)
    else:
        hdr = ident + struct.pack("<HHIIIIIHHHHHH", h["type"], h["machine"], h["version"], h["entry"],
                                  h["phoff"], 0, 0, h["ehsize"], h["phentsize"], h["phnum"], 0, 0, 0)
    phdrs, body, off = b"", b"", data_off
    for i, (ptype, paddr, vaddr, filesz, memsz) in enumerate(segs):
        if is64:
            phdrs += struct.pack("<IIQQQQQQ", ptype, 5, off, vaddr, paddr, filesz, memsz, 0x1000)
        else:
            phdrs += struct.pack("<IIIIIIII", ptype, off, vaddr, paddr, filesz, memsz, 5, 0x1000)
        body += bytes((0x11 * (i + 1) + k * 7) % 256 for k in range(filesz))
        off += filesz
    return hdr + phdrs + body


def elf_seeds():
    ok64, ok32 = elf(True), elf(False)
    def patch(img, off, fmt, value):
        b = bytearray(img)
        struct.pack_into(fmt, b, off, value)
        return bytes(b)
    s = {
        "elf64-two-segments": ok64,
        "elf32-two-segments": ok32,
        "elf64-higher-half-entry": elf(True, entry=0xFFFFFFFF80100010,
                                       segs=[(PT_LOAD, 0x100000, 0xFFFFFFFF80100000, 0x40, 0x40)]),
        "elf64-note-and-empty-load": elf(True, segs=[(PT_NOTE, 0, 0, 0x10, 0x10), (PT_LOAD, 0x200000, 0x200000, 0, 0),
                                                     (PT_LOAD, 0x100000, 0x100000, 0x40, 0x40)]),
        "elf64-touching-segments": elf(True, segs=[(PT_LOAD, 0x100000, 0x100000, 0x40, 0x40),
                                                   (PT_LOAD, 0x100040, 0x100040, 0x10, 0x80)]),
        "elf64-bss-only-segment": elf(True, segs=[(PT_LOAD, 0x100000, 0x100000, 0x40, 0x40),
                                                  (PT_LOAD, 0x8000, 0x8000, 0, 0x1000)]),
        "elf64-at-64k-ram-end": elf(True, entry=0xff00, segs=[(PT_LOAD, 0xff00, 0xff00, 0x40, 0x100)]),
        "elf32-real-mode-low": elf(False, entry=0x8000, segs=[(PT_LOAD, 0x8000, 0x8000, 0x40, 0x40)]),
        "empty": b"",
        "bad-magic": b"\x7fELG" + ok64[4:],
        "truncated-ident": ok64[:10],
        "truncated-elf64-header": ok64[:40],
        "truncated-elf32-header": ok32[:51],
        "class-none": elf(True, cls=0),
        "class-bad": elf(True, cls=7),
        "big-endian": elf(True, data=2),
        "bad-data-encoding": elf(True, data=0),
        "bad-ident-version": elf(True, ver=0),
        "bad-header-version": elf(True, version=2),
        "shared-object": elf(True, type=3),
        "relocatable": elf(True, type=1),
        "core": elf(True, type=4),
        "elf64-em386": elf(True, machine=3),
        "elf32-emx86_64": elf(False, machine=62),
        "foreign-machine": elf(True, machine=183),
        "bad-ehsize": elf(True, ehsize=63),
        "bad-phentsize": elf(True, phentsize=55),
        "no-program-headers": elf(True, phnum=0),
        "extended-phnum": elf(True, phnum=0xFFFF),
        "phdrs-past-eof": elf(True)[:64 + 56],
        "phoff-past-eof": elf(True, phoff=0xFFFFFFF0),
        "phoff-overflows": elf(True, phoff=0xFFFFFFFFFFFFFFF0),
        "segment-past-eof": ok64[:-1],
        "segment-offset-past-eof": patch(ok64, 64 + 8, "<Q", 0x100000),
        "segment-offset-overflows": patch(ok64, 64 + 8, "<Q", 0xFFFFFFFFFFFFFFF8),
        "filesz-above-memsz": patch(ok64, 64 + 40, "<Q", 0x20),
        "segment-outside-ram": elf(True, entry=0x4000010, segs=[(PT_LOAD, 0x4000000, 0x4000000, 0x40, 0x40)]),
        "segment-straddles-ram-end": elf(True, entry=0xfff0, segs=[(PT_LOAD, 0xffc0, 0xffc0, 0x40, 0x80)]),
        "segment-address-wraps": elf(True, entry=0xFFFFFFFFFFFFFFF0,
                                     segs=[(PT_LOAD, 0xFFFFFFFFFFFFFFC0, 0xFFFFFFFFFFFFFFC0, 0x40, 0x80)]),
        "elf32-past-4g": elf(False, entry=0xFFFFFFF0, segs=[(PT_LOAD, 0xFFFFFFC0, 0xFFFFFFC0, 0x40, 0x80)]),
        "no-load-segment": elf(True, segs=[(PT_NOTE, 0, 0, 0x10, 0x10)]),
        "only-empty-loads": elf(True, segs=[(PT_LOAD, 0x100000, 0x100000, 0, 0)]),
        "entry-outside": elf(True, entry=0x300000),
        "entry-in-skipped-segment": elf(True, entry=0x200000, segs=[(PT_LOAD, 0x200000, 0x200000, 0, 0),
                                                                    (PT_LOAD, 0x100000, 0x100000, 0x40, 0x40)]),
        "overlapping-segments": elf(True, segs=[(PT_LOAD, 0x100000, 0x100000, 0x40, 0x40),
                                                (PT_LOAD, 0x100020, 0x100020, 0x40, 0x40)]),
        "overlapping-out-of-order": elf(True, segs=[(PT_LOAD, 0x100020, 0x100020, 0x40, 0x40),
                                                    (PT_LOAD, 0x100000, 0x100000, 0x40, 0x40)]),
        "identical-segments": elf(True, segs=[(PT_LOAD, 0x100000, 0x100000, 0x40, 0x40)] * 2),
    }
    return s


# Real guests (docs/guests.md): each mode, a high load address, a last-byte entry.
GUESTS = ["cguest16", "cguest32", "cguest64", "hello-real", "hello-protected", "high-long",
          "lastbyte-long", "real-to-long", "selfmod-long"]


# --- output ----------------------------------------------------------------------

def write(target: str, seeds: dict):
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name, data in sorted(seeds.items()):
        (d / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds, {sum(len(v) for v in seeds.values())} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guests", type=pathlib.Path, help="a build's guests/ directory: its ELFs become seeds")
    args = ap.parse_args()

    logs = sorted((HERE / "packet-logs").glob("*.log"))
    requests, codec, session = {}, {}, {}
    for log in logs:
        entries = read_log(log)
        sent = [p for d, p in entries if d == "<-" and p not in (b"Interrupt", b"Nack")
                and not p.startswith(b"BadPacket{")]
        for p in sent:
            requests.setdefault("log-" + hashlib.sha1(p).hexdigest()[:12], p)
        stream = b"".join(b"\x03" if p == b"Interrupt" else b"-" if p == b"Nack" else frame(p) + b"+"
                          for d, p in entries if d == "<-" and not p.startswith(b"BadPacket{"))
        codec[f"log-{log.stem}"] = codec_seed(stream)
        session[f"log-{log.stem}"] = session_seed(entries)
    for i, p in enumerate(HAND_REQUESTS):
        requests[f"manual-{i:02d}"] = p
    for i, s in enumerate(HAND_STREAMS):
        codec[f"manual-{i:02d}"] = codec_seed(s)
        codec[f"manual-{i:02d}-cap17"] = codec_seed(s, cap=1, seed=i)
    # Sessions by hand: every request once, ack mode and no-ack mode, a resume
    # interrupted by 0x03 and by vCtrlC, a disconnect while running, failing targets.
    every = b"".join(packet_record(p) for p in HAND_REQUESTS if not RESUMES.match(p) and p[:1] not in b"kD")
    noack = packet_record(b"QStartNoAckMode")
    session["manual-every-request"] = every
    session["manual-every-request-noack"] = noack + every
    session["manual-resume-ctrl-c"] = (packet_record(b"vCont;c") + bytes([RAW, 1, 3, STOP, 0, 2, 0]) +
                                       packet_record(b"g"))
    session["manual-resume-vctrlc-mode-switch"] = (packet_record(b"c") + packet_record(b"vCtrlC") +
                                                   bytes([STOP, 0, 2, 2]) + packet_record(b"g") +
                                                   packet_record(b"p10"))
    session["manual-disconnect-running"] = (packet_record(b"Z0,1000,1") + packet_record(b"c") +
                                            bytes([DISCONNECT]) + packet_record(b"?") + bytes([STOP, 0, 2, 0]) +
                                            packet_record(b"?"))
    session["manual-failing-target"] = (bytes([FAULTS, 0x3F]) + every + bytes([FAULTS, 0]) +
                                        packet_record(b"s"))
    session["manual-exit-then-resume"] = (packet_record(b"c") + bytes([STOP, 6, 7, 0]) + packet_record(b"c") +
                                          packet_record(b"?"))
    session["manual-big-write"] = bytes([BIG]) + struct.pack("<H", 4200) + b"M1000,830:" + b"ab" * 2095
    session["manual-kill-then-bytes"] = packet_record(b"k") + packet_record(b"g") + bytes([DISCONNECT]) + packet_record(b"g")

    elves = elf_seeds()
    if args.guests:
        # Stripped: the loader reads headers and segments only, and small seeds fuzz faster.
        for name in GUESTS:
            stripped = pathlib.Path(tempfile.mkdtemp()) / name
            subprocess.run(["strip", "--strip-all", "-o", str(stripped), str(args.guests / f"{name}.elf")],
                           check=True)
            elves[f"guest-{name}"] = stripped.read_bytes()
            shutil.rmtree(stripped.parent)

    write("request", requests)
    write("codec", codec)
    write("session", session)
    write("elf_loader", elves)


if __name__ == "__main__":
    main()
