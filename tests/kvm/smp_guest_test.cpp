// Several vCPUs without a debugger (`kvmgdb --cpus N guest.elf`): every vCPU starts at
// the entry with edi/rdi = its index and its own CPUID APIC ID, runs on its own
// thread, and the run ends when all have halted, or at once at the exit port.
#include <gtest/gtest.h>

#include "kvm_test_support.hpp"

namespace kvmgdb::kvm_test {
namespace {

struct SmpRun {
    RunOutcome outcome;
    std::unique_ptr<Machine> machine;
    std::map<std::string, std::uint64_t> syms;
};

SmpRun run_smp(const std::string& name, unsigned cpus, std::optional<CpuMode> mode = std::nullopt) {
    GuestConfig config;
    config.path = guest_path(name);
    config.mode = mode;
    config.cpus = cpus;
    SmpRun r;
    r.machine = std::make_unique<Machine>(config, [](std::string_view) {}, [](std::string_view) {});
    r.outcome = r.machine->run_to_end();
    r.syms = symbols(name);
    return r;
}

std::uint64_t word(SmpRun& r, const std::string& sym, unsigned index, unsigned size) {
    std::uint64_t addr = r.syms.at(sym) + index * size;
    std::uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= std::uint64_t(r.machine->memory().read8(addr + i)) << (8 * i);
    return v;
}

void expect_every_vcpu_counted(const std::string& guest, unsigned cpus, unsigned word_size, std::optional<CpuMode> mode) {
    SmpRun r = run_smp(guest, cpus, mode);
    ASSERT_EQ(r.machine->vcpu_count(), cpus);
    EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::Halted) << r.outcome.message;
    EXPECT_EQ(r.outcome.exit_status, 0);
    const std::uint64_t rounds = word(r, "rounds", 0, word_size);
    ASSERT_EQ(rounds, 20000u);
    for (unsigned i = 0; i < cpus; ++i) {
        EXPECT_EQ(word(r, "counter", i, word_size), rounds) << "vCPU " << i;
        EXPECT_EQ(word(r, "apic_id", i, word_size), i) << "vCPU " << i << "'s CPUID initial APIC ID";
    }
    EXPECT_EQ(word(r, "counter", cpus, word_size), 0u) << "no vCPU beyond the last";
    EXPECT_EQ(word(r, "finished", 0, word_size), cpus);
    EXPECT_EQ(word(r, "vcpu1_calls", 0, word_size), cpus > 1 ? rounds : 0);
    for (unsigned i = 0; i < cpus; ++i) {
        kvm_regs regs = r.machine->vcpu(i).get_regs();
        // Each stack is its own 16 KiB below the top of RAM: at the final hlt rsp is
        // back where _start left it (the call returned; the 32-bit entry also pushed
        // the argument and 12 bytes of alignment).
        const std::uint64_t pushed = word_size == 8 ? 0 : 16;
        EXPECT_EQ(regs.rsp, kDefaultMemory - i * 0x4000ull - pushed)
            << "vCPU " << i << "'s stack";
    }
}

TEST(SeveralVcpus, FourLongModeVcpusEachCountInTheirOwnSlot) { expect_every_vcpu_counted("smp64.elf", 4, 8, std::nullopt); }

TEST(SeveralVcpus, ThreeProtectedModeVcpusEachCountInTheirOwnSlot) {
    expect_every_vcpu_counted("smp32.elf", 3, 4, CpuMode::Protected);
}

TEST(SeveralVcpus, OneVcpuIsTheDefaultAndDoesNotCallTheVcpu1Routine) {
    expect_every_vcpu_counted("smp64.elf", 1, 8, std::nullopt);
}

TEST(SeveralVcpus, EachVcpuStartsAtTheEntryWithItsIndexInRdi) {
    GuestConfig config;
    config.path = guest_path("smp64.elf");
    config.cpus = 3;
    Machine m(config, [](std::string_view) {}, [](std::string_view) {});
    for (unsigned i = 0; i < 3; ++i) {
        kvm_regs r = m.vcpu(i).get_regs();
        EXPECT_EQ(r.rdi, i);
        EXPECT_EQ(r.rip, m.image().entry);
        kvm_sregs s = m.vcpu(i).get_sregs();
        EXPECT_EQ(s.cr3, m.vcpu(0).get_sregs().cr3) << "the same mode and tables as vCPU 0";
        EXPECT_EQ(s.cs.selector, m.vcpu(0).get_sregs().cs.selector);
    }
}

TEST(SeveralVcpus, TheExitPortEndsTheRunWhileOtherVcpusSpin) {
    // exit-outl writes the exit port at once; with several vCPUs every one of them
    // does, and the first ends the run (no vCPU is left running: the call returns).
    GuestConfig config;
    config.path = guest_path("exit-outl.elf");
    config.cpus = 4;
    Machine m(config, [](std::string_view) {}, [](std::string_view) {});
    RunOutcome o = m.run_to_end();
    EXPECT_EQ(o.kind, RunOutcome::Kind::ExitPort);
    EXPECT_EQ(o.exit_status, 5);
}

TEST(SeveralVcpus, ATripleFaultOnOneVcpuEndsTheRunAndNamesIt) {
    GuestConfig config;
    config.path = guest_path("triple-fault-long.elf");
    config.cpus = 2;
    Machine m(config, [](std::string_view) {}, [](std::string_view) {});
    RunOutcome o = m.run_to_end();
    EXPECT_EQ(o.kind, RunOutcome::Kind::TripleFault);
    EXPECT_NE(o.message.find("vCPU "), std::string::npos) << o.message;
}

TEST(SeveralVcpus, MoreThan64IsRefused) {
    GuestConfig config;
    config.path = guest_path("smp64.elf");
    config.cpus = 65;
    EXPECT_THROW(Machine(config, [](std::string_view) {}, [](std::string_view) {}), std::invalid_argument);
    config.cpus = 0;
    EXPECT_THROW(Machine(config, [](std::string_view) {}, [](std::string_view) {}), std::invalid_argument);
}

}  // namespace
}  // namespace kvmgdb::kvm_test
