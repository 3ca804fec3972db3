#include "kvm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

namespace kvmgdb {

namespace {

// One error funnel: every ioctl goes through here so the name is never lost.
template <typename Arg>
int xioctl(int fd, unsigned long request, const char* name, Arg arg) {
    int r;
    do {
        r = ::ioctl(fd, request, arg);
    } while (r < 0 && errno == EINTR && request != KVM_RUN);
    if (r < 0) throw KvmError(name, errno);
    return r;
}
#define KVM_IOCTL(fd, req, arg) xioctl((fd), (req), #req, (arg))

// <asm/kvm.h> declares kvm_cpuid2::entries with __DECLARE_FLEX_ARRAY, which in C++
// becomes a struct holding an empty struct (size 1) before the array: sizeof is 12 and
// the entries sit at offset 12, so KVM_GET_SUPPORTED_CPUID and KVM_SET_CPUID2 get the
// wrong ioctl number (size field 12, not 8) and the kernel answers EINVAL. Use the C
// layout: an 8-byte header followed directly by the entries.
struct CpuidHeader {
    std::uint32_t nent;
    std::uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

// kvm_xsave has an `extra` flexible array after its 4096-byte region; the same C++
// layout problem makes its sizeof 4100, so KVM_GET_XSAVE/KVM_SET_XSAVE would carry
// the wrong size. The ioctls are defined on the 4096-byte XsaveArea instead.
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);
static_assert(sizeof(XsaveArea) == sizeof(kvm_xsave::region));

struct CpuidBuffer {
    explicit CpuidBuffer(std::uint32_t n)
        : bytes(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2)) {
        header()->nent = n;
    }
    CpuidHeader* header() { return reinterpret_cast<CpuidHeader*>(bytes.data()); }
    kvm_cpuid_entry2* entries() { return reinterpret_cast<kvm_cpuid_entry2*>(bytes.data() + sizeof(CpuidHeader)); }
    std::vector<std::uint8_t> bytes;
};

std::string open_hint(int err, const std::string& path) {
    switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
        return "  " + path + " does not exist: load the module (modprobe kvm-intel or kvm-amd), enable\n"
               "  virtualisation in the firmware, or, where there is none (containers, CI runners\n"
               "  without nested virtualisation), run kvmgdb under scripts/with-kvm.";
    case EACCES:
    case EPERM:
        return "  no permission to open " + path + ": add yourself to the 'kvm' group\n"
               "  (sudo usermod -aG kvm $USER, then log in again) or run as root.";
    default:
        return "  see scripts/with-kvm for running without a usable " + path + ".";
    }
}

}  // namespace

Kvm::Kvm(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw KvmError("open " + path, err, open_hint(err, path));
    }
    fd_ = Fd(fd);
    int version = KVM_IOCTL(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        throw KvmError("KVM_GET_API_VERSION returned " + std::to_string(version) + ", kvmgdb needs " +
                       std::to_string(KVM_API_VERSION));
    struct Required { long cap; const char* name; };
    for (auto [cap, name] : {Required{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                             Required{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
                             Required{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
                             Required{KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG"},
                             Required{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                             Required{KVM_CAP_XSAVE, "KVM_CAP_XSAVE"}}) {
        if (check_extension(cap) <= 0)
            throw KvmError(std::string("the host KVM lacks ") + name + ", which kvmgdb needs");
    }
}

int Kvm::check_extension(long cap) const {
    return KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, cap);
}

int Kvm::vcpu_mmap_size() const {
    return KVM_IOCTL(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
    // The ioctl says E2BIG when the buffer is too small; grow until it fits.
    for (std::uint32_t n = 64; n <= 4096; n *= 2) {
        CpuidBuffer buf(n);
        if (::ioctl(fd_.get(), kGetSupportedCpuid, buf.bytes.data()) == 0)
            return {buf.entries(), buf.entries() + buf.header()->nent};
        if (errno != E2BIG) throw KvmError("KVM_GET_SUPPORTED_CPUID", errno);
    }
    throw KvmError("KVM_GET_SUPPORTED_CPUID", E2BIG);
}

Vm::Vm(const Kvm& kvm) : kvm_(&kvm), fd_(KVM_IOCTL(kvm.fd(), KVM_CREATE_VM, 0)) {}

void Vm::enable_cap(std::uint32_t cap, std::uint64_t arg) {
    kvm_enable_cap c{};
    c.cap = cap;
    c.args[0] = arg;
    KVM_IOCTL(fd_.get(), KVM_ENABLE_CAP, &c);
}

int Vm::check_extension(long cap) const {
    return KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, cap);
}

void Vm::set_tss_addr(std::uint64_t addr) {
    KVM_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr));
}

void Vm::set_identity_map_addr(std::uint64_t addr) {
    __u64 a = addr;
    KVM_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &a);
}

void Vm::set_user_memory_region(std::uint32_t slot, std::uint32_t flags, std::uint64_t guest_phys,
                                std::uint64_t size, void* host) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = flags;
    region.guest_phys_addr = guest_phys;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    KVM_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region);
}

