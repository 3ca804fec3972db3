#include "vmm/machine.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "debug/kick.hpp"
#include "devices/bios_data_area.hpp"
#include "devices/pc_devices.hpp"

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

// The PC platform's CPUID: the hypervisor bit (leaf 1 ECX[31]: a kernel looks for
// paravirtual leaves only with it) and KVM's leaves 0x40000000 (signature
// "KVMKVMKVM\0\0\0", highest leaf) and 0x40000001 (features: kvm-clock) where the
// host's KVM_GET_SUPPORTED_CPUID leaves them out (Documentation/virt/kvm/x86/cpuid.rst).
std::vector<kvm_cpuid_entry2> with_hypervisor_leaves(std::vector<kvm_cpuid_entry2> entries) {
    bool has_signature = false, has_features = false;
    for (auto& e : entries) {
        if (e.function == 1) e.ecx |= 1u << 31;
        has_signature = has_signature || e.function == 0x40000000;
        has_features = has_features || e.function == 0x40000001;
    }
    if (!has_signature) {
        kvm_cpuid_entry2 e{};
        e.function = 0x40000000;
        e.eax = 0x40000001;
        e.ebx = 0x4b4d564b;  // "KVMK"
        e.ecx = 0x564b4d56;  // "VMKV"
        e.edx = 0x0000004d;  // "M\0\0\0"
        entries.push_back(e);
    }
    if (!has_features) {
        kvm_cpuid_entry2 e{};
        e.function = 0x40000001;
        e.eax = (1u << 0) | (1u << 3);  // KVM_FEATURE_CLOCKSOURCE, KVM_FEATURE_CLOCKSOURCE2
        entries.push_back(e);
    }
    return entries;
}

}  // namespace

std::string_view to_string(Platform p) {
    switch (p) {
    case Platform::Auto: return "auto";
    case Platform::Pc: return "pc";
    case Platform::Minimal: return "minimal";
    }
    return "?";
}

namespace {

// --cmdline, --initrd and --module as the boot protocol gets them: the files read.
boot::BootRequest boot_request(const GuestConfig& config, boot::BootProtocol protocol) {
    boot::BootRequest request;
    request.cmdline = config.cmdline;
    auto add = [&](const ModuleArg& m) {
        // GRUB hands a Multiboot kernel each module's path and arguments as its string;
        // PVH's modlist entry has a command line only when one was given.
        std::string cmdline = m.cmdline.value_or(protocol == boot::BootProtocol::Pvh ? "" : m.path);
        request.modules.push_back({m.path, read_file(m.path), std::move(cmdline)});
    };
    if (config.initrd) add({*config.initrd, std::nullopt});
    for (const ModuleArg& m : config.modules) add(m);
    return request;
}

}  // namespace

