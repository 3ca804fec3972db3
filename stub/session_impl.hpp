// Session::Impl, shared by session.cpp (wire rules, state) and
// session_handlers.cpp (one handle() per typed request). Private to the stub.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "stub/register_view.hpp"
#include "stub/request.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"
#include "stub/stop_reply.hpp"

namespace kvmgdb::stub {

struct Session::Impl {
    Impl(DebugTarget& target, std::function<void(StopEvent)> post_stop, SessionOptions options);

    DebugTarget& target;
    RegisterView regs{target};  // in the layout gdb was given at connect time
    std::function<void(StopEvent)> post_stop;
    SessionOptions options;
    Decoder decoder;

    bool ack_mode = true;       // until QStartNoAckMode ("Packet Acknowledgment")
    bool running = false;       // resumed, stop reply not yet sent
    bool exited = false;        // W or X sent: the guest is gone
    bool closed = false;        // after D, k or vKill
    bool swallow_stop = false;  // interrupted on disconnect: nobody awaits the stop
    GdbFeatures gdb;            // from gdb's qSupported
    std::string last_reply;     // framed, for `-` retransmission
    SessionOutput out;          // being built for the current call

    // Threads (session_threads.cpp): vCPU i is thread i + 1 of process 1.
    unsigned general = 1;                    // Hg: the thread selected in the target
    std::optional<unsigned> cont_thread;     // Hc with one thread; none: all of them
    std::vector<unsigned> thread_list;       // qfThreadInfo's snapshot, paged by qsThreadInfo
    std::size_t thread_cursor = 0;
    std::string threads_xml;                 // qXfer:threads, built at offset 0
    std::map<unsigned, StopEvent> thread_stops;  // the last stop reported per thread
    // "Remote Non-Stop": no global `running`; each thread runs or not.
    bool non_stop = false;
    std::set<unsigned> running_threads;      // resumed, stop not yet reported
    std::deque<std::string> stop_queue;      // stop replies; the front was sent, awaits vStopped
    std::deque<std::string> deferred_stops;  // non-stop `?`: told by %Stop once its sequence ends

    // Target-side breakpoint conditions (ConditionalBreakpoints+, session_conditions.cpp):
    // gdb's agent-expression bytecode per Z0/Z1 address. A hit whose conditions are
    // all false is stepped over and resumed here, without a stop reply.
    struct Conditions {
        BreakpointKind kind = BreakpointKind::Software;
        std::uint64_t length = 0;  // Z's kind
        std::vector<std::vector<std::uint8_t>> exprs;
    };
    std::map<std::uint64_t, Conditions> conditions;
    // A false condition's way on: the breakpoint lifted, its thread stepping past it.
    struct ConditionSkip {
        std::uint64_t addr = 0;
        unsigned thread = 0;
        Conditions bp;
        std::vector<ThreadAction> resume;  // gdb's resume, started again after the step
    };
    std::optional<ConditionSkip> skipping;
    std::vector<ThreadAction> last_resume;  // all-stop: what gdb's last resume asked
    bool interrupted = false;               // all-stop: 0x03 since the last resume

    void on_event(const Event& event);
    void on_packet(const Packet& packet);
    void send(std::string_view payload);
    void error(int err);  // `E` + two hex digits
    void error(const TargetStatus& status);  // its errno, EINVAL when it has none
    void error(int err, std::string_view text);  // with the text where the client takes it
    void memory_error(std::uint64_t addr);   // nothing readable at addr (m, x)
    void interrupt_target();  // never throws

    // session_conditions.cpp
    void keep_conditions(const InsertBreakpoint& z);
    void drop_conditions(std::uint64_t addr);
    // on_target_stopped, all-stop: true when the stop was dealt with here (a
    // false condition stepped over, gdb's resume started again): no stop reply.
    // A Ctrl-C that came while stepping off may turn `event` into its SIGINT stop.
    bool resumed_past_false_condition(StopEvent& event);
    bool start_condition_skip(const StopEvent& event);   // may throw: the caller catches
    bool finish_condition_skip(StopEvent& event);
    void lost_breakpoint(std::uint64_t addr);
    SessionOutput take_output();

    void resume(ResumeKind kind, std::optional<std::uint8_t> signal, std::optional<std::uint64_t> addr);
    void start(std::vector<ThreadAction> actions);  // all-stop: stop reply later; non-stop: OK
    bool write_pc(std::uint64_t addr);
    const RegisterInfo* find_register(std::uint64_t regno) const;

    // session_threads.cpp
    bool known_thread(unsigned tid) const;
    static bool matches(const ThreadId& id, unsigned tid);
    std::optional<unsigned> specific_thread(const ThreadId& id) const;  // one known thread, or none
    bool select(unsigned tid);                  // Hg: in the target, then `general`
    std::string render_stop(const StopEvent& event);  // event.thread's registers, selection kept
    std::string thread_text(unsigned tid) const;
    std::string extra_info(unsigned tid);
    bool general_running() const { return non_stop && running_threads.count(general) != 0; }
    bool memory_busy() const;                   // non-stop, threads run, target cannot serve
    void notify_stop(const StopEvent& event);   // non-stop: queue it, %Stop if the queue was empty
    void send_notification(std::string_view payload);
    void send_xfer(const std::string& document, const XferRead& x);
    std::string threads_document();             // "Thread List Format"

    // session_handlers.cpp
    void handle(const Unsupported&);
    void handle(const Malformed&);
    void handle(const QueryHaltReason&);
    void handle(const ReadRegisters&);
    void handle(const WriteRegisters&);
    void handle(const ReadRegister&);
    void handle(const WriteRegister&);
    void handle(const ReadMemory&);
    void handle(const WriteMemory&);
    void handle(const Continue&);
    void handle(const Step&);
    void handle(const VContQuery&);
    void handle(const VCont&);
    void handle(const Kill&);
    void handle(const VKill&);
    void handle(const Detach&);
    void handle(const SetThread&);
    void handle(const ThreadAlive&);
    void handle(const CtrlC&);
    void handle(const VStopped&);
    void handle(const SetNonStop&);
    void handle(const QueryCurrentThread&);
    void handle(const ThreadInfoFirst&);
    void handle(const ThreadInfoNext&);
    void handle(const ThreadExtraInfo&);
    void handle(const QueryAttached&);
    void handle(const QuerySupported&);
    void handle(const StartNoAckMode&);
    void handle(const SetThreadEvents&);
    void handle(const XferRead&);
    void handle(const MonitorCommand&);
    void handle(const QueryOffsets&);
    void handle(const QuerySymbol&);
    void handle(const MustReplyEmpty&);
    void handle(const InsertBreakpoint&);
    void handle(const RemoveBreakpoint&);
    void handle(const HostInfo&);
    void handle(const ProcessInfo&);
    void handle(const ListThreadsInStopReply&);
    void handle(const EnableErrorStrings&);
    void handle(const MemoryRegionInfo&);
};

}  // namespace kvmgdb::stub
