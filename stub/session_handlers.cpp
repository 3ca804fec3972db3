// One handler per typed request: registers, memory, resume, breakpoints,
// detach/kill. Threads, vCont and non-stop are in session_threads.cpp, the
// other queries (q/Q packets) in session_queries.cpp.
// Section names are those of the GDB manual's Remote Protocol appendix.
#include <cerrno>
#include <limits>

#include "stub/hex.hpp"
#include "stub/session_impl.hpp"

namespace kvmgdb::stub {

namespace {

// "Packets", `Z`: the type digit is gdb's; BreakpointKind uses the same values.
BreakpointKind to_kind(BreakpointType type) { return static_cast<BreakpointKind>(type); }

bool capable(const TargetCapabilities& caps, BreakpointType type) {
    switch (type) {
        case BreakpointType::Software: return caps.software_breakpoints;
        case BreakpointType::Hardware: return caps.hardware_breakpoints;
        case BreakpointType::WriteWatch: return caps.write_watchpoints;
        case BreakpointType::ReadWatch: return caps.read_watchpoints;
        case BreakpointType::AccessWatch: return caps.access_watchpoints;
    }
    return false;
}

// [addr, addr+len) must not wrap past 2^64 (the last byte itself is fine).
bool range_ok(std::uint64_t addr, std::uint64_t len) {
    return len == 0 || addr <= std::numeric_limits<std::uint64_t>::max() - (len - 1);
}

}  // namespace

bool Session::Impl::write_pc(std::uint64_t addr) {
    unsigned pc = expedited_regs(regs.arch()).pc;
    const RegisterInfo* reg = find_register(pc);
    if (!reg || reg_size(*reg) == 0 || reg_size(*reg) > 8) return false;
    std::vector<std::uint8_t> bytes(reg_size(*reg));  // little-endian, like x86
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(addr >> (8 * i));
    return regs.write(pc, bytes).is_ok();
}

// "Standard Replies": an empty reply means "not supported", so gdb falls back.
void Session::Impl::handle(const Unsupported&) { send(""); }
void Session::Impl::handle(const Malformed&) { error(EINVAL); }

// Non-stop: a running thread's registers cannot be read ("Remote Non-Stop":
// gdb asks only for stopped threads; gdbserver answers E01 otherwise).
void Session::Impl::handle(const ReadRegisters&) {
    if (general_running()) return error(EBUSY);
    send(to_hex(regs.read_all()));
}

void Session::Impl::handle(const WriteRegisters& g) {
    if (general_running()) return error(EBUSY);
    // `G` must carry the whole `g` block of gdb's layout ("Packets", G).
    if (g.data.size() != regs.layout().g_size()) return error(EINVAL);
    auto status = regs.write_all(g.data);
    if (!status.is_ok()) return error(status);
    send("OK");
}

// The register of gdb's layout numbered `regno` (regnums are those of
// target.xml, "Packets", p), or nullptr.
const RegisterInfo* Session::Impl::find_register(std::uint64_t regno) const {
    if (regno > std::numeric_limits<unsigned>::max()) return nullptr;
    return regs.layout().find(static_cast<unsigned>(regno));
}

void Session::Impl::handle(const ReadRegister& p) {
    if (general_running()) return error(EBUSY);
    const RegisterInfo* reg = find_register(p.regno);
    auto value = reg ? regs.read(reg->regnum) : std::nullopt;
    if (!value) return error(EINVAL);
    send(to_hex(*value));
}

void Session::Impl::handle(const WriteRegister& p) {
    if (general_running()) return error(EBUSY);
    const RegisterInfo* reg = find_register(p.regno);
    // The value is the register's raw bytes ("Packets", P): no other size fits.
    if (!reg || reg_size(*reg) != p.value.size()) return error(EINVAL);
    auto status = regs.write(reg->regnum, p.value);
    if (!status.is_ok()) return error(status);
    send("OK");
}

void Session::Impl::handle(const ReadMemory& m) {
    if (!range_ok(m.addr, m.length)) return error(EINVAL);
    // "Packets", x: a zero length reads nothing, successfully. Old LLDBs probe
    // `x0,0` and take only `OK` as their own (prefix-less) dialect: `b` keeps
    // them on `m`; newer ones and GDB 16 go by binary-upload+ and expect `b`.
    if (m.length == 0) return send(m.binary ? "b" : "");
    if (memory_busy()) return error(EBUSY);
    // Replies are kept within PacketSize too (it bounds what gdb sends us; its
    // and LLDB's readers grow, but a small client's may not): a longer read is
    // cut to fit, not refused ("Packets", m and x: the reply may hold fewer
    // bytes than asked, and the client reads on from where it stopped). LLDB
    // asks for up to PacketSize bytes with x.
    // Hex takes two characters a byte; binary at most two (an escape), so
    // the read is cut to what the reply has room for and binary is then
    // trimmed to its escaped size below.
    std::size_t packet = std::max<std::size_t>(options.max_packet, 4);  // room for one escaped byte
    std::size_t room = m.binary ? packet - 1 : packet / 2;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(m.length, room));
    std::vector<std::uint8_t> buffer(want);
    std::size_t n = target.read_memory(m.addr, buffer);
    // "Packets", m: the reply may hold fewer bytes than asked when only part
    // of the region is readable (gdb then reads on from where we stopped);
    // nothing readable at all is an error.
    if (n == 0) return memory_error(m.addr);
    buffer.resize(std::min(n, buffer.size()));
    if (!m.binary) return send(to_hex(buffer));
    std::string reply = "b";  // then the bytes; encode_packet escapes $ # } *
    std::size_t wire = 1;
    for (std::uint8_t byte : buffer) {
        wire += escaped_size(static_cast<char>(byte));
        if (wire > packet) break;
        reply.push_back(static_cast<char>(byte));
    }
    send(reply);
}

