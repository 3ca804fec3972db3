// Stop replies (GDB manual, Remote Protocol appendix, "Stop Reply Packets"):
// the answer to `?` and the delayed answer to a resume. Kept apart from the
// session's dispatch because both `?` and on_target_stopped render them.
#pragma once

#include <string>

#include "stub/debug_target.hpp"
#include "stub/register_view.hpp"

namespace kvmgdb::stub {

// What gdb said it understands in its qSupported ("General Query Packets",
// qSupported: swbreak/hwbreak "should not be sent by default; older GDB
// versions did not support it").
struct GdbFeatures {
    bool swbreak = false;
    bool hwbreak = false;
    // Both sides offered multiprocess+: thread-ids go out as `p1.N` ("Packets",
    // thread-id syntax), else as `N`.
    bool multiprocess = false;
    // gdb sent error-message+ (GDB 15+, qSupported): `m`, `x` and `qRcmd` errors
    // may go out as `E.text`. gdb prints the text for qRcmd; for memory it still
    // says "Cannot access memory".
    bool error_message = false;
    // LLDB's QEnableErrorStrings: errors may go out as `ENN;HEXTEXT`.
    bool error_strings = false;
    // LLDB's QListThreadsInStopReply: T stop replies list every thread (`threads:`).
    bool threads_in_stop_reply = false;
    // The client asked qHostInfo, which only LLDB does: it waits for a reply to `k`.
    bool lldb = false;

    // A qSupported (again) negotiates the flags above the LLDB ones afresh; what
    // LLDB's own packets turned on stays. A flag qSupported sets goes here too.
    void renegotiate() { swbreak = hwbreak = multiprocess = error_message = false; }
};

// `N` or `p1.N` (one process, pid 1), in hex, as replies carry thread-ids.
std::string thread_id_text(unsigned tid, const GdbFeatures& gdb);

// `T05thread:N;swbreak:;06:...;07:...;10:...;`, `W00` or `X09`, N being
// event.thread. Reads the pc, sp and frame pointer in gdb's layout (regs.arch())
// to expedite them, so gdb needs no `g` to show where it stopped: the caller
// selects event.thread in the target first. A register the target cannot read
// (nullopt or an exception) is left out: the stop itself must still reach gdb.
std::string stop_reply(const StopEvent& event, RegisterView& regs, const GdbFeatures& gdb);

// The regnums to expedite for `arch`, in gdb's numbering of the layout that
// target_xml(arch) describes.
struct ExpeditedRegs {
    unsigned pc;
    unsigned sp;
    unsigned fp;
};
ExpeditedRegs expedited_regs(Arch arch);

}  // namespace kvmgdb::stub