void Vm::create_irqchip() { KVM_IOCTL(fd_.get(), KVM_CREATE_IRQCHIP, 0); }

void Vm::create_pit2() {
    kvm_pit_config config{};
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    KVM_IOCTL(fd_.get(), KVM_CREATE_PIT2, &config);
}

void Vm::irq_line(std::uint32_t irq, bool level) {
    kvm_irq_level l{};
    l.irq = irq;
    l.level = level ? 1 : 0;
    KVM_IOCTL(fd_.get(), KVM_IRQ_LINE, &l);
}

kvm_irqchip Vm::get_irqchip(std::uint32_t chip) const {
    kvm_irqchip c{};
    c.chip_id = chip;
    KVM_IOCTL(fd_.get(), KVM_GET_IRQCHIP, &c);
    return c;
}

Vcpu::Vcpu(const Vm& vm, unsigned id) : fd_(KVM_IOCTL(vm.fd(), KVM_CREATE_VCPU, id)) {
    auto size = static_cast<std::size_t>(vm.kvm().vcpu_mmap_size());
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) throw KvmError("mmap of the vCPU's kvm_run", errno);
    run_ = Mmap(p, size);
}

VcpuExit Vcpu::run() {
    if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) return exit::Interrupted{};
        throw KvmError("KVM_RUN", errno);
    }
    kvm_run& r = run_state();
    auto* base = static_cast<std::uint8_t*>(run_.get());
    switch (r.exit_reason) {
    case KVM_EXIT_IO: {
        std::size_t len = std::size_t(r.io.size) * r.io.count;
        std::span<std::uint8_t> data(base + r.io.data_offset, len);
        if (r.io.direction == KVM_EXIT_IO_OUT)
            return exit::IoOut{r.io.port, r.io.size, r.io.count, data};
        return exit::IoIn{r.io.port, r.io.size, r.io.count, data};
    }
    case KVM_EXIT_MMIO:
        return exit::Mmio{r.mmio.phys_addr, r.mmio.len, r.mmio.is_write != 0,
                          std::span<std::uint8_t>(r.mmio.data, r.mmio.len)};
    case KVM_EXIT_HLT:
        return exit::Hlt{};
    case KVM_EXIT_DEBUG:
        return exit::Debug{r.debug.arch.exception, r.debug.arch.pc, r.debug.arch.dr6, r.debug.arch.dr7};
    case KVM_EXIT_SHUTDOWN:
        return exit::Shutdown{};
    case KVM_EXIT_FAIL_ENTRY:
        return exit::FailEntry{r.fail_entry.hardware_entry_failure_reason};
    case KVM_EXIT_INTERNAL_ERROR:
        return exit::InternalError{r.internal.suberror};
    case KVM_EXIT_INTR:
        return exit::Interrupted{};
    default:
        return exit::Unknown{r.exit_reason};
    }
}

kvm_regs Vcpu::get_regs() const {
    kvm_regs r{};
    KVM_IOCTL(fd_.get(), KVM_GET_REGS, &r);
    return r;
}
void Vcpu::set_regs(const kvm_regs& r) { KVM_IOCTL(fd_.get(), KVM_SET_REGS, &r); }
kvm_sregs Vcpu::get_sregs() const {
    kvm_sregs s{};
    KVM_IOCTL(fd_.get(), KVM_GET_SREGS, &s);
    return s;
}
void Vcpu::set_sregs(const kvm_sregs& s) { KVM_IOCTL(fd_.get(), KVM_SET_SREGS, &s); }
kvm_fpu Vcpu::get_fpu() const {
    kvm_fpu f{};
    KVM_IOCTL(fd_.get(), KVM_GET_FPU, &f);
    return f;
}
void Vcpu::set_fpu(const kvm_fpu& f) { KVM_IOCTL(fd_.get(), KVM_SET_FPU, &f); }
XsaveArea Vcpu::get_xsave() const {
    XsaveArea a;
    xioctl(fd_.get(), kGetXsave, "KVM_GET_XSAVE", a.bytes.data());
    return a;
}
void Vcpu::set_xsave(const XsaveArea& a) {
    xioctl(fd_.get(), kSetXsave, "KVM_SET_XSAVE", const_cast<std::uint8_t*>(a.bytes.data()));
}

