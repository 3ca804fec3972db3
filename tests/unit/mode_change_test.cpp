// debug/mode_change: the mode signature, the change test and its text, without KVM.
#include <gtest/gtest.h>

#include <thread>

#include "debug/mode_change.hpp"
#include "x86/cpu_mode.hpp"

using namespace kvmgdb;
using namespace kvmgdb::debug;

namespace {
kvm_sregs sregs(std::uint64_t cr0, std::uint64_t cr4, std::uint64_t efer, bool cs_l = false) {
    kvm_sregs s{};
    s.cr0 = cr0;
    s.cr4 = cr4;
    s.efer = efer;
    s.cs.l = cs_l ? 1 : 0;
    return s;
}
// The states real-to-long.S goes through, one instruction apart.
const kvm_sregs kReal = sregs(bits::CR0_ET, 0, 0);
const kvm_sregs kProt = sregs(bits::CR0_ET | bits::CR0_PE, 0, 0);
const kvm_sregs kPae = sregs(bits::CR0_ET | bits::CR0_PE, bits::CR4_PAE, 0);
const kvm_sregs kLme = sregs(bits::CR0_ET | bits::CR0_PE, bits::CR4_PAE, bits::EFER_LME);
const kvm_sregs kCompat =
    sregs(bits::CR0_ET | bits::CR0_PE | bits::CR0_PG, bits::CR4_PAE, bits::EFER_LME | bits::EFER_LMA);
const kvm_sregs kLong =
    sregs(bits::CR0_ET | bits::CR0_PE | bits::CR0_PG, bits::CR4_PAE, bits::EFER_LME | bits::EFER_LMA, true);
}  // namespace

TEST(ModeChange, SignatureTakesTheFiveBitsAndCsL) {
    ModeSignature m = mode_signature(kLong);
    EXPECT_TRUE(m.pe && m.pg && m.pae && m.lme && m.lma && m.cs_l);
    m = mode_signature(kReal);
    EXPECT_FALSE(m.pe || m.pg || m.pae || m.lme || m.lma || m.cs_l);
    EXPECT_TRUE(mode_signature(kProt).pe);
    EXPECT_TRUE(mode_signature(kPae).pae);
    EXPECT_TRUE(mode_signature(kLme).lme);
}

TEST(ModeChange, CsLCountsOnlyInLongMode) {
    // A code segment with L=1 outside IA-32e mode is 32-bit code (SDM 3A 5.2.1).
    kvm_sregs s = kProt;
    s.cs.l = 1;
    EXPECT_FALSE(mode_signature(s).cs_l);
    EXPECT_FALSE(mode_changed(mode_signature(kProt), mode_signature(s)));
    EXPECT_TRUE(mode_changed(mode_signature(kCompat), mode_signature(kLong)));
}

TEST(ModeChange, OtherBitsAreNoChange) {
    // CR0.WP, CR4.PSE, EFER.NXE, CR3 and the segments are not the mode.
    kvm_sregs s = kProt;
    s.cr0 |= bits::CR0_WP | bits::CR0_NE;
    s.cr4 |= bits::CR4_PSE | bits::CR4_OSFXSR;
    s.efer |= bits::EFER_NXE;
    s.cr3 = 0x20000;
    s.cs.selector = 0x08;
    s.cs.base = 0x1000;
    EXPECT_FALSE(mode_changed(mode_signature(kProt), mode_signature(s)));
    EXPECT_TRUE(mode_changed(mode_signature(kProt), mode_signature(kPae)));
}

TEST(ModeChange, Names) {
    EXPECT_EQ(mode_name(mode_signature(kReal)), "real mode");
    EXPECT_EQ(mode_name(mode_signature(kProt)), "protected mode");
    EXPECT_EQ(mode_name(mode_signature(sregs(bits::CR0_PE | bits::CR0_PG, 0, 0))), "protected mode, 32-bit paging");
    EXPECT_EQ(mode_name(mode_signature(sregs(bits::CR0_PE | bits::CR0_PG, bits::CR4_PAE, 0))),
              "protected mode, PAE paging");
    EXPECT_EQ(mode_name(mode_signature(kCompat)), "compatibility mode");
    EXPECT_EQ(mode_name(mode_signature(kLong)), "long mode (64-bit)");
}

TEST(ModeChange, TextNamesBothModesAndTheBitsThatMoved) {
    auto text = [](const kvm_sregs& a, const kvm_sregs& b) {
        return describe_mode_change(mode_signature(a), mode_signature(b));
    };
    EXPECT_EQ(text(kReal, kProt), "real mode -> protected mode (CR0.PE 0 -> 1)");
    EXPECT_EQ(text(kProt, kPae), "protected mode -> protected mode (CR4.PAE 0 -> 1)");
    EXPECT_EQ(text(kPae, kLme), "protected mode -> protected mode (EFER.LME 0 -> 1)");
    // KVM sets EFER.LMA itself when CR0.PG is set with EFER.LME (SDM 3A 9.8.5).
    EXPECT_EQ(text(kLme, kCompat), "protected mode -> compatibility mode (CR0.PG 0 -> 1, EFER.LMA 0 -> 1)");
    EXPECT_EQ(text(kCompat, kLong), "compatibility mode -> long mode (64-bit) (CS.L 0 -> 1)");
    // Back down, as a kernel leaving long mode does.
    EXPECT_EQ(text(kLong, kReal),
              "long mode (64-bit) -> real mode (CR0.PE 1 -> 0, CR0.PG 1 -> 0, CR4.PAE 1 -> 0, EFER.LME 1 -> 0, "
              "EFER.LMA 1 -> 0, CS.L 1 -> 0)");
}

TEST(ModeChange, WatchKeepsTheSettingTheLastChangeAndTheSteps) {
    ModeChangeWatch w;
    EXPECT_FALSE(w.enabled());
    EXPECT_EQ(w.last(), "");
    w.set_enabled(true);
    EXPECT_TRUE(w.enabled());
    w.record("first");
    w.record("second");
    EXPECT_EQ(w.last(), "second");
    std::thread a([&] { for (int i = 0; i < 1000; ++i) w.count_steps(1); });
    std::thread b([&] { for (int i = 0; i < 1000; ++i) w.count_steps(2); });
    a.join();
    b.join();
    EXPECT_EQ(w.steps(), 3000u);
    w.set_enabled(false);
    EXPECT_FALSE(w.enabled());
}
