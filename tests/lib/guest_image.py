"""What the client tests (tests/gdb/mi_cppdbg.py, tests/lldb/lldb_session.py) know of
a guest without asking kvmgdb: the bytes its ELF loads, to compare memory reads with."""
import struct


class Fail(Exception):
    """A failed check; the tests print it and exit 1."""


def elf_bytes(path, vaddr, count):
    """`count` bytes of the loaded image at `vaddr`, from the ELF file's PT_LOAD segments."""
    with open(path, "rb") as f:
        data = f.read()
    is64 = data[4] == 2
    phoff = struct.unpack_from("<Q" if is64 else "<I", data, 0x20 if is64 else 0x1C)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36 if is64 else 0x2A)
    for i in range(phnum):
        at = phoff + i * phentsize
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, at)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIIII", data, at)
        if p_type == 1 and p_vaddr <= vaddr and vaddr + count <= p_vaddr + p_filesz:
            start = p_offset + vaddr - p_vaddr
            return data[start:start + count]
    raise Fail(f"{path}: no loaded bytes at {vaddr:#x}")
