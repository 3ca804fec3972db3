#include "debug/monitor.hpp"

#include <cerrno>
#include <cstdio>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "debug/irq_state.hpp"
#include "util/hex.hpp"
#include "x86/cpu_mode.hpp"
#include "x86/page_walk.hpp"
#include "x86/real_mode.hpp"

namespace kvmgdb::debug {

using stub::TargetStatus;

namespace {
const char* kMonitorHelp =
    "kvmgdb monitor commands:\n"
    "  help                 this text\n"
    "  info mode            the CPU mode, its paging and its register layout\n"
    "  info sregs           segment, control and descriptor-table registers\n"
    "  info debug           how breakpoints and watchpoints are implemented here, and why\n"
    "  info ports           the port devices and ports the guest touched without one\n"
    "  info irq             pc platform: the PICs, the IOAPIC and this vCPU's local APIC\n"
    "  translate ADDR       walk the guest page tables for a linear address\n"
    "  linear SEG:OFF       a real-mode seg:off (hex, e.g. 0800:0010) as a linear address\n"
    "  segoff ADDR          a linear address as seg:off relative to the current CS\n"
    "  phys on|off          gdb addresses are physical (on) or linear (off, default)\n"
    "  break-on-mode-change on|off\n"
    "                       stop after an instruction that changes CR0.PE, CR0.PG, CR4.PAE,\n"
    "                       EFER.LME/LMA or CS.L in long mode (on: single-steps every\n"
    "                       instruction, much slower); without an argument: the setting\n";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

const char* mech_name(BreakMechanism m, bool io_patch) {
    switch (m) {
    case BreakMechanism::Int3: return "int3 (KVM_GUESTDBG_USE_SW_BP)";
    case BreakMechanism::HltPatch:
        return io_patch ? "HLT patch, as `out 0xe5, al` (E6 E5, recognised on KVM_EXIT_IO) on instructions of two "
                          "bytes or more and 0xF4 (found halted by the halt poll) on one-byte ones"
                        : "HLT patch (0xF4, recognised on KVM_EXIT_HLT)";
    case BreakMechanism::DebugRegisters: return "debug registers DR0-DR3 (KVM_GUESTDBG_USE_HW_BP)";
    default: return "auto";
    }
}
}  // namespace

std::string Monitor::info_sregs(const VcpuRegisters& cpu) const {
    kvm_sregs s = cpu.sregs();
    std::ostringstream o;
    auto seg = [&](const char* name, const kvm_segment& g) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%-3s sel 0x%04x base 0x%016llx limit 0x%08x type 0x%x dpl %u p %u db %u l %u g %u\n",
                      name, g.selector, static_cast<unsigned long long>(g.base), g.limit, g.type, g.dpl, g.present,
                      g.db, g.l, g.g);
        o << buf;
    };
    seg("cs", s.cs); seg("ds", s.ds); seg("es", s.es); seg("fs", s.fs); seg("gs", s.gs); seg("ss", s.ss);
    seg("tr", s.tr); seg("ldt", s.ldt);
    // The pc gdb sees is linear (docs/modes.md); this is the CPU's own CS:IP.
    const std::uint64_t ip = cpu.regs().rip;
    if (!(s.cr0 & bits::CR0_PE))
        o << "cs:ip " << format_seg_off({s.cs.selector, static_cast<std::uint16_t>(ip)}) << " (linear "
          << hex(segment_linear(s.cs.base, ip)) << ")\n";
    else
        o << "cs:ip " << hex(s.cs.selector) << ":" << hex(ip) << "\n";
    o << "gdt base " << hex(s.gdt.base) << " limit " << hex(s.gdt.limit) << "\n";
    o << "idt base " << hex(s.idt.base) << " limit " << hex(s.idt.limit) << "\n";
    o << "cr0 " << hex(s.cr0) << " cr2 " << hex(s.cr2) << " cr3 " << hex(s.cr3) << " cr4 " << hex(s.cr4)
      << " cr8 " << hex(s.cr8) << "\n";
    o << "efer " << hex(s.efer) << " apic_base " << hex(s.apic_base) << "\n";
    return o.str();
}

std::string Monitor::translate(const VcpuRegisters& cpu, std::uint64_t addr) const {
    WalkResult w = walk(machine_.memory(), paging_of(cpu.sregs()), addr);
    return format_walk(w);
}

std::string Monitor::break_on_mode_change() const {
    std::string o = std::string("break-on-mode-change is ") + (mode_watch_.enabled() ? "on" : "off");
    if (mode_watch_.enabled()) o += " (every instruction is single-stepped: one exit each)";
    o += "; " + std::to_string(mode_watch_.steps()) + " instruction(s) stepped for it so far\n";
    return o;
}