void Session::Impl::memory_error(std::uint64_t addr) {
    if (!gdb.error_message && !gdb.error_strings) return error(EFAULT);
    std::optional<MemoryRegion> r = target.memory_region(addr);
    std::string why = r && !r->mapped && !r->why_unmapped.empty()
                          ? r->why_unmapped
                          : std::string("cannot read guest memory at 0x").append(format_hex_u64(addr));
    // "Standard Replies", E.errtext; allowed for m since GDB 15's error-message+
    // (x too: gdb takes any `E.` as an error). GDB 15 and 16 still print "Cannot
    // access memory" for a failed read; the text is for the packet log and for
    // clients that show it.
    if (gdb.error_message) return send(std::string("E.").append(why));
    error(EFAULT, why);
}

void Session::Impl::handle(const WriteMemory& w) {
    if (w.data.size() > options.max_packet || !range_ok(w.addr, w.data.size())) return error(EINVAL);
    // "Packets", X: a zero-length X is gdb's probe for binary download support.
    if (w.data.empty()) return send("OK");
    if (memory_busy()) return error(EBUSY);
    std::size_t n = target.write_memory(w.addr, w.data);
    if (n < w.data.size()) return error(EFAULT);  // partial writes are failures
    send("OK");
}

void Session::Impl::handle(const Continue& c) { resume(ResumeKind::Continue, c.signal, c.addr); }
void Session::Impl::handle(const Step& s) { resume(ResumeKind::Step, s.signal, s.addr); }

void Session::Impl::handle(const VContQuery&) {
    // gdb disables vCont unless both c and C are listed (remote.c,
    // remote_vcont_probe); without s/S it steps by breakpoints itself.
    // `t` only where non-stop is offered: gdb stops threads with it there
    // (remote.c refuses to stop a thread when the stub lacks it).
    TargetCapabilities caps = target.capabilities();
    std::string reply = caps.single_step ? "vCont;c;C;s;S" : "vCont;c;C";
    if (caps.non_stop) reply += ";t";
    send(reply);
}

// The target is called first: if it throws, gdb gets E05 and the session stays.
void Session::Impl::handle(const Kill&) {
    // "Packets", k: no reply, and gdb reads none. LLDB waits for one and says the
    // kill failed without it: it gets lldb-server's, X09 (killed).
    target.kill();
    if (gdb.lldb) send("X09");
    closed = true;
    out.kill = out.close = true;
}

void Session::Impl::handle(const VKill&) {
    target.kill();
    send("OK");
    closed = true;
    out.kill = out.close = true;
}

void Session::Impl::handle(const Detach&) {
    target.detach();
    send("OK");
    closed = true;
    out.detached = out.close = true;
}

void Session::Impl::handle(const InsertBreakpoint& z) {
    // A cond_list (ConditionalBreakpoints+) is kept for the hits: see
    // session_conditions.cpp. gdb evaluates the condition again at each stop
    // we report, so one we cannot evaluate only costs the round trip.
    if (!capable(target.capabilities(), z.type)) return send("");
    // For Z2-Z4 the kind is the length: [addr, addr + length) must not wrap, as
    // for m and M (a watch from the top of the address space onto linear 0).
    const bool watch = z.type != BreakpointType::Software && z.type != BreakpointType::Hardware;
    if (watch && !range_ok(z.addr, z.kind)) return error(EINVAL);
    if (memory_busy()) return error(EBUSY);
    auto status = target.insert_breakpoint(to_kind(z.type), z.addr, z.kind);
    if (status.code == TargetStatus::Code::Unsupported) return send("");
    if (!status.is_ok()) return error(status);
    keep_conditions(z);
    send("OK");
}

void Session::Impl::handle(const RemoveBreakpoint& z) {
    if (!capable(target.capabilities(), z.type)) return send("");
    if (memory_busy()) return error(EBUSY);
    auto status = target.remove_breakpoint(to_kind(z.type), z.addr, z.kind);
    if (status.code == TargetStatus::Code::Unsupported) return send("");
    if (!status.is_ok()) return error(status);
    if (z.type == BreakpointType::Software || z.type == BreakpointType::Hardware) drop_conditions(z.addr);
    send("OK");
}

}  // namespace kvmgdb::stub
