// Session::Impl, shared by session.cpp (wire rules, state) and
// session_handlers.cpp (one handle() per typed request). Private to the stub.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

    void on_event(const Event& event);
    void on_packet(const Packet& packet);
    void send(std::string_view payload);
    void error(int err);  // `E` + two hex digits
    void error(const TargetStatus& status);  // its errno, EINVAL when it has none
    void interrupt_target();  // never throws
    SessionOutput take_output();

    void resume(ResumeKind kind, std::optional<std::uint8_t> signal, std::optional<std::uint64_t> addr);
    bool write_pc(std::uint64_t addr);
    const RegisterInfo* find_register(std::uint64_t regno) const;
    static bool is_our_thread(const ThreadId& thread);

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
};

}  // namespace kvmgdb::stub
