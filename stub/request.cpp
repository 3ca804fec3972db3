#include "stub/request.hpp"

#include <utility>

#include "stub/hex.hpp"

namespace kvmgdb::stub {

namespace {

using Pair = std::pair<std::string_view, std::string_view>;

// Split at the FIRST `sep`: X data after the first ':' may contain ':' itself.
std::optional<Pair> split_once(std::string_view s, char sep) {
    auto at = s.find(sep);
    if (at == std::string_view::npos) return std::nullopt;
    return Pair{s.substr(0, at), s.substr(at + 1)};
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

Malformed bad(std::string_view packet, std::string_view why) {
    return Malformed{std::string(packet) + ": " + std::string(why)};
}

std::optional<std::uint8_t> parse_signal(std::string_view hex) {
    auto v = parse_hex_u64(hex);
    if (!v || *v > 0xff) return std::nullopt;
    return static_cast<std::uint8_t>(*v);
}

// "addr,length" as in m, M, X, qXfer's "offset,length" and Z's "addr,kind".
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_pair(std::string_view s) {
    auto parts = split_once(s, ',');
    if (!parts) return std::nullopt;
    auto a = parse_hex_u64(parts->first);
    auto b = parse_hex_u64(parts->second);
    if (!a || !b) return std::nullopt;
    return std::pair{*a, *b};
}

std::optional<Id> parse_id(std::string_view s) {
    if (s == "-1") return Id::all();
    auto v = parse_hex_u64(s);
    if (!v) return std::nullopt;
    return *v == 0 ? Id::any() : Id::specific(*v);
}

std::string format_id(const Id& id) {
    switch (id.kind) {
        case Id::Kind::Any: return "0";
        case Id::Kind::All: return "-1";
        case Id::Kind::Specific: break;
    }
    return format_hex_u64(id.value);
}

// m addr,length / x addr,length / M addr,length:XX... / X addr,length:binary ("Packets").
Request parse_memory(char op, std::string_view args) {
    std::string_view name = op == 'm' ? "m" : op == 'x' ? "x" : op == 'M' ? "M" : "X";
    if (op == 'm' || op == 'x') {
        auto range = parse_pair(args);
        if (!range) return bad(name, "expected addr,length");
        return ReadMemory{range->first, range->second, op == 'x'};
    }
    auto parts = split_once(args, ':');
    if (!parts) return bad(name, "missing ':'");
    auto range = parse_pair(parts->first);
    if (!range) return bad(name, "expected addr,length");
    std::vector<std::uint8_t> data;
    if (op == 'M') {
        auto bytes = from_hex(parts->second);
        if (!bytes) return bad(name, "data is not hex");
        data = std::move(*bytes);
    } else {
        // The decoder already undid the `}` escapes ("Binary data").
        data.assign(parts->second.begin(), parts->second.end());
    }
    if (data.size() != range->second) return bad(name, "data length does not match");
    return WriteMemory{range->first, std::move(data), op == 'X'};
}

// c [addr] / s [addr] / C sig[;addr] / S sig[;addr].
template <typename Resume>
Request parse_resume(char op, std::string_view args) {
    std::string_view name(&op, 1);
    Resume r{};
    if (op == 'c' || op == 's') {
        if (args.empty()) return r;
        r.addr = parse_hex_u64(args);
        if (!r.addr) return bad(name, "bad address");
        return r;
    }
    auto parts = split_once(args, ';');
    r.signal = parse_signal(parts ? parts->first : args);
    if (!r.signal) return bad(name, "bad signal");
    if (parts) {
        r.addr = parse_hex_u64(parts->second);
        if (!r.addr) return bad(name, "bad address");
    }
    return r;
}

// vCont;action[:thread-id]... ("Packets", vCont).
Request parse_vcont(std::string_view rest) {
    if (rest == "?") return VContQuery{};
    if (rest.empty() || rest[0] != ';') return bad("vCont", "expected ';'");
    rest.remove_prefix(1);
    VCont out;
    while (true) {
        auto next = rest.find(';');
        std::string_view item = rest.substr(0, next);
        auto colon = item.find(':');
        std::string_view action = item.substr(0, colon);
        VContAction a{};
        if (colon != std::string_view::npos) {
            a.thread = parse_thread_id(item.substr(colon + 1));
            if (!a.thread) return bad("vCont", "bad thread-id");
        }
        if (action.empty()) return bad("vCont", "empty action");
        std::string_view arg = action.substr(1);
        switch (action[0]) {
            case 'c': case 'C': a.kind = VContAction::Kind::Continue; break;
            case 's': case 'S': a.kind = VContAction::Kind::Step; break;
            case 't': a.kind = VContAction::Kind::Stop; break;
            case 'r': a.kind = VContAction::Kind::RangeStep; break;
            default: return bad("vCont", "unknown action");
        }
        if (action[0] == 'C' || action[0] == 'S') {
            a.signal = parse_signal(arg);
            if (!a.signal) return bad("vCont", "bad signal");
        } else if (action[0] == 'r') {
            auto range = parse_pair(arg);
            if (!range) return bad("vCont", "bad range");
            a.range_start = range->first;
            a.range_end = range->second;
        } else if (!arg.empty()) {
            return bad("vCont", "unexpected action argument");
        }
        out.actions.push_back(std::move(a));
        if (next == std::string_view::npos) break;
        rest.remove_prefix(next + 1);
    }
    return out;
}

// Z/z type,addr,kind[;cond_list...][;cmds:...]  ("Packets", Z0..Z4).
Request parse_breakpoint(char op, std::string_view args) {
    std::string_view name(&op, 1);
    auto semi = args.find(';');
    std::string_view head = args.substr(0, semi);
    std::string_view type_text = head.substr(0, head.find(','));
    if (type_text.empty()) return bad(name, "missing type");
    // "Packets", Z: "A remote target shall return an empty string for an
    // unrecognized breakpoint or watchpoint packet type" (gdbserver too).
    if (type_text.size() != 1 || type_text[0] < '0' || type_text[0] > '4') return Unsupported{};
    auto type = static_cast<BreakpointType>(type_text[0] - '0');
    auto parts = split_once(head, ',');
    if (!parts) return bad(name, "expected type,addr,kind");
    auto loc = parse_pair(parts->second);
    if (!loc) return bad(name, "expected addr,kind");
    if (op == 'z') {
        if (semi != std::string_view::npos) return bad(name, "unexpected ';'");
        return RemoveBreakpoint{type, loc->first, loc->second};
    }
    InsertBreakpoint z{type, loc->first, loc->second, {}, std::nullopt};
    if (semi == std::string_view::npos) return z;
    std::string_view tail = args.substr(semi + 1);
    // gdb concatenates "X len,bytecode" entries after one ';' (remote.c); we
    // also accept a ';' between entries. Each is checked for shape only.
    while (!tail.empty()) {
        if (tail[0] == ';') {
            tail.remove_prefix(1);
        } else if (starts_with(tail, "cmds:")) {
            z.commands = std::string(tail.substr(5));
            break;
        } else if (tail[0] == 'X') {
            auto comma = tail.find(',');
            if (comma == std::string_view::npos) return bad(name, "bad condition");
            auto len = parse_hex_u64(tail.substr(1, comma - 1));
            std::size_t avail = tail.size() - comma - 1;
            if (!len || *len > avail / 2) return bad(name, "bad condition length");
            std::size_t end = comma + 1 + static_cast<std::size_t>(*len) * 2;
            if (!from_hex(tail.substr(comma + 1, end - comma - 1))) {
                return bad(name, "condition is not hex");
            }
            z.conditions.emplace_back(tail.substr(0, end));
            tail.remove_prefix(end);
        } else {
            return bad(name, "bad condition list");
        }
    }
    return z;
}

Request parse_supported(std::string_view args) {
    QuerySupported out;
    while (!args.empty()) {
        auto next = args.find(';');
        std::string_view item = args.substr(0, next);
        args = next == std::string_view::npos ? std::string_view{} : args.substr(next + 1);
        if (item.empty()) continue;  // tolerate a trailing ';'
        if (auto kv = split_once(item, '=')) {
            if (kv->first.empty()) return bad("qSupported", "empty feature name");
            out.features.push_back({std::string(kv->first), Feature::Kind::Value,
                                    std::string(kv->second)});
            continue;
        }
        Feature::Kind kind;
        switch (item.back()) {
            case '+': kind = Feature::Kind::Supported; break;
            case '-': kind = Feature::Kind::Unsupported; break;
            case '?': kind = Feature::Kind::Query; break;
            default: return bad("qSupported", "feature without +, -, ? or =");
        }
        if (item.size() == 1) return bad("qSupported", "empty feature name");
        out.features.push_back({std::string(item.substr(0, item.size() - 1)), kind, {}});
    }
    return out;
}

// qXfer:object:read:annex:offset,length ("General Query Packets", qXfer).
Request parse_xfer(std::string_view args) {
    auto obj = split_once(args, ':');
    if (!obj || obj->first.empty()) return bad("qXfer", "missing object");
    auto op = split_once(obj->second, ':');
    if (!op) return bad("qXfer", "missing operation");
    if (op->first != "read") return Unsupported{};  // write etc.: reply empty
    // The annex is the text up to the LAST ':' so offset,length is unambiguous.
    auto at = op->second.rfind(':');
    if (at == std::string_view::npos) return bad("qXfer", "missing offset,length");
    auto range = parse_pair(op->second.substr(at + 1));
    if (!range) return bad("qXfer", "bad offset,length");
    return XferRead{std::string(obj->first), std::string(op->second.substr(0, at)),
                    range->first, range->second};
}

// q/Q packets: the name ends at the first ':', ',' or ';' ("General Query
// Packets" says so, which is what keeps qC apart from qCRC).
Request parse_query(std::string_view payload) {
    auto end = payload.find_first_of(":,;");
    std::string_view name = payload.substr(0, end);
    std::string_view args = end == std::string_view::npos ? std::string_view{} : payload.substr(end + 1);
    bool has_args = end != std::string_view::npos;
    auto plain = [&](Request value) { return has_args ? bad(name, "unexpected arguments") : value; };
    if (name == "qC") return plain(QueryCurrentThread{});
    if (name == "qfThreadInfo") return plain(ThreadInfoFirst{});
    if (name == "qsThreadInfo") return plain(ThreadInfoNext{});
    if (name == "qOffsets") return plain(QueryOffsets{});
    if (name == "QStartNoAckMode") return plain(StartNoAckMode{});
    if (name == "qHostInfo") return plain(HostInfo{});
    if (name == "qProcessInfo") return plain(ProcessInfo{});
    if (name == "QListThreadsInStopReply") return plain(ListThreadsInStopReply{});
    if (name == "QEnableErrorStrings") return plain(EnableErrorStrings{});
    if (name == "qMemoryRegionInfo") {
        auto addr = has_args && payload[end] == ':' ? parse_hex_u64(args) : std::nullopt;
        if (!addr) return bad(name, "expected :addr");
        return MemoryRegionInfo{*addr};
    }
    if (name == "qSupported") {
        if (has_args && payload[end] != ':') return bad(name, "expected ':'");
        return parse_supported(args);
    }
    if (name == "qAttached") {
        if (!has_args) return QueryAttached{};
        auto pid = parse_hex_u64(args);
        if (payload[end] != ':' || !pid) return bad(name, "bad pid");
        return QueryAttached{pid};
    }
    if (name == "qXfer") {
        if (!has_args || payload[end] != ':') return bad(name, "expected ':'");
        return parse_xfer(args);
    }
    if (name == "qRcmd") {
        auto text = has_args && payload[end] == ',' ? from_hex_text(args) : std::nullopt;
        if (!text) return bad(name, "command is not hex");
        return MonitorCommand{std::move(*text)};
    }
    if (name == "qThreadExtraInfo") {
        auto thread = has_args && payload[end] == ',' ? parse_thread_id(args) : std::nullopt;
        if (!thread) return bad(name, "bad thread-id");
        return ThreadExtraInfo{*thread};
    }
    if (name == "QThreadEvents") {
        if (has_args && payload[end] == ':' && (args == "0" || args == "1")) {
            return SetThreadEvents{args == "1"};
        }
        return bad(name, "expected :0 or :1");
    }
    if (name == "QNonStop") {
        if (has_args && payload[end] == ':' && (args == "0" || args == "1")) return SetNonStop{args == "1"};
        return bad(name, "expected :0 or :1");
    }
    if (name == "qSymbol") {
        auto parts = has_args && payload[end] == ':' ? split_once(args, ':') : std::nullopt;
        if (!parts) return bad(name, "expected value:name");
        QuerySymbol sym;
        if (!parts->first.empty()) {
            sym.value = parse_hex_u64(parts->first);
            if (!sym.value) return bad(name, "bad value");
        }
        auto text = from_hex_text(parts->second);
        if (!text) return bad(name, "name is not hex");
        sym.name = std::move(*text);
        return sym;
    }
    return Unsupported{};  // qTStatus, qTfV, qL, ... reply empty
}

// v packets: the name ends at ';', '?' or ':' ("Packets", v).
Request parse_v(std::string_view payload) {
    auto end = payload.find_first_of(";?:");
    std::string_view name = payload.substr(0, end);
    std::string_view rest = payload.substr(name.size());  // keeps the separator
    auto plain = [&](Request value) { return rest.empty() ? value : bad(name, "unexpected arguments"); };
    if (name == "vCont") return parse_vcont(rest);
    if (name == "vMustReplyEmpty") return plain(MustReplyEmpty{});
    if (name == "vCtrlC") return plain(CtrlC{});
    if (name == "vStopped") return plain(VStopped{});
    if (name == "vKill") {
        auto pid = rest.size() > 1 && rest[0] == ';' ? parse_hex_u64(rest.substr(1)) : std::nullopt;
        if (!pid) return bad(name, "bad pid");
        return VKill{*pid};
    }
    return Unsupported{};  // vFile, vRun, vAttach, ...
}

}  // namespace

std::optional<ThreadId> parse_thread_id(std::string_view text) {
    if (text.empty()) return std::nullopt;
    if (text[0] != 'p') {
        auto tid = parse_id(text);
        if (!tid) return std::nullopt;
        return ThreadId{std::nullopt, *tid};
    }
    // "p<pid>" alone means "p<pid>.-1" ("Packets", thread-id syntax).
    text.remove_prefix(1);
    auto dot = split_once(text, '.');
    auto pid = parse_id(dot ? dot->first : text);
    auto tid = dot ? parse_id(dot->second) : std::optional<Id>(Id::all());
    if (!pid || !tid) return std::nullopt;
    return ThreadId{*pid, *tid};
}

std::string format_thread_id(const ThreadId& thread) {
    if (!thread.pid) return format_id(thread.tid);
    // Appended piecewise: GCC 12 at -O3 sees `"p" + std::string` as a possibly
    // overlapping memcpy and raises a false -Wrestrict (GCC bug 105329).
    std::string out = "p";
    out += format_id(*thread.pid);
    out += '.';
    out += format_id(thread.tid);
    return out;
}

Request parse_request(std::string_view payload) {
    if (payload.empty()) return Unsupported{};
    char op = payload[0];
    std::string_view args = payload.substr(1);
    auto exact = [&](std::string_view name, Request value) -> Request {
        return args.empty() ? value : bad(name, "unexpected arguments");
    };
    switch (op) {
        case '?': return exact("?", QueryHaltReason{});
        case 'g': return exact("g", ReadRegisters{});
        case 'k': return exact("k", Kill{});
        case 'G': {
            auto data = from_hex(args);
            if (!data || data->empty()) return bad("G", "expected hex register data");
            return WriteRegisters{std::move(*data)};
        }
        case 'p': {
            auto regno = parse_hex_u64(args);
            if (!regno) return bad("p", "bad register number");
            return ReadRegister{*regno};
        }
        case 'P': {
            auto parts = split_once(args, '=');
            auto regno = parts ? parse_hex_u64(parts->first) : std::nullopt;
            if (!regno) return bad("P", "bad register number");
            auto value = from_hex(parts->second);
            if (!value || value->empty()) return bad("P", "bad register value");
            return WriteRegister{*regno, std::move(*value)};
        }
        case 'm':
        case 'x':
        case 'M':
        case 'X': return parse_memory(op, args);
        case 'c':
        case 'C': return parse_resume<Continue>(op, args);
        case 's':
        case 'S': return parse_resume<Step>(op, args);
        case 'D': {
            if (args.empty()) return Detach{};
            auto pid = args[0] == ';' ? parse_hex_u64(args.substr(1)) : std::nullopt;
            if (!pid) return bad("D", "bad pid");
            return Detach{pid};
        }
        case 'H': {
            if (args.empty() || (args[0] != 'g' && args[0] != 'c')) return bad("H", "expected g or c");
            auto thread = parse_thread_id(args.substr(1));
            if (!thread) return bad("H", "bad thread-id");
            return SetThread{args[0] == 'g' ? SetThread::Op::General : SetThread::Op::Continue, *thread};
        }
        case 'T': {
            auto thread = parse_thread_id(args);
            if (!thread) return bad("T", "bad thread-id");
            return ThreadAlive{*thread};
        }
        case 'Z':
        case 'z': return parse_breakpoint(op, args);
        case 'q':
        case 'Q': return parse_query(payload);
        case 'v': return parse_v(payload);
        default: return Unsupported{};
    }
}

}  // namespace kvmgdb::stub