std::string Monitor::info_debug() const {
    const Mechanisms& m = bps_.mechanisms();
    std::ostringstream o;
    auto chosen = [](bool forced) { return forced ? " (forced by --breakpoints)" : " (chosen by the probe)"; };
    o << "software breakpoints (Z0): " << mech_name(m.software, m.io_patch) << chosen(forced_.software) << "\n"
      << "  probe: int3 with KVM_GUESTDBG_USE_SW_BP " << (probe_.sw_bp_traps ? "traps" : "does not trap") << " ("
      << probe_.sw_bp_detail << ")\n"
      << "hardware breakpoints (Z1): " << mech_name(m.hardware, m.io_patch) << chosen(forced_.hardware) << "\n"
      << "  probe: DR0 execute breakpoint " << (probe_.hw_exec_traps ? "traps" : "does not trap") << " ("
      << probe_.hw_exec_detail << ")\n"
      << "watchpoints (Z2 write, Z4 access): "
      << (m.watch == WatchMechanism::DebugRegisters
              ? "debug registers (aligned 1/2/4/8 bytes), else page protection"
              : "page protection (read-only memslot for Z2, memslot hole for Z4)")
      << (forced_.watch ? " (forced by --watchpoints)" : " (chosen by the probe)") << "\n"
      << "  probe: DR1 write watchpoint " << (probe_.hw_write_traps ? "traps" : "does not trap") << " ("
      << probe_.hw_write_detail << "); KVM_CAP_READONLY_MEM " << (probe_.readonly_mem ? "yes" : "no") << "\n"
      << "  read watchpoints (Z3): unsupported\n"
      << "single step: KVM_GUESTDBG_SINGLESTEP " << (probe_.single_step ? "works" : "does not trap") << " ("
      << probe_.single_step_detail << ")"
      << ((probe_.guest_debug2 & KVM_GUESTDBG_BLOCKIRQ) ? ", with KVM_GUESTDBG_BLOCKIRQ" : "") << "\n"
      << "set now: " << bps_.patch_count() << " patched breakpoint(s), "
      << bps_.debug_registers().used() << " debug register(s), " << bps_.page_watch_count()
      << " page-protection watchpoint(s), " << bps_.protected_page_count() << " protected page(s)";
    if (bps_.has_spare_pages())
        o << " (" << bps_.spare_page_count() << " of them read-only only until the next continue)";
    o << "\n";
    return o.str();
}

