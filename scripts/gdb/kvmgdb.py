# kvmgdb's gdb extension (docs/modes.md). Load it with
#     (gdb) source /path/to/kvmgdb.py          # the path: `kvmgdb --print-gdb-extension`
# before or after `target remote`.
#
# 1. It keeps gdb's architecture in step with the CPU: at every stop (and when it
#    is sourced, and at the first prompt after a connection) it asks kvmgdb
#    `monitor info mode` and sets `i8086` in real mode, `i386` in the 32-bit modes
#    and `i386:x86-64` whenever the register layout gdb holds is the 64-bit one.
#    gdb takes its disassembler from the ELF when one is loaded (an EM_386 file
#    means i386 even for 16-bit code), so without this `x/i` shows real-mode code
#    as 32-bit code.
# 2. Commands for the system state a kernel developer reads:
#      kvmgdb mode           the CPU mode, paging, layouts, gdb's architecture
#      kvmgdb gdt            the GDT decoded (base, limit, type, DPL, P, L, D/B, G)
#      kvmgdb idt            the IDT decoded (gates: selector, offset, type, DPL, P;
#                            the IVT's seg:off vectors in real mode)
#      kvmgdb walk ADDR      the page-table walk of a linear address (ADDR is any
#                            gdb expression: &var, $pc, 0x100000)
#      kvmgdb sync           set gdb's architecture now
# Only kvmgdb's monitor commands and memory reads are used: nothing here needs a
# particular gdb beyond Python support (gdb 12 or later for Inferior.architecture).
import re

import gdb

ARCH_REAL = "i8086"
ARCH_32 = "i386"
ARCH_64 = "i386:x86-64"


def _monitor(command):
    return gdb.execute("monitor " + command, to_string=True)


class Mode:
    """What `monitor info mode` says: the CPU mode and the layout gdb holds."""

    def __init__(self, text):
        self.text = text
        first = text.strip().splitlines()[0] if text.strip() else ""
        self.cpu = first.split(",")[0].strip()  # "real mode", "protected mode", "long mode (64-bit)", ...
        m = re.search(r"register layout: (\S+?),", first)
        self.cpu_layout = m.group(1) if m else ""
        # The session adds this line when gdb holds another layout than the CPU's.
        m = re.search(r"gdb's register layout on this connection: (\S+)", text)
        self.gdb_layout = m.group(1) if m else self.cpu_layout

    @property
    def real(self):
        return self.cpu.startswith("real mode")

    @property
    def ia32e(self):  # long or compatibility mode: 16-byte gates and system descriptors
        return self.cpu.startswith("long mode") or self.cpu.startswith("compatibility mode")

    def gdb_architecture(self):
        if self.gdb_layout == ARCH_64:
            return ARCH_64
        return ARCH_REAL if self.real else ARCH_32


def current_mode():
    return Mode(_monitor("info mode"))


def sync():
    """Sets gdb's architecture for the CPU's mode; returns it, or None when kvmgdb cannot be asked."""
    try:
        mode = current_mode()
    except gdb.error:
        return None  # not connected, or the target is running
    want = mode.gdb_architecture()
    try:
        have = gdb.selected_inferior().architecture().name()
    except (gdb.error, AttributeError):
        have = None
    if have != want:
        gdb.execute("set architecture " + want, to_string=True)
    return want


_synced_connection = None


def _on_stop(event):
    global _synced_connection
    if sync() is not None:
        _synced_connection = gdb.selected_inferior().connection_num


def _before_prompt():
    # `target remote` typed at the prompt: the first prompt after it syncs.
    global _synced_connection
    inferior = gdb.selected_inferior()
    if inferior.connection_num is None or inferior.connection_num == _synced_connection or inferior.pid == 0:
        return
    if sync() is not None:
        _synced_connection = inferior.connection_num


def _on_connection_removed(event):
    # What we set is a user setting to gdb and would outlive the connection: the
    # next one must take the architecture of its own target description (a 64-bit
    # one does not accept i386), so hand the choice back to gdb.
    global _synced_connection
    _synced_connection = None
    try:
        gdb.execute("set architecture auto", to_string=True)
    except gdb.error:
        pass


# --------------------------------------------------------------------------
# Descriptor tables (Intel SDM Vol. 3A 3.4.5, 3.5, 6.11, 6.14.1)

def sregs():
    """{'gdt': (base, limit), 'idt': (base, limit), 'cs': selector} from `monitor info sregs`."""
    text = _monitor("info sregs")
    out = {}
    for table in ("gdt", "idt"):
        m = re.search(r"^%s base (0x[0-9a-f]+) limit (0x[0-9a-f]+)" % table, text, re.M)
        if not m:
            raise gdb.GdbError("kvmgdb: no %s line in `monitor info sregs`" % table)
        out[table] = (int(m.group(1), 16), int(m.group(2), 16))
    return out


