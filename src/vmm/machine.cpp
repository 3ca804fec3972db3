#include "vmm/machine.hpp"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "debug/kick.hpp"

namespace kvmgdb {

namespace {

CpuMode choose_mode(const GuestConfig& config, const GuestImage& image) {
    bool elf64 = image.image_class == ImageClass::Elf64;
    if (!config.mode) return (elf64 || image.image_class == ImageClass::Raw) ? CpuMode::Long : CpuMode::Protected;
    CpuMode mode = *config.mode;
    if (image.image_class == ImageClass::Raw) return mode;
    if (elf64 && mode != CpuMode::Long)
        throw ImageError(image.name + ": a 64-bit ELF (ELFCLASS64) runs in long mode only, not in --mode " +
                         std::string(to_string(mode)));
    if (!elf64 && mode == CpuMode::Long)
        throw ImageError(image.name + ": a 32-bit ELF (ELFCLASS32) cannot start in long mode; use --mode "
                                      "protected, paged32 or real, or link the guest as ELF64");
    return mode;
}

std::string to_hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}

// vCPU `index`'s CPUID: the host's, with its own initial APIC ID (leaf 1 EBX[31:24])
// and x2APIC ID (leaves 0xB and 0x1F, EDX), so that a guest can also tell its vCPUs
// apart by CPUID as on real hardware.
std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::vector<kvm_cpuid_entry2> entries, unsigned index) {
    for (auto& e : entries) {
        if (e.function == 1) e.ebx = (e.ebx & 0x00ffffffu) | (index << 24);
        if (e.function == 0xb || e.function == 0x1f) e.edx = index;
    }
    return entries;
}

}  // namespace

PreparedGuest prepare_guest(const GuestConfig& config) {
    if (config.memory < kMinMemory || config.memory > kMaxMemory || config.memory % kPageSize != 0)
        throw ImageError(config.path + ": guest memory must be a multiple of 4 KiB between 1 MiB and 3 GiB");
    std::vector<std::uint8_t> file = config.bytes ? *config.bytes : read_file(config.path);
    GuestImage image = config.format == ImageFormat::Raw
                           ? make_raw_image(file, config.path, config.memory, config.load_addr.value_or(0),
                                            config.entry.value_or(config.load_addr.value_or(0)))
                           : parse_elf(file, config.path, config.memory);
    CpuMode mode = choose_mode(config, image);
    if (mode == CpuMode::Real && image.entry >= 0x100000)
        throw ImageError(config.path + ": entry point 0x" + to_hex(image.entry) +
                         " is above 1 MiB, out of reach of real mode");
    std::vector<PhysRange> occupied;
    for (const auto& s : image.segments) occupied.push_back({s.paddr, s.paddr + s.memsz});
    SystemArea area;
    try {
        area = place_system_area(describe(mode), config.memory, occupied);
    } catch (const ModeSetupError& e) {
        throw ImageError(config.path + ": " + e.what());
    }
    GuestMemory memory(config.memory);
    load_image(image, file, memory);
    return {std::move(image), mode, area, std::move(memory)};
}

Machine::Machine(const GuestConfig& config, TextSink console, TextSink log)
    : Machine(prepare_guest(config), std::move(console), std::move(log), config.verbose, config.cpus) {}

Machine::Machine(PreparedGuest&& g, TextSink console, TextSink log, bool verbose, unsigned cpus)
    : image_(std::move(g.image)),
      mode_(g.mode),
      area_(g.area),
      memory_(std::move(g.memory)),
      ports_(std::move(console), std::move(log), verbose) {
    if (cpus < 1 || cpus > kMaxCpus)
        throw std::invalid_argument("the number of vCPUs must be 1 to " + std::to_string(kMaxCpus) + ", not " +
                                    std::to_string(cpus));
    kvm_ = std::make_unique<Kvm>();
    vm_ = std::make_unique<Vm>(*kvm_);
    vm_->set_tss_addr(kTssAddr);
    if (vm_->check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) vm_->set_identity_map_addr(kIdentityMapAddr);
    vm_->set_user_memory_region(0, 0, 0, memory_.size(), memory_.host_base());
    // Without the host's CPUID a guest that enables long mode itself faults on
    // `wrmsr EFER` (LM is not advertised) and triple-faults; KVM also refuses CR4.PSE
    // and CR4.OSFXSR for a vCPU whose CPUID lacks PSE and FXSR.
    cpuid_ = kvm_->supported_cpuid();
    const std::vector<kvm_cpuid_entry2>& cpuid = cpuid_;
    // Every vCPU starts at the entry in the mode, as vCPU 0, except edi/rdi = its
    // index: there is no INIT/SIPI (no in-kernel APIC), each one simply runs.
    for (unsigned i = 0; i < cpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(*vm_, i);
        vcpu->set_cpuid(cpuid_for_vcpu(cpuid, i));
        kvm_sregs sregs = vcpu->get_sregs();
        kvm_regs regs{};
        setup_mode(describe(mode_), area_, image_.entry, memory_, sregs, regs);  // same tables each time
        regs.rdi = i;
        vcpu->set_sregs(sregs);
        vcpu->set_regs(regs);
        XsaveArea fpu = vcpu->get_xsave();
        set_initial_fpu(fpu);
        vcpu->set_xsave(fpu);
        vcpus_.push_back(std::move(vcpu));
    }
}

