// The replies that decide which packets gdb sends, taken from kvmgdb's own
// Session (stub/session*.cpp) so that bench_ceiling_stub cannot drift from them:
// qSupported, vCont? and the qXfer:threads document. They depend only on the
// target's capabilities, threads and mode, so a target that knows nothing else
// produces them; its capabilities are KvmTarget::capabilities() on a KVM with
// single-step and read-only memslots (src/debug/kvm_target.cpp).
// No KVM here: like the stub, this must never include <linux/kvm.h>.
#pragma once

#include <cpuid.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "stub/rsp_codec.hpp"
#include "stub/session.hpp"

namespace kvmgdb::bench {

// What kvmgdb's xsave_support() finds in KVM_GET_SUPPORTED_CPUID: KVM offers the
// XSAVE components the host kernel enabled in XCR0, so CPUID + XGETBV stand in.
inline stub::RegisterFeatures host_register_features() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return {};
    if (!(c & (1u << 26)) || !(c & (1u << 27)) || !(c & (1u << 28))) return {};  // XSAVE, OSXSAVE, AVX
    std::uint32_t lo = 0, hi = 0;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    // XCR0 bit 2: AVX state; bits 5-7: opmask, ZMM_Hi256, Hi16_ZMM.
    return stub::RegisterFeatures{(lo & 0x4) != 0, (lo & 0xe0) == 0xe0}.normalized();
}

// One vCPU in protected mode, stopped; every call but the negotiation's is inert.
class KvmgdbLikeTarget final : public stub::DebugTarget {
public:
    explicit KvmgdbLikeTarget(stub::RegisterFeatures f) : features_(f) {}
    stub::Arch arch() const override { return stub::Arch::I386; }
    stub::RegisterFeatures register_features() const override { return features_; }
    stub::TargetCapabilities capabilities() const override {
        return {.software_breakpoints = true, .hardware_breakpoints = true, .write_watchpoints = true,
                .read_watchpoints = false, .access_watchpoints = true, .single_step = true, .non_stop = true,
                .memory_while_running = true};
    }
    // KvmTarget::thread_extra_info's text for a stopped protected-mode vCPU 0.
    std::string thread_extra_info(unsigned) const override { return "vCPU 0, protected mode, stopped"; }
    stub::StopEvent last_stop() const override { return {}; }

    using Status = stub::TargetStatus;
    using Bytes = std::span<const std::uint8_t>;
    std::vector<std::uint8_t> read_registers() override { return {}; }
    Status write_registers(Bytes) override { return Status::unsupported(); }
    std::optional<std::vector<std::uint8_t>> read_register(unsigned) override { return std::nullopt; }
    Status write_register(unsigned, Bytes) override { return Status::unsupported(); }
    std::size_t read_memory(std::uint64_t, std::span<std::uint8_t>) override { return 0; }
    std::size_t write_memory(std::uint64_t, Bytes) override { return 0; }
    using Kind = stub::BreakpointKind;
    Status insert_breakpoint(Kind, std::uint64_t, std::uint64_t) override { return Status::unsupported(); }
    Status remove_breakpoint(Kind, std::uint64_t, std::uint64_t) override { return Status::unsupported(); }
    void resume(stub::ResumeKind, std::optional<std::uint8_t>, StopHandler) override {}
    void interrupt() override {}
    void detach() override {}
    void remove_all_breakpoints() override {}
    void kill() override {}
    Status monitor(std::string_view, std::string&) override { return Status::unsupported(); }

private:
    stub::RegisterFeatures features_;
};

struct Negotiation {
    std::string supported;    // the qSupported reply
    std::string vcont;        // the vCont? reply
    std::string threads_xml;  // the whole qXfer:threads:read document
};

// The payload of the reply the session writes to `request`.
inline std::string session_reply(stub::Session& session, std::string_view request) {
    std::string wire = stub::encode_packet(request);
    stub::SessionOutput out = session.on_bytes({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()});
    for (const stub::Event& e : stub::Decoder().feed(out.bytes))
        if (const auto* p = std::get_if<stub::Packet>(&e)) return p->payload;
    std::fprintf(stderr, "bench_ceiling_stub: kvmgdb's session did not answer %.*s\n", int(request.size()),
                 request.data());
    std::exit(1);
}

// Asked with kvmgdb's default SessionOptions, as kvmgdb runs (no multiprocess).
inline Negotiation kvmgdb_negotiation(stub::RegisterFeatures features) {
    KvmgdbLikeTarget target(features);
    stub::Session session(target, [](stub::StopEvent) {});
    Negotiation n;
    n.supported = session_reply(session, "qSupported");
    n.vcont = session_reply(session, "vCont?");
    n.threads_xml = session_reply(session, "qXfer:threads:read::0,ffff").substr(1);  // less the 'l'
    return n;
}

}  // namespace kvmgdb::bench
