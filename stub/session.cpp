// The RSP session state machine (gdbstub crate style: Idle <-> Running, plus
// Closed after D/k). Bytes go through the Decoder, packets through
// parse_request, and each typed request gets exactly one reply (or none, for
// resumes and `k`). Handlers live in session_handlers.cpp; this file owns the
// wire rules: acknowledgements, retransmission, and what may arrive while the
// target runs. References are to the GDB manual, Remote Protocol appendix.
#include "stub/session.hpp"

#include <cerrno>
#include <exception>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session_impl.hpp"

namespace kvmgdb::stub {

Session::Impl::Impl(DebugTarget& t, std::function<void(StopEvent)> post, SessionOptions opts)
    : target(t), post_stop(std::move(post)), options(std::move(opts)),
      decoder(options.max_packet + 1024) {
    regs.fix(options.gdb_arch);
}

void Session::Impl::send(std::string_view payload) {
    if (options.log_packet) options.log_packet("->", payload);
    last_reply = encode_packet(payload);
    out.bytes += last_reply;
}

void Session::Impl::error(int err) {
    // "Standard Replies": `E NN`, NN being two hex digits (an errno, as
    // gdbserver and the gdbstub crate send it).
    auto value = static_cast<std::uint64_t>(err & 0xff);
    send("E" + to_hex_le(value, 1));
}

void Session::Impl::error(const TargetStatus& status) {
    error(status.errno_value ? status.errno_value : EINVAL, status.message);
}

void Session::Impl::error(int err, std::string_view text) {
    // LLDB's QEnableErrorStrings: `E NN;` and the text in hex.
    if (!gdb.error_strings || text.empty()) return error(err);
    send("E" + to_hex_le(static_cast<std::uint64_t>(err & 0xff), 1) + ";" + text_to_hex(text));
}

void Session::Impl::on_event(const Event& event) {
    if (const auto* packet = std::get_if<Packet>(&event)) return on_packet(*packet);
    if (std::holds_alternative<Ack>(event)) return;  // "Overview": nothing to do on `+`
    if (options.log_packet) options.log_packet("<-", describe(event));
    if (const auto* bad = std::get_if<BadPacket>(&event)) {
        switch (bad->reason) {
            case BadPacketReason::ChecksumMismatch:
            case BadPacketReason::BadChecksumDigits:
                // "Overview": `-` asks gdb to retransmit. Without acks ("Packet
                // Acknowledgment") a corrupt packet is dropped; the transport is reliable.
                if (ack_mode) out.bytes += '-';
                return;
            case BadPacketReason::TooLong:
            case BadPacketReason::BadEscape:
            case BadPacketReason::BadRunLength:
                // Received whole but unusable: a retransmission would be the same
                // bytes, so it is acked and refused with an error reply. Without one
                // the sender would wait for an answer that never comes.
                if (ack_mode) out.bytes += '+';
                return error(bad->reason == BadPacketReason::TooLong ? EMSGSIZE : EINVAL);
        }
        return;
    }
    if (std::holds_alternative<Nack>(event)) {
        if (ack_mode && !last_reply.empty()) out.bytes += last_reply;
        return;
    }
    // Interrupt ("Interrupts"): only meaningful while the target runs. A 0x03
    // that crosses our stop reply on the wire arrives when we are already
    // stopped; answering it with a second stop reply would be read by gdb as
    // the reply to its next packet, so a 0x03 while stopped is ignored
    // (gdbserver does the same: it only looks for 0x03 while waiting).
    if (running || !running_threads.empty()) interrupt_target();
}

void Session::Impl::interrupt_target() {
    if (!non_stop) interrupted = true;  // session_conditions.cpp: no silent resume after it
    try {
        target.interrupt();
    } catch (const std::exception&) {
        // Nobody to answer: a 0x03 has no reply. gdb asks again if it must.
    }
}

void Session::Impl::on_packet(const Packet& packet) {
    if (options.log_packet) options.log_packet("<-", packet.payload);
    if (ack_mode) out.bytes += '+';
    Request request = parse_request(packet.payload);
    try {
        if (!running) return std::visit([this](const auto& r) { handle(r); }, request);
        // All-stop mode (non-stop never sets `running`): after a resume gdb
        // sends nothing but 0x03 (or vCtrlC) until our stop reply.
        if (!std::holds_alternative<CtrlC>(request)) return error(EBUSY);
        send("OK");
        interrupt_target();
    } catch (const std::exception&) {
        // A target failure ends the request, never the session (gdbstub's
        // TargetError::Fatal is the transport's business, not a packet's). A
        // resume that threw did not start the guest.
        if (!non_stop) running = false;
        error(EIO);
    }
}

SessionOutput Session::Impl::take_output() {
    SessionOutput result = std::move(out);
    out = {};
    return result;
}

Session::Session(DebugTarget& target, std::function<void(StopEvent)> post_stop, SessionOptions options)
    : impl_(std::make_unique<Impl>(target, std::move(post_stop), std::move(options))) {}

Session::~Session() = default;

SessionOutput Session::on_bytes(std::span<const std::uint8_t> bytes) {
    Impl& s = *impl_;
    if (s.closed) return {};  // after D/k the transport closes; late bytes mean nothing
    std::vector<Event> events;
    s.decoder.feed(bytes, events);
    for (const Event& event : events) {
        s.on_event(event);
        if (s.closed) break;
    }
    return s.take_output();
}

SessionOutput Session::on_target_stopped(const StopEvent& event) {
    Impl& s = *impl_;
    if (s.non_stop) {
        // "Remote Non-Stop": one thread stopped, the others run on; gdb hears
        // of it by a %Stop notification (or later, by vStopped).
        if (s.closed || s.exited) return {};
        s.notify_stop(event);
        return s.take_output();
    }
    if (!s.running) return {};  // a stray event: nothing was resumed
    s.running = false;
    if (event.kind == StopEvent::Kind::Exited || event.kind == StopEvent::Kind::Terminated) {
        s.exited = true;
        s.skipping.reset();
    }
    if (s.swallow_stop) {
        // The stop we asked for in on_disconnect: no gdb is waiting for it, and
        // what the old gdb inserted goes now that the guest is stopped.
        s.swallow_stop = false;
        s.skipping.reset();
        if (!s.exited) s.target.remove_all_breakpoints();
        return {};
    }
    StopEvent stop = event;
    if (!s.exited && !s.closed && s.resumed_past_false_condition(stop)) return s.take_output();
    if (!s.exited) s.thread_stops[stop.thread] = stop;
    if (s.closed) return {};
    // "Stop Reply Packets": `O XX...` console output may precede the stop reply
    // while the target runs; gdb prints it, so the reason is seen. A %Stop
    // notification (non-stop, above) gets none: the target's console has it.
    if (!stop.console.empty()) s.send("O" + text_to_hex(stop.console));
    s.send(s.render_stop(stop));  // never throws: see stop_reply.hpp
    return s.take_output();
}

void Session::on_disconnect() {
    Impl& s = *impl_;
    // A new gdb starts from scratch: acks on ("Packet Acknowledgment"), no
    // features negotiated, no partial frame, nothing to retransmit.
    s.decoder.reset();
    s.ack_mode = true;
    s.gdb = {};
    s.regs.unpin();
    s.last_reply.clear();
    s.out = {};
    s.closed = false;
    s.cont_thread.reset();
    s.conditions.clear();
    s.skipping.reset();
    s.last_resume.clear();
    s.interrupted = false;
    s.stop_queue.clear();
    s.deferred_stops.clear();
    s.thread_stops.clear();  // what the old gdb was told: the new one asks with `?`
    if (s.non_stop) {
        // Back to all-stop for the next gdb ("Remote Non-Stop": a stub starts in
        // all-stop mode); the target stops every thread and reports none.
        s.non_stop = false;
        s.running_threads.clear();
        try {
            s.target.set_non_stop(false);
        } catch (const std::exception&) {
        }
    }
    if (s.running) {
        // Leave the guest stopped for the next gdb. Until its stop arrives a new
        // gdb's packets get E10 (EBUSY); the stop itself is not reported.
        s.swallow_stop = true;
        s.interrupt_target();
    } else if (!s.exited) {
        // gdb normally takes its breakpoints out at each stop, but one that died
        // (or uses `breakpoint always-inserted on`) leaves them in: a new gdb would
        // get stops it knows nothing of.
        s.target.remove_all_breakpoints();
    }
}

bool Session::target_running() const { return impl_->running || !impl_->running_threads.empty(); }

}  // namespace kvmgdb::stub
