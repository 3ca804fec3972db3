// Handlers for the q/Q and v query packets ("General Query Packets" of the GDB
// manual's Remote Protocol appendix): feature negotiation, threads, the target
// description, and `monitor`.
#include <algorithm>
#include <cerrno>

#include "stub/hex.hpp"
#include "stub/session_impl.hpp"
#include "stub/target_description.hpp"

namespace kvmgdb::stub {

void Session::Impl::handle(const QuerySupported& q) {
    // gdb's own features decide what our stop replies may say (swbreak/hwbreak
    // "should not be sent by default"); the rest is ignored. A later qSupported
    // renegotiates only these: what LLDB turned on with its own packets
    // (QEnableErrorStrings, QListThreadsInStopReply, qHostInfo) stays on.
    gdb.renegotiate();
    for (const Feature& f : q.features) {
        bool plus = f.kind == Feature::Kind::Supported;
        if (f.name == "swbreak") gdb.swbreak = plus;
        if (f.name == "hwbreak") gdb.hwbreak = plus;
        // Only when we offer it too ("General Query Packets", multiprocess).
        if (f.name == "multiprocess") gdb.multiprocess = plus && options.multiprocess;
        // GDB 15+: `m` and `qRcmd` may fail with `E.text`; it prints the text of a
        // failed monitor command (a failed read stays "Cannot access memory").
        if (f.name == "error-message") gdb.error_message = plus;
    }
    // Our reply is computed from the target, never a constant (STYLE.md, habit
    // 5). PacketSize is the largest packet we accept, in hex. vContSupported+
    // tells gdb that our vCont? answer is exact (no s/S: it must step itself).
    TargetCapabilities caps = target.capabilities();
    std::string reply = "PacketSize=" + format_hex_u64(options.max_packet);
    reply += ";QStartNoAckMode+;qXfer:features:read+;qXfer:threads:read+";
    if (options.multiprocess) reply += ";multiprocess+";
    if (caps.non_stop) reply += ";QNonStop+";
    if (caps.software_breakpoints) reply += ";swbreak+";
    if (caps.hardware_breakpoints) reply += ";hwbreak+";
    reply += ";vContSupported+";
    // gdb then sends breakpoint conditions as bytecode with Z0/Z1, and we test
    // them at each hit (session_conditions.cpp), which needs a single step to
    // go on past a false one.
    if (caps.single_step && (caps.software_breakpoints || caps.hardware_breakpoints))
        reply += ";ConditionalBreakpoints+";
    // `x` reads memory as binary data (GDB 16 uses it only when told so; its
    // reply starts with `b`); error-message+: we may answer `E.text` where the
    // manual allows it, to a gdb that said error-message+ too.
    reply += ";binary-upload+;error-message+";
    // Our own feature (gdb ignores names it does not know): in real mode the pc is
    // linear, CS.base + IP, like every address we take (docs/modes.md); a client
    // that knows segments can tell from it how to read $pc.
    reply += ";kvmgdb-linear-pc+";
    send(reply);
}

void Session::Impl::handle(const StartNoAckMode&) {
    // "Packet Acknowledgment": this packet is acked with `+` (already sent) and
    // so is our OK; from then on neither side acks.
    send("OK");
    ack_mode = false;
}

// We do not report thread events (no QThreadEvents+ in qSupported).
void Session::Impl::handle(const SetThreadEvents&) { send(""); }
void Session::Impl::handle(const QueryAttached&) { send("1"); }  // gdb detaches, not kills, on quit

void Session::Impl::handle(const XferRead& x) {
    // "General Query Packets", qXfer: objects we do not offer get an empty
    // reply; a bad annex of one we offer is E00.
    if (x.object == "threads") {
        // "Thread List Format"; the annex must be empty. Built afresh when gdb
        // starts at offset 0, so one document is served across its chunks.
        if (!x.annex.empty()) return send("E00");
        if (x.offset == 0) threads_xml = threads_document();
        return send_xfer(threads_xml, x);
    }
    if (x.object != "features") return send("");
    if (x.annex != kTargetXmlAnnex) return send("E00");
    // The layout of the CPU mode when gdb first reads it (at connect time); gdb
    // keeps it for the connection, and RegisterView converts after mode switches.
    send_xfer(target_xml(regs.layout()), x);
}

void Session::Impl::send_xfer(const std::string& xml, const XferRead& x) {
    // As gdbserver's handle_qxfer_features: at the end, "l" with no data; past
    // it, an error (gdb never asks for that; a confused client must hear so).
    if (x.offset == xml.size()) return send("l");
    if (x.offset > xml.size()) return send("E01");
    auto offset = static_cast<std::size_t>(x.offset);
    // The chunk travels escaped (encode_packet escapes `$#}*`); cap its raw
    // size at PacketSize so an honest length never overflows gdb's buffer.
    std::size_t room = options.max_packet > 1 ? options.max_packet - 1 : 1;
    std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(x.length, room));
    std::string chunk = xml.substr(offset, length);
    // "m": more may follow; "l": this is the last chunk.
    char marker = offset + chunk.size() < xml.size() ? 'm' : 'l';
    send(marker + chunk);
}