def read(addr, length):
    return bytes(gdb.selected_inferior().read_memory(addr, length))


SYSTEM_TYPES = {
    # (type, IA-32e): name
    1: "16-bit TSS (available)", 2: "LDT", 3: "16-bit TSS (busy)", 4: "16-bit call gate", 5: "task gate",
    6: "16-bit interrupt gate", 7: "16-bit trap gate", 9: "32-bit TSS (available)", 0xB: "32-bit TSS (busy)",
    0xC: "32-bit call gate", 0xE: "32-bit interrupt gate", 0xF: "32-bit trap gate",
}
SYSTEM_TYPES_IA32E = {2: "LDT", 9: "64-bit TSS (available)", 0xB: "64-bit TSS (busy)", 0xC: "64-bit call gate",
                      0xE: "64-bit interrupt gate", 0xF: "64-bit trap gate"}


def segment_type(s, t):
    if not s:
        return None
    if t & 8:
        flags = ["execute"] + (["read"] if t & 2 else ["only"]) + (["conforming"] if t & 4 else [])
        return "code " + "/".join(flags) + (", accessed" if t & 1 else "")
    flags = ["read"] + (["write"] if t & 2 else ["only"]) + (["expand-down"] if t & 4 else [])
    return "data " + "/".join(flags) + (", accessed" if t & 1 else "")


def decode_descriptor(raw, ia32e):
    """One GDT/LDT descriptor: a dict of its fields (raw is 8 bytes, 16 for an IA-32e system one)."""
    lo = int.from_bytes(raw[0:4], "little")
    hi = int.from_bytes(raw[4:8], "little")
    d = {
        "base": (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000),
        "limit": (lo & 0xffff) | (hi & 0x000f0000),
        "type": (hi >> 8) & 0xf,
        "s": (hi >> 12) & 1,
        "dpl": (hi >> 13) & 3,
        "p": (hi >> 15) & 1,
        "l": (hi >> 21) & 1,
        "db": (hi >> 22) & 1,
        "g": (hi >> 23) & 1,
    }
    if d["g"]:
        d["limit"] = (d["limit"] << 12) | 0xfff
    if not d["s"] and ia32e and len(raw) >= 16:
        d["base"] |= int.from_bytes(raw[8:12], "little") << 32
    d["what"] = segment_type(d["s"], d["type"]) or (SYSTEM_TYPES_IA32E if ia32e else SYSTEM_TYPES).get(
        d["type"], "reserved system type")
    return d


def is_wide_system(raw, ia32e):
    hi = int.from_bytes(raw[4:8], "little")
    return ia32e and not (hi >> 12) & 1 and ((hi >> 8) & 0xf) in (2, 9, 0xB, 0xC)


def format_descriptor(selector, d):
    return ("0x%04x  base 0x%08x limit 0x%08x type 0x%x %s  DPL %d P %d L %d D/B %d G %d"
            % (selector, d["base"], d["limit"], d["type"], d["what"], d["dpl"], d["p"], d["l"], d["db"], d["g"]))


