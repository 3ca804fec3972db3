// Typed GDB requests: parse_request turns one decoded packet payload (see
// rsp_codec.hpp) into a value the session dispatches on with std::visit.
// Pure, no I/O, no target knowledge: it checks syntax only (numbers fit in 64
// bits, hex is hex, M/X data matches its length); limits such as "length at
// most PacketSize" are the session's to enforce.
//
// Packet syntax follows the GDB manual, Remote Protocol appendix: "Packets",
// "General Query Packets", "Stop Reply Packets" (thread-id syntax), and
// "Binary data" (X). A malformed known packet is Malformed (the session
// replies `E` + two hex digits and goes on); an unknown one is Unsupported (the
// session replies with an empty packet, which gdb reads as "not supported").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kvmgdb::stub {

// One half of a thread-id ("Packets", thread-id syntax): a positive hex number,
// `0` (any thread) or `-1` (all threads).
struct Id {
    enum class Kind : std::uint8_t { Specific, Any, All };
    Kind kind = Kind::Any;
    std::uint64_t value = 0;  // meaningful only for Specific (never 0)

    static Id any() { return {Kind::Any, 0}; }
    static Id all() { return {Kind::All, 0}; }
    static Id specific(std::uint64_t v) { return {Kind::Specific, v}; }
    bool operator==(const Id&) const = default;
};

// `tid` or, with multiprocess extensions, `p<pid>.<tid>`; `p<pid>` alone means
// all threads of that process (tid = -1).
struct ThreadId {
    std::optional<Id> pid;
    Id tid;
    bool operator==(const ThreadId&) const = default;
};

std::optional<ThreadId> parse_thread_id(std::string_view text);
// For replies (qC, T stop replies, qfThreadInfo): "p1.2", "2", "0", "-1".
std::string format_thread_id(const ThreadId& thread);

#define KVMGDB_EQ(T) bool operator==(const T&) const = default

struct Unsupported { KVMGDB_EQ(Unsupported); };                 // unknown packet
struct Malformed { std::string reason; KVMGDB_EQ(Malformed); }; // known, bad syntax

struct QueryHaltReason { KVMGDB_EQ(QueryHaltReason); };  // ?
struct ReadRegisters { KVMGDB_EQ(ReadRegisters); };      // g
struct WriteRegisters {                                  // G XX...
    std::vector<std::uint8_t> data;
    KVMGDB_EQ(WriteRegisters);
};
struct ReadRegister {  // p n
    std::uint64_t regno;
    KVMGDB_EQ(ReadRegister);
};
struct WriteRegister {  // P n=r...
    std::uint64_t regno;
    std::vector<std::uint8_t> value;  // target byte order, as sent
    KVMGDB_EQ(WriteRegister);
};
struct ReadMemory {  // m addr,length  and  x addr,length (binary reply, "binary-upload")
    std::uint64_t addr;
    std::uint64_t length;
    bool binary = false;  // came as x
    KVMGDB_EQ(ReadMemory);
};
struct WriteMemory {  // M addr,length:XX...  and  X addr,length:binary
    std::uint64_t addr;
    std::vector<std::uint8_t> data;  // size == length; X with length 0 is gdb's probe
    bool binary;                     // came as X
    KVMGDB_EQ(WriteMemory);
};
struct Continue {  // c [addr]  and  C sig[;addr]
    std::optional<std::uint8_t> signal;
    std::optional<std::uint64_t> addr;
    KVMGDB_EQ(Continue);
};
struct Step {  // s [addr]  and  S sig[;addr]
    std::optional<std::uint8_t> signal;
    std::optional<std::uint64_t> addr;
    KVMGDB_EQ(Step);
};

struct VContQuery { KVMGDB_EQ(VContQuery); };  // vCont?
struct VContAction {
    enum class Kind : std::uint8_t { Continue, Step, Stop, RangeStep };  // c/C s/S t r
    Kind kind;
    std::optional<std::uint8_t> signal;  // C and S only
    std::optional<ThreadId> thread;      // absent: applies to all remaining threads
    std::uint64_t range_start = 0;       // r only: [start, end)
    std::uint64_t range_end = 0;
    KVMGDB_EQ(VContAction);
};
struct VCont {  // vCont;action[:thread]...  (leftmost matching action wins)
    std::vector<VContAction> actions;
    KVMGDB_EQ(VCont);
};

struct Kill { KVMGDB_EQ(Kill); };  // k
struct VKill {                     // vKill;pid
    std::uint64_t pid;
    KVMGDB_EQ(VKill);
};
struct Detach {  // D  or  D;pid
    std::optional<std::uint64_t> pid;
    KVMGDB_EQ(Detach);
};
struct SetThread {  // H op thread-id
    enum class Op : std::uint8_t { General, Continue };  // Hg, Hc
    Op op;
    ThreadId thread;
    KVMGDB_EQ(SetThread);
};
struct ThreadAlive {  // T thread-id
    ThreadId thread;
    KVMGDB_EQ(ThreadAlive);
};
struct CtrlC { KVMGDB_EQ(CtrlC); };  // vCtrlC (non-stop / packet form of 0x03)
struct VStopped { KVMGDB_EQ(VStopped); };  // vStopped ("Notification Packets": next %Stop)
struct SetNonStop {                        // QNonStop:0|1 ("Remote Non-Stop")
    bool enable;
    KVMGDB_EQ(SetNonStop);
};

