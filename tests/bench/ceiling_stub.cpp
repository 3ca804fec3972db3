// bench_ceiling_stub: the "ceiling" of scripts/bench. An RSP server that answers
// gdb at once from canned registers and a memory buffer, so the bench can show
// what gdb and loopback TCP allow by themselves, with no VMM behind the stub.
//
// gdb must send it the very packets it sends kvmgdb for a 32-bit protected-mode
// guest, so it serves kvmgdb's i386 target description and `g` layout
// (stub/registers.hpp, with the AVX sets kvmgdb would find on this host), takes
// its qSupported, vCont? and qXfer:threads replies from kvmgdb's own Session
// (kvmgdb_negotiation.hpp), and words the rest as kvmgdb does: stop replies as
// stop_reply.cpp (thread, reason, then esp/ebp/eip expedited, so gdb needs no
// `g` after a step), errors as errnos (E0e EFAULT, E16 EINVAL).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stub/hex.hpp"
#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"
#include "stub/stop_reply.hpp"
#include "stub/target_description.hpp"
#include "tests/bench/kvmgdb_negotiation.hpp"
#include "tests/bench/loopback.hpp"

using namespace kvmgdb::stub;

namespace {

constexpr const char* kUsage =
    "usage: bench_ceiling_stub --elf FILE --pc ADDR --sp ADDR [--memory BYTES] [--features auto|sse|avx|avx512]";
const std::size_t kPacketSize = SessionOptions{}.max_packet;  // kvmgdb's PacketSize

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_ceiling_stub: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}
[[noreturn]] void bad_input(const std::string& why, bool show_usage = true) {
    std::fprintf(stderr, "bench_ceiling_stub: %s\n", why.c_str());
    if (show_usage) std::fprintf(stderr, "%s\n", kUsage);
    std::exit(2);
}

struct UniqueFd {
    int fd;
    explicit UniqueFd(int f) : fd(f) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { if (fd >= 0) ::close(fd); }
};

std::uint64_t parse_number(const std::string& option, const char* text) {
    char* end = nullptr;
    errno = 0;
    std::uint64_t v = std::strtoull(text, &end, 0);  // 0x hex or decimal
    if (errno != 0 || end == text || *end != '\0') bad_input(option + ": not a number: " + text);
    return v;
}

// Each PT_LOAD's p_filesz bytes at p_paddr; the rest of `memory` stays zero.
void load_elf32(const std::string& path, std::span<std::uint8_t> memory) {
    std::ifstream in(path, std::ios::binary);
    if (!in) { errno = errno ? errno : ENOENT; fail(("open " + path).c_str()); }
    std::vector<char> file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto u16 = [&](std::size_t at) { return std::uint32_t(std::uint8_t(file[at]) | std::uint8_t(file[at + 1]) << 8); };
    auto u32 = [&](std::size_t at) { return u16(at) | u16(at + 2) << 16; };
    // e_ident: magic, ELFCLASS32 (1), little-endian (1); the header is 52 bytes.
    if (file.size() < 52 || std::memcmp(file.data(), "\x7f" "ELF", 4) != 0 || file[4] != 1 || file[5] != 1)
        bad_input(path + ": not a little-endian ELF32 file", false);
    std::size_t phoff = u32(28), phentsize = u16(42), phnum = u16(44);
    if (phentsize < 32 || phoff + phnum * phentsize > file.size()) bad_input(path + ": bad program headers", false);
    for (std::size_t i = 0; i < phnum; ++i) {
        std::size_t ph = phoff + i * phentsize;
        if (u32(ph) != 1) continue;  // PT_LOAD
        std::size_t offset = u32(ph + 4), paddr = u32(ph + 12), filesz = u32(ph + 16);
        if (offset + filesz > file.size() || paddr + filesz > memory.size())
            bad_input(path + ": a PT_LOAD segment lies outside the file or --memory", false);
        std::memcpy(memory.data() + paddr, file.data() + offset, filesz);
    }
}