def gdt_lines():
    mode = current_mode()
    base, limit = sregs()["gdt"]
    lines = ["GDT at 0x%x, limit 0x%x (%d entries)" % (base, limit, (limit + 1) // 8)]
    if mode.real:
        return lines + ["real mode: segments are selector * 16, the GDT is not used until CR0.PE is set"]
    table = read(base, limit + 1) if limit else b""
    offset = 0
    while offset + 8 <= len(table):
        raw = table[offset:offset + 8]
        wide = is_wide_system(raw, mode.ia32e)
        if wide:
            raw = table[offset:offset + 16]
        if int.from_bytes(raw[0:8], "little") == 0:
            lines.append("0x%04x  null" % offset)
        else:
            lines.append(format_descriptor(offset, decode_descriptor(raw, mode.ia32e)))
        offset += 16 if wide else 8
    return lines


def idt_lines():
    mode = current_mode()
    base, limit = sregs()["idt"]
    if mode.real:
        # The real-mode IVT: 4 bytes a vector, offset then segment.
        count = (limit + 1) // 4
        table = read(base, count * 4)
        lines = ["IVT at 0x%x, limit 0x%x (%d vectors)" % (base, limit, count)]
        empty = 0
        for v in range(count):
            off = int.from_bytes(table[4 * v:4 * v + 2], "little")
            seg = int.from_bytes(table[4 * v + 2:4 * v + 4], "little")
            if off == 0 and seg == 0:
                empty += 1
                continue
            lines.append("vector %3d  %04x:%04x  linear 0x%05x" % (v, seg, off, seg * 16 + off))
        lines.append("%d vector(s) 0000:0000" % empty)
        return lines
    size = 16 if mode.ia32e else 8
    count = (limit + 1) // size
    lines = ["IDT at 0x%x, limit 0x%x (%d gates of %d bytes)" % (base, limit, count, size)]
    if limit == 0 or count == 0:
        lines.append("empty: any exception escalates to a triple fault")
        return lines
    table = read(base, count * size)
    absent = 0
    names = SYSTEM_TYPES_IA32E if mode.ia32e else SYSTEM_TYPES
    for v in range(count):
        raw = table[v * size:(v + 1) * size]
        lo = int.from_bytes(raw[0:4], "little")
        hi = int.from_bytes(raw[4:8], "little")
        if not (hi >> 15) & 1:
            absent += 1
            continue
        gate_type = (hi >> 8) & 0xf
        selector = lo >> 16
        offset = (lo & 0xffff) | (hi & 0xffff0000)
        ist = ""
        if mode.ia32e:
            offset |= int.from_bytes(raw[8:12], "little") << 32
            ist = " IST %d" % (hi & 7)
        if gate_type == 5:  # task gate: the selector is a TSS's, no offset
            lines.append("vector %3d  task gate  TSS selector 0x%04x  DPL %d P 1" % (v, selector, (hi >> 13) & 3))
            continue
        lines.append("vector %3d  %s  selector 0x%04x offset 0x%x  DPL %d P 1%s"
                     % (v, names.get(gate_type, "reserved type 0x%x" % gate_type), selector, offset,
                        (hi >> 13) & 3, ist))
    lines.append("%d vector(s) not present" % absent)
    return lines


# --------------------------------------------------------------------------
# Commands

class KvmgdbPrefix(gdb.Command):
    """kvmgdb's commands: kvmgdb mode, kvmgdb gdt, kvmgdb idt, kvmgdb walk ADDR, kvmgdb sync."""

    def __init__(self):
        super().__init__("kvmgdb", gdb.COMMAND_USER, gdb.COMPLETE_NONE, True)


class KvmgdbMode(gdb.Command):
    """The CPU mode, its paging and register layout (monitor info mode), and gdb's architecture."""

    def __init__(self):
        super().__init__("kvmgdb mode", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        mode = current_mode()
        gdb.write(mode.text if mode.text.endswith("\n") else mode.text + "\n")
        arch = sync()
        gdb.write("gdb architecture: %s\n" % arch)


class KvmgdbGdt(gdb.Command):
    """The GDT decoded: one line per descriptor (selector, base, limit, type, DPL, P, L, D/B, G)."""

    def __init__(self):
        super().__init__("kvmgdb gdt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        gdb.write("\n".join(gdt_lines()) + "\n")


class KvmgdbIdt(gdb.Command):
    """The IDT decoded: each present gate's type, selector, offset and DPL (the IVT in real mode)."""

    def __init__(self):
        super().__init__("kvmgdb idt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        gdb.write("\n".join(idt_lines()) + "\n")


class KvmgdbWalk(gdb.Command):
    """kvmgdb walk ADDR: the guest page-table walk of linear address ADDR (any gdb expression)."""

    def __init__(self):
        super().__init__("kvmgdb walk", gdb.COMMAND_USER, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: kvmgdb walk ADDR")
        addr = int(gdb.parse_and_eval(arg)) & 0xffffffffffffffff
        gdb.write(_monitor("translate 0x%x" % addr))


class KvmgdbSync(gdb.Command):
    """Set gdb's architecture for the CPU's mode now (done at every stop anyway)."""

    def __init__(self):
        super().__init__("kvmgdb sync", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        arch = sync()
        if arch is None:
            raise gdb.GdbError("kvmgdb: `monitor info mode` failed (not connected, or the guest is running)")
        gdb.write("gdb architecture: %s\n" % arch)


KvmgdbPrefix()
KvmgdbMode()
KvmgdbGdt()
KvmgdbIdt()
KvmgdbWalk()
KvmgdbSync()
gdb.events.stop.connect(_on_stop)
gdb.events.before_prompt.connect(_before_prompt)
if hasattr(gdb.events, "connection_removed"):
    gdb.events.connection_removed.connect(_on_connection_removed)
if gdb.selected_inferior().pid != 0:
    _on_stop(None)  # sourced while connected
