// Guests run to their end on real KVM; afterwards the test inspects the vCPU and
// guest RAM through the VMM's own API (the seed's self-check: 42 in rax and at 0x400).
#include <gtest/gtest.h>

#include <string>

#include "kvm_test_support.hpp"
#include "vmm/machine.hpp"

using namespace kvmgdb;
using namespace kvmgdb::kvm_test;

namespace {

void expect_seed_check(PlainRun& r, std::uint64_t mask) {
    EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::Halted) << r.outcome.message;
    EXPECT_EQ(r.outcome.exit_status, 0);
    EXPECT_EQ(r.machine->vcpu().get_regs().rax & mask, 42u);
    EXPECT_EQ(r.machine->memory().read32(0x400), 42u);
    EXPECT_EQ(r.log, "") << "no warnings expected on a working KVM";
}

struct HelloCase {
    const char* guest;
    CpuMode mode;
    std::uint64_t mask;  // ax in real mode, eax in 32-bit modes, rax in long mode
};

class HelloGuest : public testing::TestWithParam<HelloCase> {};

}  // namespace

TEST_P(HelloGuest, PrintsHelloAndLeaves42InRaxAndMemory) {
    auto r = run_plain(GetParam().guest, GetParam().mode);
    EXPECT_EQ(r.console, "Hello, world!\n");
    expect_seed_check(r, GetParam().mask);
    EXPECT_EQ(r.machine->mode(), GetParam().mode);
}

INSTANTIATE_TEST_SUITE_P(FourModes, HelloGuest,
                         testing::Values(HelloCase{"hello-real.elf", CpuMode::Real, 0xffff},
                                         HelloCase{"hello-protected.elf", CpuMode::Protected, 0xffffffff},
                                         HelloCase{"hello-paged32.elf", CpuMode::Paged32, 0xffffffff},
                                         HelloCase{"hello-long.elf", CpuMode::Long, ~0ull}),
                         [](const testing::TestParamInfo<HelloCase>& p) { return std::string(to_string(p.param.mode)); });

TEST(DefaultMode, Elf64RunsInLongModeAndElf32InProtectedMode) {
    EXPECT_EQ(run_plain("hello-long.elf", std::nullopt).machine->mode(), CpuMode::Long);
    EXPECT_EQ(run_plain("hello-protected.elf", std::nullopt).machine->mode(), CpuMode::Protected);
}

TEST(CGuest, RunsToCompletionInProtectedMode) {
    auto r = run_plain("cguest32.elf", CpuMode::Protected);
    EXPECT_EQ(r.console, "factorial(5) = 120\nsum_to(10) = 55\nwatched_value = 3\ncguest done\n");
    expect_seed_check(r, 0xffffffff);
}

TEST(CGuest, RunsToCompletionInPaged32Mode) {
    auto r = run_plain("cguest32.elf", CpuMode::Paged32);
    EXPECT_EQ(r.console, "factorial(5) = 120\nsum_to(10) = 55\nwatched_value = 3\ncguest done\n");
    expect_seed_check(r, 0xffffffff);
}

TEST(CGuest, RunsToCompletionInLongMode) {
    auto r = run_plain("cguest64.elf", CpuMode::Long);
    EXPECT_EQ(r.console, "factorial(5) = 120\nsum_to(10) = 55\nwatched_value = 3\ncguest done\n");
    expect_seed_check(r, ~0ull);
}

TEST(ExitPort, TheByteWrittenIsTheExitStatus) {
    auto r = run_plain("exit-code.elf", std::nullopt);
    EXPECT_EQ(r.console, "exiting with 7\n");
    EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::ExitPort);
    EXPECT_EQ(r.outcome.exit_status, 7);
}

// A guest linked and loaded at 16 MiB that also touches RAM just under 64 MiB:
// only works if the page tables map all of RAM, not just the first few MiB.
TEST(HighGuest, RunsAt16MiBInPaged32Mode) {
    auto r = run_plain("high-paged32.elf", CpuMode::Paged32);
    EXPECT_EQ(r.console, "Hello from 16 MiB!\n");
    expect_seed_check(r, 0xffffffff);
    EXPECT_GE(r.machine->vcpu().get_regs().rip, 0x1000000u);
}

TEST(HighGuest, RunsAt16MiBInLongMode) {
    auto r = run_plain("high-long.elf", CpuMode::Long);
    EXPECT_EQ(r.console, "Hello from 16 MiB!\n");
    expect_seed_check(r, ~0ull);
    EXPECT_GE(r.machine->vcpu().get_regs().rip, 0x1000000u);
}

TEST(LastByte, A64MiBLongModeGuestTouchesItsLastByte) {
    auto r = run_plain("lastbyte-long.elf", CpuMode::Long, 64ull << 20);
    EXPECT_EQ(r.console, "last byte ok\n");
    expect_seed_check(r, ~0ull);
    EXPECT_EQ(r.machine->memory().read8((64ull << 20) - 1), 0xa5);
}

TEST(ModeSwitch, RealModeGuestReachesLongModeOnItsOwn) {
    auto r = run_plain("real-to-long.elf", CpuMode::Real);
    EXPECT_EQ(r.console, "real mode\nprotected mode\nreal -> protected -> long: reached 64-bit mode\n");
    expect_seed_check(r, ~0ull);
    kvm_sregs s = r.machine->vcpu().get_sregs();
    EXPECT_TRUE(s.efer & bits::EFER_LMA) << "EFER.LMA set by the guest itself";
    EXPECT_EQ(s.cs.l, 1) << "running 64-bit code";
}

TEST(TripleFault, IsReportedNotFatalToTheVmm) {
    auto r = run_plain("triple-fault-long.elf", std::nullopt);
    EXPECT_EQ(r.console, "about to triple-fault\n");
    EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::TripleFault);
    EXPECT_EQ(r.outcome.exit_status, kExitGuestCrashed);
    EXPECT_NE(r.outcome.message.find("triple-faulted"), std::string::npos);
    // Registers stay readable after the shutdown exit.
    EXPECT_NO_THROW(r.machine->vcpu().get_regs());
}

// Compiled C that uses x87 (fsqrt) and SSE arithmetic: works only if CR0/CR4 and
// the FPU state are right from the first instruction.
TEST(FloatingPoint, SseAndX87WorkInLongMode) {
    auto r = run_plain("fpu-sse64.elf", CpuMode::Long);
    EXPECT_EQ(r.console, "pi ~= 3.14063\nsqrt(2) ~= 1.41421\ndot = 70\nfpu ok\n");
    expect_seed_check(r, ~0ull);
}

TEST(FloatingPoint, SseAndX87WorkInProtectedMode) {
    auto r = run_plain("fpu-sse32.elf", CpuMode::Protected);
    EXPECT_EQ(r.console, "pi ~= 3.14063\nsqrt(2) ~= 1.41421\ndot = 70\nfpu ok\n");
    expect_seed_check(r, 0xffffffff);
}

TEST(SerialConsole, AGuestDrivingCom1LikeAKernelPrints) {
    auto r = run_plain("serial-long.elf", CpuMode::Long);
    EXPECT_EQ(r.console, "Hello over COM1!\n");
    expect_seed_check(r, ~0ull);
}