// The canned guest: registers as kvmgdb's protected-mode start leaves them,
// memory, breakpoints; answer() is the whole protocol.
struct Stub {
    const RegisterLayout& layout;
    std::vector<std::uint8_t> regs;
    std::span<std::uint8_t> memory;
    kvmgdb::bench::Negotiation negotiation;  // kvmgdb's qSupported, vCont?, threads
    std::string target_xml = kvmgdb::stub::target_xml(layout);
    std::map<std::uint64_t, char> breakpoints;  // addr -> '0' (Z0) or '1' (Z1)
    bool swbreak = false, hwbreak = false;      // what gdb announced in qSupported

    Stub(RegisterFeatures features, std::span<std::uint8_t> ram, std::uint64_t pc, std::uint64_t sp)
        : layout(register_layout(Arch::I386, features)), regs(layout.g_size()), memory(ram),
          negotiation(kvmgdb::bench::kvmgdb_negotiation(features)) {
        set("eip", pc);
        set("esp", sp);
        set("eflags", 0x2);
        set("cs", 0x08);
        for (std::string_view seg : {"ss", "ds", "es", "fs", "gs"}) set(seg, 0x10);
        set("cr0", 0x33);  // PE, MP, ET, NE: kvmgdb's protected mode (x86/cpu_mode.cpp)
    }

    void set(std::string_view name, std::uint64_t value) {
        if (const RegisterInfo* r = layout.find(name))
            for (std::size_t i = 0; i < reg_size(*r) && i < 8; ++i)
                regs[r->offset + i] = std::uint8_t(value >> (8 * i));
    }
    std::uint64_t get(std::string_view name) const {
        const RegisterInfo* r = layout.find(name);
        std::uint64_t v = 0;
        for (std::size_t i = 0; r && i < reg_size(*r) && i < 8; ++i)
            v |= std::uint64_t(regs[r->offset + i]) << (8 * i);
        return v;
    }
    std::string reg_hex(unsigned regnum) const {
        const RegisterInfo* r = layout.find(regnum);
        return r ? to_hex({regs.data() + r->offset, reg_size(*r)}) : "E16";
    }
    // stop_reply.cpp's form: "T05thread:1;swbreak:;04:..;05:..;08:..;".
    std::string stop(int signal, std::string_view reason = {}) const {
        ExpeditedRegs e = expedited_regs(Arch::I386);
        std::array<unsigned, 3> order{e.pc, e.sp, e.fp};
        std::sort(order.begin(), order.end());  // regnum order, as gdbserver
        std::string reply = "T" + to_hex_le(unsigned(signal), 1) + "thread:1;" + std::string(reason);
        for (unsigned n : order) reply += to_hex_le(n, 1) + ":" + reg_hex(n) + ";";
        return reply;
    }
    // "addr,len" (then ':' or the end) -> the bytes of memory it names, clipped to it.
    bool range(std::string_view args, std::uint64_t& addr, std::uint64_t& len) const {
        std::size_t comma = args.find(','), colon = args.find(':');
        auto a = parse_hex_u64(args.substr(0, comma));
        auto l = comma == args.npos ? std::nullopt : parse_hex_u64(args.substr(comma + 1, colon - comma - 1));
        if (!a || !l || *a >= memory.size()) return false;
        addr = *a;
        len = std::min<std::uint64_t>(*l, memory.size() - addr);
        return true;
    }
    // qXfer reads: "m" + chunk while more follows, "l" + the last one (session_queries.cpp).
    static std::string xfer(const std::string& doc, std::string_view offlen) {
        std::size_t comma = offlen.find(',');
        auto off = parse_hex_u64(offlen.substr(0, comma));
        auto len = comma == offlen.npos ? std::nullopt : parse_hex_u64(offlen.substr(comma + 1));
        if (!off || !len || *off > doc.size()) return "E01";
        std::string chunk = doc.substr(*off, std::min<std::uint64_t>(*len, kPacketSize - 1));
        return (*off + chunk.size() < doc.size() ? "m" : "l") + chunk;
    }

    std::string answer(const std::string& p, bool& done);
    void serve(int fd);
};