RunOutcome Machine::crash(RunOutcome::Kind kind, const std::string& what, unsigned vcpu) {
    std::string msg = what;
    if (vcpus_.size() > 1) msg = "vCPU " + std::to_string(vcpu) + ": " + msg;
    try {
        kvm_regs r = vcpus_.at(vcpu)->get_regs();
        kvm_sregs s = vcpus_.at(vcpu)->get_sregs();
        char buf[128];
        std::snprintf(buf, sizeof buf, " at cs:rip %04x:%llx (linear 0x%llx)", s.cs.selector,
                      static_cast<unsigned long long>(r.rip), static_cast<unsigned long long>(s.cs.base + r.rip));
        msg += buf;
    } catch (const KvmError&) {
        // The state may be unreadable after an internal error; the reason alone is still worth saying.
    }
    return {kind, kExitGuestCrashed, msg};
}

std::optional<RunOutcome> Machine::service_exit(const VcpuExit& e, unsigned vcpu) {
    using K = RunOutcome::Kind;
    std::lock_guard lock(devices_mu_);
    if (auto* o = std::get_if<exit::IoOut>(&e)) {
        if (auto end = ports_.out(o->port, o->size, o->data)) {
            if (end->kind == PortEnd::Kind::Reset) return RunOutcome{K::Reset, end->status, end->reason};
            return RunOutcome{K::ExitPort, end->status, {}};
        }
        return std::nullopt;
    }
    if (auto* i = std::get_if<exit::IoIn>(&e)) {
        ports_.in(i->port, i->size, i->data);
        return std::nullopt;
    }
    if (auto* m = std::get_if<exit::Mmio>(&e)) {
        ports_.mmio(m->addr, m->is_write, m->data);
        return std::nullopt;
    }
    if (std::holds_alternative<exit::Hlt>(e)) return RunOutcome{K::Halted, 0, {}};
    if (std::holds_alternative<exit::Shutdown>(e)) return crash(K::TripleFault, "guest triple-faulted (KVM_EXIT_SHUTDOWN)", vcpu);
    if (auto* f = std::get_if<exit::FailEntry>(&e)) return crash(K::EntryFailed, describe(VcpuExit(*f)), vcpu);
    if (std::holds_alternative<exit::InternalError>(e) || std::holds_alternative<exit::Unknown>(e))
        return crash(K::InternalError, describe(e), vcpu);
    return std::nullopt;  // Interrupted, Debug: nothing to do outside a debug session
}

RunOutcome Machine::run_to_end() {
    if (vcpus_.size() > 1) return run_all_to_end();
    for (;;) {
        VcpuExit e = vcpus_[0]->run();
        if (auto outcome = service_exit(e)) return *outcome;
    }
}

// One thread per vCPU. A vCPU that halts is done; the run ends when all are, or at
// once when one writes the exit port or crashes: the first such outcome wins and the
// other vCPUs are kicked out of KVM_RUN (immediate_exit + the kick signal).
RunOutcome Machine::run_all_to_end() {
    debug::install_kick_handler();
    std::mutex mu;
    std::optional<RunOutcome> ending;
    std::atomic<bool> stop{false};
    std::vector<pthread_t> handles(vcpus_.size());
    std::vector<std::thread> threads;
    auto finish = [&](RunOutcome outcome) {
        std::lock_guard lock(mu);
        if (!ending) ending = std::move(outcome);
        stop = true;
        for (std::size_t i = 0; i < vcpus_.size(); ++i) {
            vcpus_[i]->run_state().immediate_exit = 1;
            debug::kick_thread(handles[i]);
        }
    };
    {
        std::lock_guard lock(mu);  // handles[] is complete before any thread can finish()
        for (unsigned i = 0; i < vcpus_.size(); ++i) {
            threads.emplace_back([&, i] {
                try {
                    while (!stop) {
                        VcpuExit e = vcpus_[i]->run();
                        if (std::holds_alternative<exit::Interrupted>(e)) continue;
                        auto outcome = service_exit(e, i);
                        if (!outcome) continue;
                        if (outcome->kind != RunOutcome::Kind::Halted) finish(std::move(*outcome));
                        return;  // halted: this vCPU is done
                    }
                } catch (const std::exception& ex) {
                    finish({RunOutcome::Kind::InternalError, kExitHostError,
                            "vCPU " + std::to_string(i) + ": " + ex.what()});
                }
            });
            handles[i] = threads.back().native_handle();
        }
    }
    for (auto& t : threads) t.join();
    if (ending) return *ending;
    return {RunOutcome::Kind::Halted, 0, {}};  // every vCPU halted
}

bool check_kvm(TextSink report) {
    // `mov $42, %al; out %al, $0xf4`: the same bytes in 16-, 32- and 64-bit code. The
    // first fetch goes through the mode's segments and page tables.
    const std::vector<std::uint8_t> probe{0xb0, 0x2a, 0xe6, 0xf4};
    bool all_ok = true;
    for (CpuMode mode : {CpuMode::Real, CpuMode::Protected, CpuMode::Paged32, CpuMode::Long}) {
        GuestConfig config;
        config.path = "probe";
        config.bytes = probe;
        config.format = ImageFormat::Raw;
        config.mode = mode;
        config.load_addr = mode == CpuMode::Real ? 0x8000 : 0x100000;
        std::string result;
        try {
            Machine machine(config, [](std::string_view) {}, [](std::string_view) {});
            RunOutcome outcome = machine.run_to_end();
            if (outcome.kind == RunOutcome::Kind::ExitPort && outcome.exit_status == 42)
                result = "ok";
            else
                result = outcome.message.empty() ? "did not reach its exit" : outcome.message;
        } catch (const std::exception& e) {
            result = e.what();
        }
        all_ok = all_ok && result == "ok";
        report(std::string(to_string(mode)) + ": " + result + "\n");
    }
    return all_ok;
}

}  // namespace kvmgdb