kvm_xcrs Vcpu::get_xcrs() const {
    kvm_xcrs x{};
    KVM_IOCTL(fd_.get(), KVM_GET_XCRS, &x);
    return x;
}
void Vcpu::set_xcrs(const kvm_xcrs& x) { KVM_IOCTL(fd_.get(), KVM_SET_XCRS, &x); }
kvm_debugregs Vcpu::get_debugregs() const {
    kvm_debugregs d{};
    KVM_IOCTL(fd_.get(), KVM_GET_DEBUGREGS, &d);
    return d;
}
void Vcpu::set_debugregs(const kvm_debugregs& d) { KVM_IOCTL(fd_.get(), KVM_SET_DEBUGREGS, &d); }

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    CpuidBuffer buf(static_cast<std::uint32_t>(entries.size()));
    std::copy(entries.begin(), entries.end(), buf.entries());
    xioctl(fd_.get(), kSetCpuid2, "KVM_SET_CPUID2", buf.bytes.data());
}

void Vcpu::set_guest_debug(const kvm_guest_debug& dbg) {
    KVM_IOCTL(fd_.get(), KVM_SET_GUEST_DEBUG, &dbg);
}

kvm_vcpu_events Vcpu::get_vcpu_events() const {
    kvm_vcpu_events e{};
    KVM_IOCTL(fd_.get(), KVM_GET_VCPU_EVENTS, &e);
    return e;
}
void Vcpu::set_vcpu_events(const kvm_vcpu_events& e) { KVM_IOCTL(fd_.get(), KVM_SET_VCPU_EVENTS, &e); }

std::uint32_t Vcpu::get_mp_state() const {
    kvm_mp_state m{};
    KVM_IOCTL(fd_.get(), KVM_GET_MP_STATE, &m);
    return m.mp_state;
}
void Vcpu::set_mp_state(std::uint32_t state) {
    kvm_mp_state m{};
    m.mp_state = state;
    KVM_IOCTL(fd_.get(), KVM_SET_MP_STATE, &m);
}
kvm_lapic_state Vcpu::get_lapic() const {
    kvm_lapic_state l{};
    KVM_IOCTL(fd_.get(), KVM_GET_LAPIC, &l);
    return l;
}

std::string describe(const VcpuExit& e) {
    char buf[128];
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, exit::IoOut>)
                std::snprintf(buf, sizeof buf, "I/O out to port 0x%x (%u bytes)", x.port, unsigned(x.size));
            else if constexpr (std::is_same_v<T, exit::IoIn>)
                std::snprintf(buf, sizeof buf, "I/O in from port 0x%x (%u bytes)", x.port, unsigned(x.size));
            else if constexpr (std::is_same_v<T, exit::Mmio>)
                std::snprintf(buf, sizeof buf, "MMIO %s at 0x%llx (%u bytes)", x.is_write ? "write" : "read",
                              static_cast<unsigned long long>(x.addr), x.len);
            else if constexpr (std::is_same_v<T, exit::Hlt>)
                std::snprintf(buf, sizeof buf, "HLT");
            else if constexpr (std::is_same_v<T, exit::Debug>)
                std::snprintf(buf, sizeof buf, "debug exception %u at 0x%llx", x.exception,
                              static_cast<unsigned long long>(x.pc));
            else if constexpr (std::is_same_v<T, exit::Shutdown>)
                std::snprintf(buf, sizeof buf, "shutdown (triple fault)");
            else if constexpr (std::is_same_v<T, exit::FailEntry>)
                std::snprintf(buf, sizeof buf, "VM entry failed (hardware reason 0x%llx)",
                              static_cast<unsigned long long>(x.hardware_reason));
            else if constexpr (std::is_same_v<T, exit::InternalError>)
                std::snprintf(buf, sizeof buf, "KVM internal error (suberror %u)", x.suberror);
            else if constexpr (std::is_same_v<T, exit::Interrupted>)
                std::snprintf(buf, sizeof buf, "interrupted");
            else
                std::snprintf(buf, sizeof buf, "unknown exit reason %u", x.reason);
        },
        e);
    return buf;
}

}  // namespace kvmgdb