std::string Stub::answer(const std::string& p, bool& done) {
    auto starts = [&p](std::string_view s) { return p.starts_with(s); };
    std::uint64_t addr = 0, len = 0;
    if (starts("qSupported")) {
        swbreak = p.find("swbreak+") != p.npos;
        hwbreak = p.find("hwbreak+") != p.npos;
        return negotiation.supported;
    }
    if (p == "QStartNoAckMode" || p == "QNonStop:0" || starts("Hg") || starts("Hc") || p == "T1") return "OK";
    if (starts("qXfer:features:read:target.xml:")) return xfer(target_xml, p.substr(31));
    if (starts("qXfer:features:read:")) return "E00";
    if (starts("qXfer:threads:read::")) return xfer(negotiation.threads_xml, p.substr(20));
    if (p == "?") return stop(5);
    if (p == "qfThreadInfo") return "m1";
    if (p == "qsThreadInfo") return "l";
    if (p == "qC") return "QC1";
    if (starts("qAttached")) return "1";
    if (p == "vCont?") return negotiation.vcont;
    if (p == "g") return to_hex(regs);
    if (p[0] == 'G') {
        auto g = from_hex(std::string_view(p).substr(1));
        if (!g || g->size() != regs.size()) return "E16";
        regs = *g;
        return "OK";
    }
    if (p[0] == 'p') {
        auto n = parse_hex_u64(std::string_view(p).substr(1));
        return n && *n < layout.size() ? reg_hex(unsigned(*n)) : "E16";
    }
    if (p[0] == 'P') {
        std::size_t eq = p.find('=');
        auto n = parse_hex_u64(std::string_view(p).substr(1, eq - 1));
        const RegisterInfo* r = n && *n < layout.size() ? layout.find(unsigned(*n)) : nullptr;
        auto v = eq == p.npos ? std::nullopt : from_hex(std::string_view(p).substr(eq + 1));
        if (!r || !v || v->size() != reg_size(*r)) return "E16";
        std::copy(v->begin(), v->end(), regs.begin() + std::ptrdiff_t(r->offset));
        return "OK";
    }
    if (p[0] == 'm' || p[0] == 'x') {
        bool binary = p[0] == 'x';
        if (!range(std::string_view(p).substr(1), addr, len)) return "E0e";  // EFAULT, as kvmgdb
        // Cut to fit PacketSize, as session_handlers.cpp does: hex is two
        // characters a byte; binary is "b" + bytes, each escaped at most once.
        len = std::min<std::uint64_t>(len, binary ? kPacketSize - 1 : kPacketSize / 2);
        if (!binary) return to_hex({memory.data() + addr, len});
        std::string reply = "b";
        for (std::size_t i = 0, wire = 1; i < len; ++i) {
            wire += escaped_size(char(memory[addr + i]));
            if (wire > kPacketSize) break;
            reply.push_back(char(memory[addr + i]));
        }
        return reply;
    }
    if (p[0] == 'M' || p[0] == 'X') {
        std::size_t colon = p.find(':');
        if (colon == p.npos) return "E16";
        std::string_view data = std::string_view(p).substr(colon + 1);
        auto bytes = p[0] == 'X' ? std::optional(std::vector<std::uint8_t>(data.begin(), data.end())) : from_hex(data);
        if (!bytes) return "E16";
        if (bytes->empty()) return "OK";  // X's probe for binary downloads
        if (!range(std::string_view(p).substr(1), addr, len) || len < bytes->size()) return "E0e";
        std::copy(bytes->begin(), bytes->end(), memory.begin() + std::ptrdiff_t(addr));
        return "OK";
    }
    if ((p[0] == 'Z' || p[0] == 'z') && p.size() > 3 && (p[1] == '0' || p[1] == '1') && p[2] == ',') {
        auto a = parse_hex_u64(std::string_view(p).substr(3, p.find(',', 3) - 3));
        if (!a) return "E16";
        if (p[0] == 'Z') breakpoints[*a] = p[1];  // a condition list after ';' is ignored
        else breakpoints.erase(*a);
        return "OK";
    }
    bool vcont_step = starts("vCont;") && (p.find(";s") != p.npos || p.find(";S") != p.npos);
    if (p == "s" || vcont_step) {
        // The pc stays, so that any number of stepi keep gdb's unwinder on the real
        // code at --pc (canned memory holds no sensible frames past a few made-up
        // instructions). It moves only off a breakpoint still inserted, which gdb
        // (which sends z0 before its step over one) never leaves there.
        if (breakpoints.contains(get("eip"))) set("eip", get("eip") + 1);
        return stop(5);
    }
    if (p == "c" || starts("vCont;c") || starts("vCont;C")) {
        if (breakpoints.empty()) return "W00";
        auto [at, type] = *breakpoints.begin();  // the lowest
        set("eip", at);
        bool announced = type == '0' ? swbreak : hwbreak;
        return stop(5, announced ? (type == '0' ? "swbreak:;" : "hwbreak:;") : "");
    }
    if (p == "D" || starts("D;") || starts("vKill")) {
        done = true;
        return "OK";
    }
    return "";  // "Standard Replies": not supported (vMustReplyEmpty, qTStatus, qOffsets, qSymbol...)
}