PreparedGuest prepare_guest(const GuestConfig& config) {
    std::vector<std::uint8_t> file = config.bytes ? *config.bytes : read_file(config.path);
    std::optional<boot::PreparedBoot> boot;
    if (config.format == ImageFormat::Elf) {
        // The protocol decides the platform, the platform the default RAM, and the RAM
        // where the protocol's structures go: parse once with the largest candidate, then
        // again with the real size (parsing is cheap; only write_info touches memory).
        const std::uint64_t probe_ram = config.memory_given ? config.memory : std::max(config.memory, kPcDefaultMemory);
        boot = boot::prepare_boot(file, config.path, probe_ram, config.boot, {});
    } else if (config.boot != boot::BootChoice::Auto && config.boot != boot::BootChoice::None) {
        throw ImageError(config.path + ": --boot needs an ELF kernel (--format raw images have no boot protocol)");
    }
    const boot::BootProtocol protocol = boot ? boot->protocol : boot::BootProtocol::None;
    const Platform platform = config.platform != Platform::Auto ? config.platform
                              : protocol != boot::BootProtocol::None ? Platform::Pc
                                                                     : Platform::Minimal;
    const std::uint64_t ram = config.memory_given || platform != Platform::Pc ? config.memory : kPcDefaultMemory;
    if (ram < kMinMemory || ram > kMaxMemory || ram % kPageSize != 0)
        throw ImageError(config.path + ": guest memory must be a multiple of 4 KiB between 1 MiB and 3 GiB");
    if (protocol == boot::BootProtocol::None && (!config.cmdline.empty() || config.initrd || !config.modules.empty()))
        throw ImageError(config.path + ": --cmdline, --initrd and --module are for a kernel with a boot protocol "
                                       "(PVH, Multiboot), and this image has none");
    if (protocol != boot::BootProtocol::None && config.mode)
        throw ImageError(config.path + ": a " + std::string(boot::to_string(protocol)) +
                         " kernel starts in 32-bit protected mode, as its protocol says; --mode does not apply "
                         "(--boot none runs it as a plain ELF)");
    const boot::BootRequest request = protocol != boot::BootProtocol::None ? boot_request(config, protocol)
                                                                           : boot::BootRequest{};
    if (boot) boot = boot::prepare_boot(file, config.path, ram, config.boot, request);

    GuestImage image = boot                               ? boot->image
                       : config.format == ImageFormat::Raw ? make_raw_image(file, config.path, ram, config.load_addr.value_or(0),
                                                                            config.entry.value_or(config.load_addr.value_or(0)))
                                                           : parse_elf(file, config.path, ram);
    // A boot protocol's entry state is 32-bit protected mode with paging off, whatever
    // the ELF class (Linux's and Xen's ELF64 images enter 32-bit code).
    CpuMode mode = boot ? CpuMode::Protected : choose_mode(config, image);
    if (mode == CpuMode::Real && image.entry >= 0x100000)
        throw ImageError(config.path + ": entry point 0x" + to_hex(image.entry) +
                         " is above 1 MiB, out of reach of real mode");
    std::vector<PhysRange> occupied;
    for (const auto& s : image.segments) occupied.push_back({s.paddr, s.paddr + s.memsz});
    SystemArea area;
    try {
        area = place_system_area(describe(mode), ram, occupied);
    } catch (const ModeSetupError& e) {
        throw ImageError(config.path + ": " + e.what());
    }
    GuestMemory memory(ram);
    load_image(image, file, memory);
    std::optional<boot::BootEntry> entry;
    if (boot) {
        if (area.size) occupied.push_back({area.base, area.base + area.size});
        boot::BootArena arena(ram, occupied);
        entry = boot->write_info(memory, arena);
        // The protocols leave ESP undefined; kvmgdb's default (the top of RAM) may be
        // where a module went, so the entry stack is a page of its own below 1 MiB.
        area.stack_top = arena.allocate_low(kPageSize, kPageSize, "the entry stack") + kPageSize;
    }
    if (platform == Platform::Pc) write_bios_data_area(memory, ram);
    return {std::move(image), mode, area, std::move(memory), platform, protocol, entry};
}

Machine::Machine(const GuestConfig& config, TextSink console, TextSink log)
    : Machine(prepare_guest(config), std::move(console), std::move(log), config.verbose, config.cpus) {}

Machine::Machine(PreparedGuest&& g, TextSink console, TextSink log, bool verbose, unsigned cpus)
    : image_(std::move(g.image)),
      mode_(g.mode),
      area_(g.area),
      platform_(g.platform),
      protocol_(g.protocol),
      memory_(std::move(g.memory)),
      ports_(console, std::move(log), verbose) {
    if (cpus < 1 || cpus > kMaxCpus)
        throw std::invalid_argument("the number of vCPUs must be 1 to " + std::to_string(kMaxCpus) + ", not " +
                                    std::to_string(cpus));
    kvm_ = std::make_unique<Kvm>();
    vm_ = std::make_unique<Vm>(*kvm_);
    vm_->set_tss_addr(kTssAddr);
    if (vm_->check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) vm_->set_identity_map_addr(kIdentityMapAddr);
    vm_->set_user_memory_region(0, 0, 0, memory_.size(), memory_.host_base());
    if (platform_ == Platform::Pc) setup_pc_platform(std::move(console));
    // Without the host's CPUID a guest that enables long mode itself faults on
    // `wrmsr EFER` (LM is not advertised) and triple-faults; KVM also refuses CR4.PSE
    // and CR4.OSFXSR for a vCPU whose CPUID lacks PSE and FXSR.
    cpuid_ = kvm_->supported_cpuid();
    if (platform_ == Platform::Pc) cpuid_ = with_hypervisor_leaves(std::move(cpuid_));
    const std::vector<kvm_cpuid_entry2>& cpuid = cpuid_;
    // Minimal: every vCPU starts at the entry in the mode, as vCPU 0, except edi/rdi
    // = its index (there is no APIC to send INIT/SIPI). PC: only the BSP does; KVM's
    // in-kernel LAPIC keeps the APs in reset until the BSP's INIT/SIPI, as on hardware.
    for (unsigned i = 0; i < cpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(*vm_, i);
        vcpu->set_cpuid(cpuid_for_vcpu(cpuid, i));
        if (i == 0 || platform_ != Platform::Pc) {
            kvm_sregs sregs = vcpu->get_sregs();
            kvm_regs regs{};
            setup_mode(describe(mode_), area_, image_.entry, memory_, sregs, regs);  // same tables each time
            regs.rdi = i;
            if (g.boot_entry) {
                regs.rip = g.boot_entry->entry;
                regs.rax = g.boot_entry->eax;
                regs.rbx = g.boot_entry->ebx;
                regs.rdi = 0;
            }
            vcpu->set_sregs(sregs);
            vcpu->set_regs(regs);
            XsaveArea fpu = vcpu->get_xsave();
            set_initial_fpu(fpu);
            vcpu->set_xsave(fpu);
        }
        vcpus_.push_back(std::move(vcpu));
    }
}