struct QueryCurrentThread { KVMGDB_EQ(QueryCurrentThread); };  // qC
struct ThreadInfoFirst { KVMGDB_EQ(ThreadInfoFirst); };        // qfThreadInfo
struct ThreadInfoNext { KVMGDB_EQ(ThreadInfoNext); };          // qsThreadInfo
struct ThreadExtraInfo {                                       // qThreadExtraInfo,id
    ThreadId thread;
    KVMGDB_EQ(ThreadExtraInfo);
};
struct QueryAttached {  // qAttached[:pid]
    std::optional<std::uint64_t> pid;
    KVMGDB_EQ(QueryAttached);
};

// One gdb feature from qSupported ("General Query Packets", qSupported).
struct Feature {
    enum class Kind : std::uint8_t { Supported, Unsupported, Query, Value };  // + - ? =
    std::string name;
    Kind kind;
    std::string value;  // Value only
    KVMGDB_EQ(Feature);
};
struct QuerySupported {  // qSupported[:feature;...]
    std::vector<Feature> features;
    KVMGDB_EQ(QuerySupported);
};
struct StartNoAckMode { KVMGDB_EQ(StartNoAckMode); };  // QStartNoAckMode
struct SetThreadEvents {                               // QThreadEvents:0|1
    bool enable;
    KVMGDB_EQ(SetThreadEvents);
};
// qXfer:object:read:annex:offset,length. Other operations are Unsupported.
struct XferRead {
    std::string object;  // e.g. "features"
    std::string annex;   // e.g. "target.xml"; may be empty
    std::uint64_t offset;
    std::uint64_t length;
    KVMGDB_EQ(XferRead);
};
struct MonitorCommand {  // qRcmd,hex  (text already hex-decoded)
    std::string command;
    KVMGDB_EQ(MonitorCommand);
};
struct QueryOffsets { KVMGDB_EQ(QueryOffsets); };  // qOffsets
struct QuerySymbol {  // qSymbol::  or  qSymbol:value:hexname
    std::optional<std::uint64_t> value;  // absent: gdb could not look it up
    std::string name;                    // hex-decoded; empty for "qSymbol::"
    KVMGDB_EQ(QuerySymbol);
};
struct MustReplyEmpty { KVMGDB_EQ(MustReplyEmpty); };  // vMustReplyEmpty
// LLDB's additions (lldb's docs/resources/lldbgdbremote.md), asked for by LLDB alone.
struct HostInfo { KVMGDB_EQ(HostInfo); };                         // qHostInfo
struct ProcessInfo { KVMGDB_EQ(ProcessInfo); };                   // qProcessInfo
struct ListThreadsInStopReply { KVMGDB_EQ(ListThreadsInStopReply); };  // QListThreadsInStopReply
struct EnableErrorStrings { KVMGDB_EQ(EnableErrorStrings); };     // QEnableErrorStrings
struct MemoryRegionInfo {                                         // qMemoryRegionInfo:addr
    std::uint64_t addr;
    KVMGDB_EQ(MemoryRegionInfo);
};

enum class BreakpointType : std::uint8_t {
    Software = 0, Hardware = 1, WriteWatch = 2, ReadWatch = 3, AccessWatch = 4,
};
// Z type,addr,kind[;cond_list][;cmds:persist,cmd_list]
struct InsertBreakpoint {
    BreakpointType type;
    std::uint64_t addr;
    std::uint64_t kind;                   // breakpoint size / watch length
    std::vector<std::string> conditions;  // raw "X<len>,<hex bytecode>" entries
    std::optional<std::string> commands;  // raw text after "cmds:"
    KVMGDB_EQ(InsertBreakpoint);
};
struct RemoveBreakpoint {  // z type,addr,kind
    BreakpointType type;
    std::uint64_t addr;
    std::uint64_t kind;
    KVMGDB_EQ(RemoveBreakpoint);
};

#undef KVMGDB_EQ

using Request = std::variant<
    Unsupported, Malformed,
    QueryHaltReason, ReadRegisters, WriteRegisters, ReadRegister, WriteRegister,
    ReadMemory, WriteMemory, Continue, Step, VContQuery, VCont,
    Kill, VKill, Detach, SetThread, ThreadAlive, CtrlC, VStopped, SetNonStop,
    QueryCurrentThread, ThreadInfoFirst, ThreadInfoNext, ThreadExtraInfo, QueryAttached,
    QuerySupported, StartNoAckMode, SetThreadEvents, XferRead, MonitorCommand,
    QueryOffsets, QuerySymbol, MustReplyEmpty, InsertBreakpoint, RemoveBreakpoint,
    HostInfo, ProcessInfo, ListThreadsInStopReply, EnableErrorStrings, MemoryRegionInfo>;

// Payload as produced by Decoder (already un-escaped and RLE-expanded).
Request parse_request(std::string_view payload);

}  // namespace kvmgdb::stub
