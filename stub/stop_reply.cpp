// Stop replies, GDB manual, Remote Protocol appendix, "Stop Reply Packets".
#include "stub/stop_reply.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <stdexcept>

#include "stub/hex.hpp"

namespace kvmgdb::stub {

namespace {

// "Stop Reply Packets": AA is the signal number in two hex digits.
std::string signal_hex(int signal) { return to_hex_le(static_cast<std::uint64_t>(signal & 0xff), 1); }

// `n:r;` with n the regnum in hex and r the register's bytes in target order.
// Two digits for n, as gdbserver writes it (outreg in server.cc).
std::string expedite(RegisterView& regs, unsigned regnum) {
    try {
        auto value = regs.read(regnum);
        if (!value || value->empty()) return {};
        std::string n = regnum < 0x100 ? to_hex_le(regnum, 1) : format_hex_u64(regnum);
        return n + ":" + to_hex(*value) + ";";
    } catch (const std::exception&) {
        return {};  // gdb will ask with `g`/`p` and get the error there
    }
}

// The `reason:value;` pair of a T reply, or "" when there is none to give.
std::string reason(const StopEvent& event, const GdbFeatures& gdb) {
    using Kind = StopEvent::Kind;
    switch (event.kind) {
        // swbreak/hwbreak only when gdb announced them in qSupported; without
        // them gdb decides itself whether a SIGTRAP was a breakpoint.
        case Kind::SoftwareBreak: return gdb.swbreak ? "swbreak:;" : "";
        case Kind::HardwareBreak: return gdb.hwbreak ? "hwbreak:;" : "";
        // watch/rwatch/awatch predate qSupported: always understood.
        case Kind::Watch: return "watch:" + format_hex_u64(event.address) + ";";
        case Kind::ReadWatch: return "rwatch:" + format_hex_u64(event.address) + ";";
        case Kind::AccessWatch: return "awatch:" + format_hex_u64(event.address) + ";";
        case Kind::Signal:
        case Kind::Exited:
        case Kind::Terminated: break;
    }
    return {};
}

}  // namespace

std::string thread_id_text(unsigned tid, const GdbFeatures& gdb) {
    std::string id = format_hex_u64(tid);
    return gdb.multiprocess ? "p1." + id : id;
}

ExpeditedRegs expedited_regs(Arch arch) {
    // Looked up by name in the layout gdb was given, so the numbers cannot
    // drift from target.xml (amd64: rbp=6 rsp=7 rip=16; i386: esp=4 ebp=5 eip=8).
    const RegisterLayout& layout = register_layout(arch);
    auto regnum = [&layout](std::string_view name) {
        const RegisterInfo* reg = layout.find(name);
        if (!reg) throw std::logic_error("register layout has no " + std::string(name));
        return reg->regnum;
    };
    bool wide = arch == Arch::X86_64;
    return {regnum(wide ? "rip" : "eip"), regnum(wide ? "rsp" : "esp"), regnum(wide ? "rbp" : "ebp")};
}

std::string stop_reply(const StopEvent& event, RegisterView& view, const GdbFeatures& gdb) {
    switch (event.kind) {
        case StopEvent::Kind::Exited:  // `W AA`: exit status, no registers
            return "W" + to_hex_le(static_cast<std::uint64_t>(event.exit_status & 0xff), 1);
        case StopEvent::Kind::Terminated:  // `X AA`: terminated by a signal
            return "X" + signal_hex(event.signal);
        default: break;
    }
    // `T AA n1:r1;n2:r2;...`: the thread that stopped, why, and the registers
    // gdb needs at once (pc, stack and frame pointer), in regnum order as
    // gdbserver sends them.
    std::string reply = "T" + signal_hex(event.signal) + "thread:" + thread_id_text(event.thread, gdb) + ";" +
                        reason(event, gdb);
    ExpeditedRegs regs{};
    try {
        regs = expedited_regs(view.arch());
    } catch (const std::exception&) {
        return reply;  // still a valid stop reply; gdb reads registers with `g`
    }
    std::array<unsigned, 3> order{regs.pc, regs.sp, regs.fp};
    std::sort(order.begin(), order.end());
    for (unsigned regnum : order) reply += expedite(view, regnum);
    return reply;
}

}  // namespace kvmgdb::stub