void Machine::setup_pc_platform(TextSink console) {
    vm_->create_irqchip();
    vm_->create_pit2();
    Vm* vm = vm_.get();
    ports_.attach_pc(std::make_unique<PcDevices>(
        std::move(console), [vm](unsigned irq, bool level) { vm->irq_line(irq, level); }, memory_.size()));
}

void Machine::serial_input(std::string_view bytes) {
    std::lock_guard lock(devices_mu_);
    if (PcDevices* pc = ports_.pc()) pc->serial_input(bytes);
}

bool Machine::idle_for_good(unsigned index) {
    Vcpu& v = *vcpus_.at(index);
    const std::uint32_t state = v.get_mp_state();
    if (state == KVM_MP_STATE_UNINITIALIZED || state == KVM_MP_STATE_INIT_RECEIVED) return true;
    return state == KVM_MP_STATE_HALTED && (v.get_regs().rflags & bits::RFLAGS_IF) == 0;
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
    if (vcpus_.size() > 1 || platform_ == Platform::Pc) return run_all_to_end();
    for (;;) {
        VcpuExit e = vcpus_[0]->run();
        if (auto outcome = service_exit(e)) return *outcome;
    }
}

// One thread per vCPU. On the minimal platform a vCPU that halts is done; the run
// ends when all are, or at once when one writes the exit port or crashes: the first
// such outcome wins and the other vCPUs are kicked out of KVM_RUN (immediate_exit +
// the kick signal). On the PC platform HLT waits inside KVM for an interrupt, so
// this thread kicks every vCPU now and then to ask whether it waits for good
// (idle_for_good); when all do at once, the run ends as a halt.
RunOutcome Machine::run_all_to_end() {
    debug::install_kick_handler();
    std::mutex mu;
    std::condition_variable ended;
    std::optional<RunOutcome> ending;
    std::atomic<bool> stop{false};
    std::vector<pthread_t> handles(vcpus_.size());
    std::vector<std::thread> threads;
    // PC: per vCPU, the round of kicks it last found it idle for good in.
    std::vector<std::atomic<std::uint64_t>> idle_round(vcpus_.size());
    std::atomic<std::uint64_t> round{0};
    auto finish = [&](RunOutcome outcome) {
        std::lock_guard lock(mu);
        if (!ending) ending = std::move(outcome);
        stop = true;
        for (std::size_t i = 0; i < vcpus_.size(); ++i) {
            vcpus_[i]->run_state().immediate_exit = 1;
            debug::kick_thread(handles[i]);
        }
        ended.notify_all();
    };
    {
        std::lock_guard lock(mu);  // handles[] is complete before any thread can finish()
        for (unsigned i = 0; i < vcpus_.size(); ++i) {
            threads.emplace_back([&, i] {
                try {
                    while (!stop) {
                        VcpuExit e = vcpus_[i]->run();
                        if (std::holds_alternative<exit::Interrupted>(e)) {
                            vcpus_[i]->run_state().immediate_exit = 0;
                            if (platform_ != Platform::Pc || stop) continue;
                            // Round 0 is before the first kick: an exit then (an AP's
                            // KVM_RUN returns when INIT arrives) must not count, or every
                            // vCPU's "never" (0) would look like this round.
                            const std::uint64_t r = round.load();
                            if (r == 0 || !idle_for_good(i)) continue;
                            idle_round[i] = r;
                            bool all = true;
                            for (auto& seen : idle_round) all = all && seen.load() == r;
                            if (all) finish({RunOutcome::Kind::Halted, 0, "every vCPU halted with interrupts disabled"});
                            continue;
                        }
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
    if (platform_ == Platform::Pc) {
        // Rounds start at 1 (idle_round's 0 means "never"); 20 a second cost nothing.
        std::unique_lock lock(mu);
        while (!ending) {
            if (ended.wait_for(lock, std::chrono::milliseconds(50), [&] { return ending.has_value(); })) break;
            ++round;
            for (std::size_t i = 0; i < vcpus_.size(); ++i) {
                vcpus_[i]->run_state().immediate_exit = 1;
                debug::kick_thread(handles[i]);
            }
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
