// x86/real_mode: segment:offset <-> linear, without KVM.
#include <gtest/gtest.h>

#include "x86/real_mode.hpp"

using namespace kvmgdb;

TEST(RealMode, LinearIsSegmentTimesSixteenPlusOffset) {
    EXPECT_EQ(linear_of({0x0800, 0x0010}), 0x8010u);
    EXPECT_EQ(linear_of({0x0000, 0x7c00}), 0x7c00u);
    EXPECT_EQ(linear_of({0xffff, 0xffff}), 0x10ffefu);  // A20 on: no wrap to 0xffef
    EXPECT_EQ(segment_linear(0x8000, 0x10), 0x8010u);
    EXPECT_EQ(segment_linear(0xfffffff0, 0x20), 0x10u);  // an unreal base wraps at 4 GiB
}

TEST(RealMode, OffsetInSegmentRefusesAddressesOutsideIt) {
    EXPECT_EQ(offset_in_segment(0x8000, 0x8000), 0u);
    EXPECT_EQ(offset_in_segment(0x8000, 0x8010), 0x10u);
    EXPECT_EQ(offset_in_segment(0x8000, 0x17fff), 0xffffu);
    EXPECT_EQ(offset_in_segment(0x8000, 0x18000), std::nullopt);  // IP would be 0x10000
    EXPECT_EQ(offset_in_segment(0x8000, 0x7fff), std::nullopt);   // below the base
}

TEST(RealMode, ParsesSegOffInHexWithOrWithoutPrefix) {
    EXPECT_EQ(parse_seg_off("0800:0010"), (SegOff{0x0800, 0x0010}));
    EXPECT_EQ(parse_seg_off("0x0800:0x0010"), (SegOff{0x0800, 0x0010}));
    EXPECT_EQ(parse_seg_off("800:10"), (SegOff{0x0800, 0x0010}));
    EXPECT_EQ(parse_seg_off("F000:FFF0"), (SegOff{0xf000, 0xfff0}));
}

TEST(RealMode, RefusesMalformedSegOff) {
    for (const char* bad : {"", "0800", "0800:", ":0010", "10000:0", "0:10000", "08g0:0", "0800:0010:1", "0x:1",
                            " 0800:0010", "-1:0"})
        EXPECT_EQ(parse_seg_off(bad), std::nullopt) << bad;
}

TEST(RealMode, FormatsFourHexDigitsEach) {
    EXPECT_EQ(format_seg_off({0x0800, 0x0010}), "0800:0010");
    EXPECT_EQ(format_seg_off({0xf000, 0xfff0}), "f000:fff0");
    EXPECT_EQ(format_seg_off(*parse_seg_off("7c0:0")), "07c0:0000");
}