void Session::Impl::handle(const MonitorCommand& q) {
    if (general_running()) return error(EBUSY);  // the monitor reads the selected vCPU
    // "General Query Packets", qRcmd: output may go as `O` packets before the
    // final OK, or hex-encoded as the final reply itself. One final reply is
    // simplest while it fits in a packet; longer output goes in `O` packets.
    std::string output;
    TargetStatus status = target.monitor(q.command, output);
    if (status.code == TargetStatus::Code::Unsupported) return send("");
    if (!status.is_ok()) {
        // A gdb that takes error messages shows `E.text` as the command's error;
        // what the command printed before failing still goes as `O` text.
        if (gdb.error_message && !status.message.empty()) {
            if (!output.empty() && output != status.message) send(std::string("O").append(text_to_hex(output)));
            return send(std::string("E.").append(status.message));
        }
        // gdb prints `O` text and then fails the command on `E NN`.
        std::string text = !output.empty() ? output : status.message;
        if (!text.empty() && text.back() != '\n') text += '\n';
        if (!text.empty()) send("O" + text_to_hex(text));
        return error(status);
    }
    if (q.command == "info mode" && regs.converting()) {
        // The target describes the CPU; only the session knows gdb kept another layout.
        output += "gdb's register layout on this connection: " + std::string(architecture_name(regs.arch())) +
                  (regs.fixed() ? " (fixed by --gdb-arch; registers are converted to it)\n"
                                : " (read at connect time; registers are converted to it; reconnect for this mode's)\n");
    }
    if (output.empty()) return send("OK");
    std::string hex = text_to_hex(output);
    if (hex.size() < options.max_packet) return send(hex);
    std::size_t chunk = std::max<std::size_t>((options.max_packet - 2) / 2 * 2, 2);
    for (std::size_t at = 0; at < hex.size(); at += chunk) send("O" + hex.substr(at, chunk));
    send("OK");
}

// --- LLDB's packets (lldb's "GDB Remote Protocol Extensions") -----------------

namespace {

// The architecture LLDB should assume: the one of the register layout it was given.
std::string triple_fields(Arch arch) {
    bool wide = arch == Arch::X86_64;
    return "triple:" + text_to_hex(wide ? "x86_64-unknown-unknown" : "i386-unknown-unknown") +
           ";ptrsize:" + (wide ? "8" : "4") + ";endian:little;";
}

}  // namespace

void Session::Impl::handle(const HostInfo&) {
    gdb.lldb = true;
    send(triple_fields(regs.arch()));
}
// One process, pid 1 (the vCPUs are its threads).
void Session::Impl::handle(const ProcessInfo&) { send("pid:1;" + triple_fields(regs.arch())); }

void Session::Impl::handle(const ListThreadsInStopReply&) {
    gdb.threads_in_stop_reply = true;  // render_stop appends `threads:`
    send("OK");
}

void Session::Impl::handle(const EnableErrorStrings&) {
    gdb.error_strings = true;  // error() appends `;HEXTEXT` where it has a text
    send("OK");
}

void Session::Impl::handle(const MemoryRegionInfo& q) {
    if (memory_busy()) return error(EBUSY);
    std::optional<MemoryRegion> r = target.memory_region(q.addr);
    if (!r) return send("");
    // An unmapped region is one without `permissions:` (LLDB reads it so).
    std::string reply = "start:" + format_hex_u64(r->start) + ";size:" + format_hex_u64(r->size) + ";";
    if (r->mapped) {
        reply += "permissions:";
        if (r->readable) reply += 'r';
        if (r->writable) reply += 'w';
        if (r->executable) reply += 'x';
        reply += ';';
    }
    send(reply);
}

// No relocation: the guest runs where its ELF says (empty = not supported).
void Session::Impl::handle(const QueryOffsets&) { send(""); }
// We need no symbols; an empty reply ends the exchange like `OK` would.
void Session::Impl::handle(const QuerySymbol&) { send(""); }
// "Packets", vMustReplyEmpty: gdb checks that unknown v packets get "".
void Session::Impl::handle(const MustReplyEmpty&) { send(""); }

}  // namespace kvmgdb::stub
