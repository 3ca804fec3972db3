// Threads and run control: Hg/Hc, T, qC, qfThreadInfo/qsThreadInfo,
// qThreadExtraInfo, the qXfer:threads document, vCont with per-thread
// actions, and non-stop mode (QNonStop, %Stop notifications, vStopped,
// vCont;t). Every vCPU is a thread of one process: vCPU i is thread i + 1.
// Section names are those of the GDB manual's Remote Protocol appendix;
// "gdbserver" means gdbserver/server.cc, whose answers these follow.
#include <algorithm>
#include <cerrno>
#include <exception>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session_impl.hpp"

namespace kvmgdb::stub {

namespace {

std::string_view mode_name(Arch arch) {
    if (arch == Arch::X86_64) return "long mode";
    if (arch == Arch::I386) return "protected mode";
    return "real mode";
}

// "Thread List Format" carries the extra text as XML character data.
std::string xml_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace

// --- thread-ids ---------------------------------------------------------------

bool Session::Impl::known_thread(unsigned tid) const {
    auto all = target.threads();
    return std::find(all.begin(), all.end(), tid) != all.end();
}

// "Packets", thread-id syntax: 0 is any thread and -1 all of them; both take
// in every thread here (one process, pid 1; `p1` alone is `p1.-1`).
bool Session::Impl::matches(const ThreadId& id, unsigned tid) {
    if (id.pid && id.pid->kind == Id::Kind::Specific && id.pid->value != 1) return false;
    return id.tid.kind != Id::Kind::Specific || id.tid.value == tid;
}

std::optional<unsigned> Session::Impl::specific_thread(const ThreadId& id) const {
    if (id.tid.kind != Id::Kind::Specific || id.tid.value > 0xffffffffu) return std::nullopt;
    auto tid = static_cast<unsigned>(id.tid.value);
    if (!matches(id, tid) || !known_thread(tid)) return std::nullopt;
    return tid;
}

std::string Session::Impl::thread_text(unsigned tid) const { return thread_id_text(tid, gdb); }

bool Session::Impl::select(unsigned tid) {
    if (tid != general && !target.select_thread(tid).is_ok()) return false;
    general = tid;
    return true;
}

// A stop reply expedites the stopped thread's registers. In all-stop mode the
// stopped thread becomes the general thread (gdbserver's prepare_resume_reply,
// and gdb records it as such); in non-stop mode the selection is put back:
// "don't change the general thread behind GDB's back".
std::string Session::Impl::render_stop(const StopEvent& event) {
    bool ends = event.kind == StopEvent::Kind::Exited || event.kind == StopEvent::Kind::Terminated;
    if (ends) return stop_reply(event, regs, gdb);
    unsigned keep = general;
    bool switched = false;
    try {
        switched = select(event.thread) && event.thread != keep;
    } catch (const std::exception&) {
        // The reply goes out without fresh registers rather than not at all.
    }
    std::string reply = stop_reply(event, regs, gdb);  // never throws
    if (gdb.threads_in_stop_reply) {
        // LLDB's QListThreadsInStopReply: every thread, so it need not ask.
        reply += "threads:";
        bool first = true;
        for (unsigned tid : target.threads()) {
            if (!first) reply += ',';
            reply += thread_id_text(tid, gdb);
            first = false;
        }
        reply += ';';
    }
    if (non_stop && switched) {
        try {
            if (target.select_thread(keep).is_ok()) general = keep;
        } catch (const std::exception&) {
        }
    }
    return reply;
}

// --- H, T, qC, qfThreadInfo, qThreadExtraInfo, qXfer:threads -------------------

void Session::Impl::handle(const SetThread& h) {
    // "Packets", H: -1 and 0 leave the choice to us; we keep what is selected.
    const auto& pid = h.thread.pid;
    if (pid && pid->kind == Id::Kind::Specific && pid->value != 1) return error(ESRCH);
    if (h.thread.tid.kind != Id::Kind::Specific) {
        if (h.op == SetThread::Op::Continue) cont_thread.reset();
        return send("OK");
    }
    auto tid = specific_thread(h.thread);
    if (!tid) return error(ESRCH);
    if (h.op == SetThread::Op::Continue) {
        cont_thread = *tid;
        return send("OK");
    }
    if (!select(*tid)) return error(ESRCH);
    send("OK");
}

void Session::Impl::handle(const ThreadAlive& t) {
    // "Packets", T: -1 and 0 are not threads that can be alive.
    if (!specific_thread(t.thread)) return error(ESRCH);
    send("OK");
}

void Session::Impl::handle(const QueryCurrentThread&) { send("QC" + thread_text(general)); }

void Session::Impl::handle(const ThreadInfoFirst&) {
    thread_list = target.threads();
    thread_cursor = 0;
    handle(ThreadInfoNext{});
}

void Session::Impl::handle(const ThreadInfoNext&) {
    // "General Query Packets", qfThreadInfo: `m` and comma-separated ids, as
    // many as fit in a packet, until `l` (no more threads).
    if (thread_cursor >= thread_list.size()) return send("l");
    std::string reply = "m";
    while (thread_cursor < thread_list.size()) {
        std::string id = thread_text(thread_list[thread_cursor]);
        if (reply.size() > 1 && reply.size() + 1 + id.size() > options.max_packet) break;
        if (reply.size() > 1) reply += ',';
        reply += id;
        ++thread_cursor;
    }
    send(reply);
}

// The target's text, or "vCPU N (mode)" (N 0-based, the mode from the layout of
// the selected thread, the only one whose mode we can ask for).
std::string Session::Impl::extra_info(unsigned tid) {
    std::string text = target.thread_extra_info(tid);
    if (!text.empty()) return text;
    text = "vCPU " + std::to_string(tid - 1);
    if (tid == general) text += " (" + std::string(mode_name(target.arch())) + ")";
    return text;
}

void Session::Impl::handle(const ThreadExtraInfo& q) {
    auto tid = specific_thread(q.thread);
    if (!tid) return error(ESRCH);
    // Shown by `info threads`; the mode tells which register layout is in use.
    send(text_to_hex(extra_info(*tid)));
}

std::string Session::Impl::threads_document() {
    std::string xml = "<?xml version=\"1.0\"?>\n<threads>\n";
    for (unsigned tid : target.threads()) {
        xml += "<thread id=\"" + thread_text(tid) + "\">" + xml_escape(extra_info(tid)) + "</thread>\n";
    }
    return xml + "</threads>\n";
}

// --- resuming -------------------------------------------------------------------

void Session::Impl::start(std::vector<ThreadAction> actions) {
    if (exited) return error(ESRCH);  // W/X already sent: there is nothing to resume
    bool steps = std::any_of(actions.begin(), actions.end(),
                             [](const ThreadAction& a) { return a.kind == ResumeKind::Step; });
    if (steps && !target.capabilities().single_step) return error(EINVAL);
    if (non_stop) {
        // "Remote Non-Stop": the resume itself is answered OK; every stop comes
        // as a %Stop notification. Threads already running keep running.
        std::erase_if(actions, [this](const ThreadAction& a) { return running_threads.count(a.tid) != 0; });
        if (!actions.empty()) {
            for (const ThreadAction& a : actions) running_threads.insert(a.tid);
            try {
                target.resume_threads(actions, post_stop);
            } catch (const std::exception&) {
                for (const ThreadAction& a : actions) running_threads.erase(a.tid);
                throw;
            }
        }
        return send("OK");
    }
    // Set before the call: the target may stop at once and post the event,
    // which reaches on_target_stopped only after we return to the transport.
    running = true;
    interrupted = false;
    last_resume = actions;
    target.resume_threads(actions, post_stop);
    // "Stop Reply Packets": the reply to a resume is the stop reply, later.
}

void Session::Impl::resume(ResumeKind kind, std::optional<std::uint8_t> signal,
                           std::optional<std::uint64_t> addr) {
    // c/s/C/S act on the Hc thread alone when gdb named one; otherwise the
    // general thread gets `kind` and the others continue (gdbserver's myresume).
    unsigned main = cont_thread.value_or(general);
    if (cont_thread && !known_thread(main)) return error(ESRCH);
    if (exited) return error(ESRCH);
    if (addr) {
        unsigned keep = general;
        bool ok = select(main) && write_pc(*addr);
        select(keep);
        if (!ok) return error(EINVAL);
    }
    std::vector<ThreadAction> actions{{main, kind, signal}};
    if (!cont_thread) {
        for (unsigned tid : target.threads()) {
            if (tid != main) actions.push_back({tid, ResumeKind::Continue, std::nullopt});
        }
    }
    start(std::move(actions));
}

void Session::Impl::handle(const VCont& v) {
    // "Packets", vCont: for each thread "the leftmost action with a matching
    // thread-id is applied"; threads no action matches stay stopped (gdb's
    // `set scheduler-locking on`: `vCont;s:2`). `r` (range step) degenerates
    // into a step, as the manual allows (we do not advertise it). `t` stops a
    // thread in non-stop mode and "may be ignored by the stub otherwise".
    std::vector<ThreadAction> actions;
    std::vector<unsigned> to_stop;
    bool matched = false;
    for (unsigned tid : target.threads()) {
        for (const VContAction& a : v.actions) {
            if (a.kind == VContAction::Kind::Stop && !non_stop) continue;
            if (a.thread && !matches(*a.thread, tid)) continue;
            matched = true;
            if (a.kind == VContAction::Kind::Stop) {
                if (running_threads.count(tid)) to_stop.push_back(tid);
            } else {
                auto kind = a.kind == VContAction::Kind::Continue ? ResumeKind::Continue : ResumeKind::Step;
                actions.push_back({tid, kind, a.signal});
            }
            break;
        }
    }
    if (!matched) return error(EINVAL);  // gdb named only threads we do not have
    if (non_stop) {
        // "Packets", vCont: a thread stopped by `t` is reported with signal 0
        // (the target's job); one that is already stopped is not reported.
        for (unsigned tid : to_stop) target.stop_thread(tid);
        if (actions.empty()) return send("OK");
    }
    start(std::move(actions));
}

void Session::Impl::handle(const CtrlC&) {
    // "Packets", vCtrlC: OK is its only success reply. All-stop: reached only
    // while stopped (running is handled in on_packet), nothing to interrupt.
    // Non-stop: every running thread stops, each reported by notification.
    if (non_stop && !running_threads.empty()) target.interrupt();
    send("OK");
}

// --- non-stop ---------------------------------------------------------------------

void Session::Impl::handle(const SetNonStop& q) {
    // "Remote Non-Stop": offered (QNonStop+) only when the target can. Leaving
    // non-stop mode stops every thread (the target does, silently) and drops
    // what gdb has not collected.
    // Not offered: the packet is one we do not support, which the empty reply says
    // ("Standard Replies"), as for any packet we did not advertise.
    if (q.enable && !target.capabilities().non_stop) return send("");
    TargetStatus status = target.set_non_stop(q.enable);
    if (!status.is_ok()) return error(status);
    non_stop = q.enable;
    running_threads.clear();
    stop_queue.clear();
    deferred_stops.clear();
    send("OK");
}

void Session::Impl::send_notification(std::string_view payload) {
    // "Notification Packets": `%` data `#` checksum, never acked, never resent.
    if (options.log_packet) options.log_packet("->", "%" + std::string(payload));
    std::string frame = encode_packet(payload);
    frame[0] = '%';
    out.bytes += frame;
}

void Session::Impl::notify_stop(const StopEvent& event) {
    bool ends = event.kind == StopEvent::Kind::Exited || event.kind == StopEvent::Kind::Terminated;
    if (ends) {
        exited = true;
        running_threads.clear();
    } else {
        running_threads.erase(event.thread);
        thread_stops[event.thread] = event;
    }
    // Only the first of a queue is announced; gdb drains the rest with
    // vStopped, and no new %Stop goes out until the queue is empty again.
    stop_queue.push_back(render_stop(event));
    if (stop_queue.size() == 1) send_notification("Stop:" + stop_queue.front());
}

void Session::Impl::handle(const VStopped&) {
    // "Notification Packets": vStopped acknowledges the stop gdb last got (the
    // front of the queue) and asks for the next; OK when there is none.
    if (!stop_queue.empty()) stop_queue.pop_front();
    if (!stop_queue.empty()) return send(stop_queue.front());
    send("OK");
    if (deferred_stops.empty()) return;
    // The `?` sequence is over: the other stopped threads, as a new one.
    stop_queue = std::move(deferred_stops);
    deferred_stops.clear();
    send_notification("Stop:" + stop_queue.front());
}

void Session::Impl::handle(const QueryHaltReason&) {
    if (!non_stop) {
        // All-stop: the last stop, whose thread becomes the general thread.
        return send(render_stop(target.last_stop()));
    }
    // "Remote Non-Stop", `?`: a new sequence reporting the stopped threads, reported
    // before or not (the target's last stop first); OK when every thread runs.
    // gdb 13 cannot take more than one of them while it connects: its
    // process_initial_stop_replies waits for each queued stop synchronously, and
    // the second wait fails `!async_event_handler_marked (...)` (remote.c, an
    // internal error: gdb dies; gdbserver 13 with several stopped threads hits it
    // too). So the sequence reports one thread, and once gdb has acknowledged it
    // (vStopped -> OK) the others follow as a %Stop sequence of their own, which
    // gdb takes in when it is connected.
    stop_queue.clear();
    deferred_stops.clear();
    if (exited) {
        stop_queue.push_back(render_stop(target.last_stop()));
        return send(stop_queue.front());
    }
    const StopEvent last = target.last_stop();
    std::vector<unsigned> order;  // the stopped threads, the last stop's first
    if (!running_threads.count(last.thread) && known_thread(last.thread)) order.push_back(last.thread);
    for (unsigned tid : target.threads())
        if (tid != last.thread && !running_threads.count(tid)) order.push_back(tid);
    if (order.empty()) return send("OK");
    StopEvent first{StopEvent::Kind::Signal, 0, 0, 0, {}, order.front()};
    if (auto it = thread_stops.find(order.front()); it != thread_stops.end()) first = it->second;
    else if (last.thread == order.front()) first = last;
    stop_queue.push_back(render_stop(first));
    // The held-back ones go as plain stops (signal 0): in a %Stop gdb takes a signal
    // as news ("received signal SIGTRAP"), and their reasons were told before, if ever.
    for (std::size_t i = 1; i < order.size(); ++i)
        deferred_stops.push_back(render_stop(StopEvent{StopEvent::Kind::Signal, 0, 0, 0, {}, order[i]}));
    send(stop_queue.front());
}

bool Session::Impl::memory_busy() const {
    return non_stop && !running_threads.empty() && !target.capabilities().memory_while_running;
}

}  // namespace kvmgdb::stub
