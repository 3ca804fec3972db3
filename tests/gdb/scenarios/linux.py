# Debian's Linux kernel debugged as docs/kernels.md shows: connect at the PVH entry,
# a hardware breakpoint on startup_64 by its physical address, then on start_kernel
# by name (virtual), linux_banner read by name through the kernel's own page tables,
# a breakpoint on _printk where start_kernel prints the banner, on to the reboot
# (reboot=k: a reset).
#
# Debian's linux-image ships a placeholder System.map (the real one comes with the
# 850 MB -dbg package), so the names come from the kernel's own kallsyms table:
# scripts/kallsyms writes them as an ELF symbol file for add-symbol-file. Each address
# gdb then uses is checked against what the vmlinux says by itself: the PVH entry
# from its Xen ELF note, startup_64 from its first loadable segment (head_64.S opens
# .head.text), _printk from the kernel's export table (__ksymtab), linux_banner by
# its text in .rodata.
import os
import struct
import subprocess
import tempfile

ELF = open(GUEST, "rb").read()


def u(fmt, at):
    return struct.unpack_from("<" + fmt, ELF, at)[0]


def program_headers():
    phoff, phentsize, phnum = u("Q", 32), u("H", 54), u("H", 56)
    for i in range(phnum):
        p = phoff + i * phentsize
        # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz
        yield struct.unpack_from("<IIQQQQQ", ELF, p)


def sections():
    shoff, shentsize, shnum, shstrndx = u("Q", 40), u("H", 58), u("H", 60), u("H", 62)
    headers = [struct.unpack_from("<IIQQQQ", ELF, shoff + i * shentsize) for i in range(shnum)]
    names = headers[shstrndx][4]  # sh_offset of the string table
    out = {}
    for name, _type, _flags, addr, offset, size in headers:
        end = ELF.index(b"\0", names + name)
        out[ELF[names + name:end].decode()] = (addr, offset, size)
    return out


def pvh_entry():
    for p_type, _f, offset, _v, _p, filesz, _m in program_headers():
        at, end = offset, offset + filesz
        while p_type == 4 and at + 12 <= end:  # PT_NOTE
            namesz, descsz, ntype = struct.unpack_from("<III", ELF, at)
            name_at = at + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            if ELF[name_at:name_at + namesz] == b"Xen\0" and ntype == 18:  # XEN_ELFNOTE_PHYS32_ENTRY
                return u("I", desc_at)
            at = desc_at + (descsz + 3) // 4 * 4
    fail("no PVH entry note in " + GUEST)


def exported(symbol):
    # struct kernel_symbol with PREL32 relocations: int value_offset, name_offset,
    # namespace_offset, each relative to its own field's address.
    tab_addr, tab_off, tab_size = SECTIONS["__ksymtab"]
    str_addr, str_off, _ = SECTIONS["__ksymtab_strings"]
    for i in range(tab_size // 12):
        entry = tab_addr + 12 * i
        value, name = struct.unpack_from("<ii", ELF, tab_off + 12 * i)
        name_off = str_off + (entry + 4 + name - str_addr)
        if ELF[name_off:ELF.index(b"\0", name_off)] == symbol.encode():
            return (entry + value) & 0xFFFFFFFFFFFFFFFF
    fail(symbol + " is not in __ksymtab")


def register(expression):
    return value(expression) & 0xFFFFFFFFFFFFFFFF  # gdb's int64_t for $rsi and friends


SECTIONS = sections()
load = [ph for ph in program_headers() if ph[0] == 1]
STARTUP_64 = load[0][4]  # the first PT_LOAD's physical address
PRINTK = exported("_printk")
rodata_addr, rodata_off, rodata_size = SECTIONS[".rodata"]
# The banner's text is in .rodata twice (init/version.c and version-timestamp.c);
# start_kernel prints the one the linker kept as linux_banner.
BANNERS = {}
at = rodata_off
while (at := ELF.find(b"Linux version ", at, rodata_off + rodata_size)) >= 0:
    BANNERS[rodata_addr + at - rodata_off] = ELF[at:ELF.index(b"\0", at) + 1]
    at += 1
init_addr, _, init_size = SECTIONS[".init.text"]

KALLSYMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "kallsyms")
SYMBOLS = {}
for line in subprocess.check_output([KALLSYMS, GUEST], text=True).splitlines():
    address, _kind, name = line.split()
    SYMBOLS.setdefault(name, int(address, 16))
expect(SYMBOLS["startup_64"] == SECTIONS[".text"][0], "kallsyms: startup_64 is where .text starts")
expect(SYMBOLS["_printk"] == PRINTK, "kallsyms: _printk is where __ksymtab says (%#x)" % PRINTK)
expect(SYMBOLS["linux_banner"] in BANNERS, "kallsyms: linux_banner is a 'Linux version' string in .rodata")
START_KERNEL = SYMBOLS["start_kernel"]
expect(init_addr <= START_KERNEL < init_addr + init_size, "kallsyms: start_kernel is in .init.text")
symbol_file = os.path.join(tempfile.mkdtemp(prefix="kvmgdb-linux."), "vmlinux.kallsyms")
subprocess.check_call([KALLSYMS, GUEST, "--elf", symbol_file])

connect()
expect(pc() == pvh_entry(), "stopped at the PVH entry %#x" % pvh_entry())
# hvm_start_info's magic at EBX (the PVH ABI's entry state)
expect(value("*(unsigned int *)$ebx") == 0x336EC578, "EBX points at hvm_start_info (magic 0x336ec578)")
run("hbreak *%#x" % STARTUP_64)
run("continue")
expect(pc() == STARTUP_64, "stopped at startup_64, physical %#x" % STARTUP_64)
expect_match(r"i386:x86-64", run("show architecture"), "gdb sees 64-bit code")
expect(value("$cr0") & 0x80000001 == 0x80000001, "paging is on (the PVH code's identity map)")
run("delete")
run("add-symbol-file " + symbol_file)
run("hbreak start_kernel")
run("continue")
expect(pc() == START_KERNEL, "stopped at start_kernel, virtual %#x" % START_KERNEL)
expect_match(r"^start_kernel in section \.init\.text", run("info symbol $pc"), "gdb names the stop start_kernel")
banner = BANNERS[SYMBOLS["linux_banner"]]
read = bytes(gdb.selected_inferior().read_memory(register("&linux_banner"), len(banner)))
expect(read == banner, "linux_banner read by name through the kernel's page tables is the vmlinux's bytes")
expect_match(r'"Linux version 6\.', run("x/s &linux_banner"), "x/s shows the banner")
run("delete")
run("hbreak _printk")
run("continue")
expect(pc() == PRINTK, "stopped at _printk, virtual %#x" % PRINTK)
expect_match(r"^start_kernel \+ \d+ in section \.init\.text", run("info symbol *(unsigned long *)$rsp"),
             "called from start_kernel")
expect(register("$rsi") == SYMBOLS["linux_banner"], "start_kernel passes linux_banner (%#x) to printk" % register("$rsi"))
run("delete")
run("continue")