TargetStatus Monitor::run(std::string_view command, std::string& output, const VcpuRegisters& cpu) {
    std::string_view c = trim(command);
    auto starts = [&](std::string_view p) { return c.substr(0, p.size()) == p; };
    if (c.empty() || c == "help") {
        output = kMonitorHelp;
        return TargetStatus::ok();
    }
    if (c == "info mode") {
        kvm_sregs s = cpu.sregs();
        std::string mode = (s.efer & bits::EFER_LMA) ? (s.cs.l ? "long mode (64-bit)" : "compatibility mode")
                           : (s.cr0 & bits::CR0_PE)  ? "protected mode"
                                                     : "real mode";
        output = mode + ", paging: " + std::string(to_string(paging_mode(paging_of(s)))) +
                 ", register layout: " + std::string(stub::architecture_name(arch_of(s))) +
                 ", addresses: " + (space_.physical() ? "physical" : "linear") + "\n";
        // The change break-on-mode-change saw last (the setting is needed to see one).
        const std::string last = mode_watch_.last();
        output += "last mode change: " +
                  (!last.empty()             ? last
                   : mode_watch_.enabled()   ? std::string("none seen")
                                             : std::string("none seen (monitor break-on-mode-change on to watch)")) +
                  "\n";
        return TargetStatus::ok();
    }
    if (c == "info sregs") {
        output = info_sregs(cpu);
        return TargetStatus::ok();
    }
    if (c == "info debug") {
        output = info_debug();
        return TargetStatus::ok();
    }
    if (c == "info irq") {
        if (machine_.platform() != Platform::Pc) {
            output = "no interrupt controllers: this guest runs on the minimal platform (--platform pc adds them)\n";
            return TargetStatus::ok();
        }
        unsigned index = 0;
        for (unsigned i = 0; i < machine_.vcpu_count(); ++i)
            if (&machine_.vcpu(i) == &cpu.vcpu()) index = i;
        output = describe_pic("master", machine_.vm().get_irqchip(KVM_IRQCHIP_PIC_MASTER).chip.pic) +
                 describe_pic("slave", machine_.vm().get_irqchip(KVM_IRQCHIP_PIC_SLAVE).chip.pic) +
                 describe_ioapic(machine_.vm().get_irqchip(KVM_IRQCHIP_IOAPIC).chip.ioapic) +
                 describe_lapic(index, cpu.vcpu().get_lapic(), cpu.sregs().apic_base);
        return TargetStatus::ok();
    }
    if (c == "info ports") {
        std::ostringstream o;
        o << "port 0xe9: debug console\nport 0xf4: exit port\n";
        if (machine_.platform() == Platform::Pc)
            o << "ports 0x3f8-0x3ff: COM1 (16550 on IRQ 4, input from kvmgdb's stdin)\n"
                 "ports 0x70-0x71: CMOS and RTC\nports 0x60, 0x64: i8042 (self test, reset)\n"
                 "ports 0x92, 0xcf9: reset\nport 0x80: POST codes (ignored)\n"
                 "in KVM: 8259 PICs (0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1), PIT (0x40-0x43, 0x61), "
                 "IOAPIC and local APICs\n";
        else
            o << "ports 0x3f8-0x3ff: COM1 (16550, output only)\n";
        const auto& unknown = machine_.ports().unknown_ports();
        o << "ports touched without a device:";
        if (unknown.empty()) o << " none";
        for (auto p : unknown) o << " " << hex(p);
        o << "\n";
        output = o.str();
        return TargetStatus::ok();
    }
    if (starts("translate")) {
        std::string arg(trim(c.substr(9)));
        try {
            std::size_t used = 0;
            std::uint64_t addr = std::stoull(arg, &used, 0);
            if (used != arg.size()) throw std::invalid_argument(arg);
            output = translate(cpu, addr);
            return TargetStatus::ok();
        } catch (const std::exception&) {
            output = "usage: translate ADDR (e.g. translate 0x100000)\n";
            return TargetStatus::error(EINVAL, output);
        }
    }
    if (starts("linear ")) {
        auto a = parse_seg_off(trim(c.substr(7)));
        if (!a) {
            output = "usage: linear SEG:OFF (hex, e.g. linear 0800:0010)\n";
            return TargetStatus::error(EINVAL, output);
        }
        output = format_seg_off(*a) + " = linear " + hex(linear_of(*a)) + "\n";
        return TargetStatus::ok();
    }
    if (starts("segoff ")) {
        std::string arg(trim(c.substr(7)));
        std::optional<std::uint64_t> addr;
        try {
            std::size_t used = 0;
            addr = std::stoull(arg, &used, 0);
            if (used != arg.size()) addr.reset();
        } catch (const std::exception&) {
        }
        if (!addr) {
            output = "usage: segoff ADDR (e.g. segoff 0x8010)\n";
            return TargetStatus::error(EINVAL, output);
        }
        kvm_sregs s = cpu.sregs();
        auto off = offset_in_segment(s.cs.base, *addr);
        if (!off) {
            output = hex(*addr) + " is outside CS " + hex(s.cs.selector) + " (base " + hex(s.cs.base) +
                     ", offsets 0-0xffff)\n";
            return TargetStatus::error(EINVAL, output);
        }
        output = hex(*addr) + " = " + format_seg_off({s.cs.selector, *off}) + "\n";
        return TargetStatus::ok();
    }
    if (c == "phys on" || c == "phys off") {
        space_.set_physical(c == "phys on");
        output = std::string("gdb addresses are now ") + (space_.physical() ? "physical" : "linear") + "\n";
        return TargetStatus::ok();
    }
    if (c == "break-on-mode-change on" || c == "break-on-mode-change off") {
        mode_watch_.set_enabled(c == "break-on-mode-change on");
        output = break_on_mode_change();
        return TargetStatus::ok();
    }
    if (c == "break-on-mode-change") {
        output = break_on_mode_change();
        return TargetStatus::ok();
    }
    if (starts("break-on-mode-change ")) {
        output = "usage: break-on-mode-change on|off\n";
        return TargetStatus::error(EINVAL, output);
    }
    if (c == "phys") {
        output = std::string("gdb addresses are ") + (space_.physical() ? "physical" : "linear") + "\n";
        return TargetStatus::ok();
    }
    output = "unknown monitor command '" + std::string(c) + "'; try 'monitor help'\n";
    return TargetStatus::error(EINVAL, output);
}

}  // namespace kvmgdb::debug