void send_all(int fd, const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size();) {
        ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write");
        at += std::size_t(n);
    }
}

// One connection, until gdb disconnects, kills or detaches.
void Stub::serve(int fd) {
    Decoder decoder;
    std::vector<std::uint8_t> buffer(1 << 16);
    std::string last;  // the last frame, for a `-`
    bool ack = true, done = false;
    while (!done) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read");
        if (n == 0) break;  // gdb went away
        for (const Event& event : decoder.feed({buffer.data(), std::size_t(n)})) {
            std::string out;
            if (const auto* packet = std::get_if<Packet>(&event)) {
                const std::string& p = packet->payload;
                if (p == "k") return;  // "Packets", k: no reply
                last = encode_packet(answer(p, done));
                out = (ack ? "+" : "") + last;  // the ack and the reply in one write
                if (p == "QStartNoAckMode") ack = false;
            } else if (std::holds_alternative<Interrupt>(event)) {
                out = last = encode_packet(stop(2));
            } else if (std::holds_alternative<Nack>(event)) {
                out = ack ? last : "";
            } else if (std::holds_alternative<BadPacket>(event)) {
                out = ack ? "-" : "";  // gdb retransmits
            }
            if (!out.empty()) send_all(fd, out);
            if (done) break;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string elf, features = "auto";
    std::optional<std::uint64_t> pc, sp;
    std::uint64_t memory_size = 64u << 20;
    for (int i = 1; i < argc; i += 2) {
        std::string option = argv[i];
        if (i + 1 >= argc) bad_input(option + " needs a value");
        if (option == "--elf") elf = argv[i + 1];
        else if (option == "--pc") pc = parse_number(option, argv[i + 1]);
        else if (option == "--sp") sp = parse_number(option, argv[i + 1]);
        else if (option == "--memory") memory_size = parse_number(option, argv[i + 1]);
        else if (option == "--features") features = argv[i + 1];
        else bad_input("unknown option " + option);
    }
    if (elf.empty() || !pc || !sp) bad_input("--elf, --pc and --sp are required");
    if (memory_size == 0 || memory_size > (std::uint64_t(1) << 32)) bad_input("--memory: 1 byte to 4 GiB");
    if (features != "auto" && features != "sse" && features != "avx" && features != "avx512")
        bad_input("--features: auto, sse, avx or avx512");
    RegisterFeatures feats = features == "auto" ? kvmgdb::bench::host_register_features()
                                                : RegisterFeatures{features != "sse", features == "avx512"};

    // calloc: fresh zero pages from mmap, touched only where the ELF or gdb writes.
    std::unique_ptr<std::uint8_t, decltype(&std::free)> ram(static_cast<std::uint8_t*>(std::calloc(memory_size, 1)),
                                                            &std::free);
    if (!ram) fail("calloc");
    Stub stub(feats, {ram.get(), std::size_t(memory_size)}, *pc, *sp);
    load_elf32(elf, stub.memory);

    kvmgdb::bench::LoopbackListener bound = kvmgdb::bench::listen_on_loopback();
    if (bound.failed) fail(bound.failed);
    UniqueFd listener(bound.fd);
    std::printf("port %u\n", unsigned(ntohs(bound.address.sin_port)));
    std::fflush(stdout);

    UniqueFd conn(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.fd < 0) fail("accept4");
    int one = 1;  // each reply is one segment, sent at once
    if (::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) fail("setsockopt TCP_NODELAY");

    stub.serve(conn.fd);
    return 0;
}
