// One guest: its RAM, the loaded image, kvmgdb's tables, a VM with one or more vCPUs
// in the chosen mode (docs/guest-abi.md, "Several vCPUs"), and the port devices. Used by the CLI to run a guest to its
// end, by the KVM tests to inspect it afterwards, and by the debug target.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "boot/boot_protocol.hpp"
#include "devices/port_io.hpp"
#include "kvm/kvm.hpp"
#include "loader/elf_loader.hpp"
#include "mem/guest_memory.hpp"
#include "x86/cpu_mode.hpp"
#include "x86/mode_setup.hpp"

namespace kvmgdb {

inline constexpr std::uint64_t kDefaultMemory = 64ull << 20;
inline constexpr std::uint64_t kMinMemory = 1ull << 20;
// KVM's real-mode TSS (three pages) and identity-map page sit just below 4 GiB;
// RAM must stay under them, and 32-bit modes cannot address more anyway.
inline constexpr std::uint64_t kMaxMemory = 3ull << 30;
inline constexpr std::uint64_t kTssAddr = 0xfffbd000;
inline constexpr std::uint64_t kIdentityMapAddr = 0xfffbc000;
inline constexpr unsigned kMaxCpus = 64;  // --cpus 1-64

enum class ImageFormat { Elf, Raw };

// --platform (docs/guest-abi.md, "Platforms"). Minimal: RAM, the debug console, a
// polled COM1, the exit port; HLT ends the run. Pc: KVM's in-kernel LAPIC, IOAPIC,
// PICs and PIT, a 16550 with input, CMOS/RTC, i8042, resets and the BIOS data area;
// HLT waits for an interrupt. Auto: Pc for an image with a boot protocol.
enum class Platform { Auto, Pc, Minimal };
std::string_view to_string(Platform p);
// RAM of a PC-platform guest when --memory is not given: a distribution kernel
// wants more than a test payload (KVM maps it lazily: untouched RAM costs nothing).
inline constexpr std::uint64_t kPcDefaultMemory = 256ull << 20;

// --module FILE[,CMDLINE] and --initrd FILE, before the files are read.
struct ModuleArg {
    std::string path;
    std::optional<std::string> cmdline;  // default: the path for Multiboot, none for PVH
};

struct GuestConfig {
    std::string path;                           // also the name in messages
    std::optional<std::vector<std::uint8_t>> bytes;  // the image itself, instead of reading path
    ImageFormat format = ImageFormat::Elf;
    std::optional<std::uint64_t> load_addr;  // raw only
    std::optional<std::uint64_t> entry;      // raw only (defaults to load_addr)
    std::optional<CpuMode> mode;             // default: from the ELF class
    std::uint64_t memory = kDefaultMemory;
    bool memory_given = false;  // --memory on the command line (else a platform may pick more)
    boot::BootChoice boot = boot::BootChoice::Auto;
    Platform platform = Platform::Auto;
    std::string cmdline;              // --cmdline, for a boot protocol
    std::optional<std::string> initrd;  // --initrd: the first module
    std::vector<ModuleArg> modules;   // --module, in order
    unsigned cpus = 1;  // vCPUs, 1..kMaxCpus; vCPU i starts with edi/rdi = i
    bool verbose = false;
};

// How a run ended. exit_status is what kvmgdb exits with.
struct RunOutcome {
    enum class Kind { Halted, ExitPort, Reset, TripleFault, EntryFailed, InternalError };
    Kind kind;
    int exit_status;
    std::string message;  // empty for Halted / ExitPort; what reset the guest for Reset
};

// Exit statuses of kvmgdb itself (docs/guest-abi.md): the guest's own status from the
// exit port passes through unchanged.
inline constexpr int kExitHostError = 1;  // KVM unusable, an ioctl failed
inline constexpr int kExitBadInput = 2;   // bad command line or guest image
inline constexpr int kExitGuestCrashed = 3;

// The part of loading that needs no KVM: read and check the image, choose the mode
// and where the tables go, fill RAM. Throws ImageError / ModeSetupError.
struct PreparedGuest {
    GuestImage image;
    CpuMode mode;
    SystemArea area;
    GuestMemory memory;
    Platform platform = Platform::Minimal;  // never Auto here
    boot::BootProtocol protocol = boot::BootProtocol::None;
    std::optional<boot::BootEntry> boot_entry;  // the protocol's eip/eax/ebx
};
PreparedGuest prepare_guest(const GuestConfig& config);

// Runs a tiny guest in each of the four modes on this host's KVM and reports, one line
// per mode, whether it ran. True when all did. Catches a /dev/kvm that opens but cannot
// run a mode (seen: a nested KVM that drops CR0.PG without PAE, breaking paged32).
bool check_kvm(TextSink report);

class Machine {
public:
    Machine(const GuestConfig& config, TextSink console, TextSink log);

    // Runs until every vCPU has halted, one writes the exit port, or one crashes
    // (each vCPU on its own thread when there are several).
    RunOutcome run_to_end();
    // Handles an exit that is the VMM's business (I/O, MMIO). Returns the outcome
    // when the exit ends the run, nullopt when the guest can go on. Thread-safe: the
    // devices are shared by the vCPUs and serialised here. `vcpu` names the vCPU
    // whose exit it is (for the crash message).
    std::optional<RunOutcome> service_exit(const VcpuExit& e, unsigned vcpu = 0);

    CpuMode mode() const { return mode_; }
    const GuestImage& image() const { return image_; }
    const SystemArea& system_area() const { return area_; }
    GuestMemory& memory() { return memory_; }
    unsigned vcpu_count() const { return static_cast<unsigned>(vcpus_.size()); }
    Vcpu& vcpu(unsigned index = 0) { return *vcpus_.at(index); }
    Vm& vm() { return *vm_; }
    const Kvm& kvm() const { return *kvm_; }
    // KVM_GET_SUPPORTED_CPUID as read once at construction: the CPUID every vCPU got
    // (each with its own APIC ID on top), e.g. for debug::xsave_support().
    const std::vector<kvm_cpuid_entry2>& cpuid() const { return cpuid_; }
    PortBus& ports() { return ports_; }
    Platform platform() const { return platform_; }
    boot::BootProtocol boot_protocol() const { return protocol_; }
    // Bytes for COM1's receiver (the PC platform's 16550; dropped on minimal).
    // Thread-safe: kvmgdb's stdin reader calls it while vCPUs run.
    void serial_input(std::string_view bytes);
    // On the PC platform: whether vCPU `index`, out of KVM_RUN, waits for nothing
    // that can come (halted with IF=0, or an AP still waiting for INIT/SIPI).
    bool idle_for_good(unsigned index);

private:
    Machine(PreparedGuest&& guest, TextSink console, TextSink log, bool verbose, unsigned cpus);
    void setup_pc_platform(TextSink console);
    RunOutcome crash(RunOutcome::Kind kind, const std::string& what, unsigned vcpu);
    RunOutcome run_all_to_end();

    GuestImage image_;
    CpuMode mode_;
    SystemArea area_;
    Platform platform_;
    boot::BootProtocol protocol_;
    GuestMemory memory_;
    PortBus ports_;
    std::unique_ptr<Kvm> kvm_;
    std::unique_ptr<Vm> vm_;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    std::vector<kvm_cpuid_entry2> cpuid_;
    std::mutex devices_mu_;  // ports_, for service_exit from several vCPU threads
};

}  // namespace kvmgdb
