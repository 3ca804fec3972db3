#include <gtest/gtest.h>

#include "cli/options.hpp"

using namespace kvmgdb;

TEST(ParseSize, Suffixes) {
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("512K"), 512u << 10);
    EXPECT_EQ(parse_size("64M"), 64u << 20);
    EXPECT_EQ(parse_size("64m"), 64u << 20);
    EXPECT_EQ(parse_size("2MiB"), 2u << 20);
    EXPECT_EQ(parse_size("1G"), 1ull << 30);
    EXPECT_EQ(parse_size("3GB"), 3ull << 30);
    EXPECT_EQ(parse_size("1T"), 1ull << 40);
}

TEST(CommandLine, MemoryOutsideTheRangeNamesTheValue) {
    for (const char* bad : {"0", "4K", "1023K", "1025K", "3073M", "4G", "1T"}) {
        try {
            parse_command_line({"--memory", bad, "g.elf"});
            ADD_FAILURE() << bad << " accepted";
        } catch (const UsageError& e) {
            EXPECT_EQ(std::string(e.what()), std::string("--memory '") + bad +
                                                 "': guest RAM must be a multiple of 4 KiB between 1 MiB and 3 GiB");
        }
    }
    EXPECT_EQ(parse_command_line({"--memory", "1M", "g.elf"}).guest.memory, 1u << 20);
    EXPECT_EQ(parse_command_line({"--memory", "3G", "g.elf"}).guest.memory, 3ull << 30);
    EXPECT_EQ(parse_command_line({"--memory", "1028K", "g.elf"}).guest.memory, 1028u << 10);
}

TEST(ParseSize, Rejects) {
    for (const char* bad : {"", "M", "-1M", "1.5G", "12Q", "0x10M", "99999999999999999999", "17179869184G"})
        EXPECT_THROW(parse_size(bad), UsageError) << bad;
}

TEST(ParseAddress, HexAndDecimal) {
    EXPECT_EQ(parse_address("0x100000"), 0x100000u);
    EXPECT_EQ(parse_address("4096"), 4096u);
    EXPECT_THROW(parse_address("0x"), UsageError);
    EXPECT_THROW(parse_address("zz"), UsageError);
}

TEST(CommandLine, Defaults) {
    auto o = parse_command_line({"guest.elf"});
    EXPECT_EQ(o.action, CliOptions::Action::Run);
    EXPECT_EQ(o.guest.path, "guest.elf");
    EXPECT_EQ(o.guest.memory, 64u << 20);
    EXPECT_FALSE(o.guest.memory_given);  // the pc platform may then pick more
    EXPECT_EQ(o.guest.boot, boot::BootChoice::Auto);
    EXPECT_EQ(o.guest.platform, Platform::Auto);
    EXPECT_TRUE(o.guest.cmdline.empty());
    EXPECT_FALSE(o.guest.initrd);
    EXPECT_TRUE(o.guest.modules.empty());
    EXPECT_FALSE(o.guest.mode);
    EXPECT_EQ(o.guest.format, ImageFormat::Elf);
    EXPECT_FALSE(o.listen);
    EXPECT_FALSE(o.log_packets);
}

TEST(CommandLine, LogPackets) {
    auto o = parse_command_line({"--listen", "unix:/tmp/g.sock", "--log-packets", "rsp.log", "g.elf"});
    EXPECT_EQ(o.listen, "unix:/tmp/g.sock");
    EXPECT_EQ(o.log_packets, "rsp.log");
    EXPECT_EQ(parse_command_line({"--listen", ":0", "--log-packets", "-", "g.elf"}).log_packets, "-");
    EXPECT_THROW(parse_command_line({"--log-packets", "rsp.log", "g.elf"}), UsageError);  // no --listen
    EXPECT_THROW(parse_command_line({"--listen", ":0", "--log-packets", "", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--listen", ":0", "g.elf", "--log-packets"}), UsageError);
}

TEST(CommandLine, GdbBatch) {
    auto o = parse_command_line({"--gdb-batch", "a.py", "--gdb-batch", "b.gdb", "--cpus", "2", "g.elf"});
    EXPECT_EQ(o.gdb_batch, (std::vector<std::string>{"a.py", "b.gdb"}));  // in the order given
    EXPECT_EQ(o.gdb_program, "gdb");
    EXPECT_TRUE(o.debugging());
    EXPECT_FALSE(o.listen);
    EXPECT_EQ(parse_command_line({"--gdb-batch", "a.py", "--gdb", "/opt/gdb", "g.elf"}).gdb_program, "/opt/gdb");
    // The options that need a debugger take --gdb-batch as well as --listen.
    auto d = parse_command_line({"--gdb-batch", "a.py", "--breakpoints", "hlt", "--gdb-arch", "i386",
                                 "--log-packets", "-", "g.elf"});
    EXPECT_EQ(d.breakpoints, CliOptions::Breakpoints::Hlt);
    EXPECT_EQ(d.log_packets, "-");
    auto error_of = [](std::vector<std::string> args) {
        try {
            parse_command_line(args);
        } catch (const UsageError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(error_of({"--gdb-batch", "a.py", "--listen", ":0", "g.elf"}),
              "--gdb-batch serves gdb on a loopback port of its own: it does not take --listen");
    EXPECT_EQ(error_of({"--gdb", "/opt/gdb", "g.elf"}), "--gdb needs --gdb-batch");
    EXPECT_EQ(error_of({"--gdb-batch", "", "g.elf"}), "--gdb-batch needs a script file name (without newlines)");
    EXPECT_EQ(error_of({"--gdb-batch", "a\nb.py", "g.elf"}), "--gdb-batch needs a script file name (without newlines)");
    EXPECT_EQ(error_of({"--log-packets", "x", "g.elf"}), "--log-packets needs --listen or --gdb-batch");
    EXPECT_EQ(error_of({"--gdb-batch", "a.py"}), "no guest image given");
}

TEST(CommandLine, BreakpointAndWatchpointMechanisms) {
    auto d = parse_command_line({"--listen", ":0", "g.elf"});
    EXPECT_EQ(d.breakpoints, CliOptions::Breakpoints::Auto);
    EXPECT_EQ(d.watchpoints, CliOptions::Watchpoints::Auto);
    auto o = parse_command_line({"--listen", ":0", "--breakpoints", "hlt", "--watchpoints", "pageprot", "g.elf"});
    EXPECT_EQ(o.breakpoints, CliOptions::Breakpoints::Hlt);
    EXPECT_EQ(o.watchpoints, CliOptions::Watchpoints::PageProtection);
    o = parse_command_line({"--listen", ":0", "--breakpoints", "int3", "--watchpoints", "debugreg", "g.elf"});
    EXPECT_EQ(o.breakpoints, CliOptions::Breakpoints::Int3);
    EXPECT_EQ(o.watchpoints, CliOptions::Watchpoints::DebugRegisters);
    o = parse_command_line({"--listen", ":0", "--breakpoints", "auto", "g.elf"});
    EXPECT_EQ(o.breakpoints, CliOptions::Breakpoints::Auto);
    EXPECT_THROW(parse_command_line({"--listen", ":0", "--breakpoints", "dr", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--listen", ":0", "--watchpoints", "mprotect", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--breakpoints", "hlt", "g.elf"}), UsageError);  // no --listen
}

// --gdb-arch: auto (default), i386 or x86-64; anything else names itself; only with --listen.
TEST(CommandLine, GdbArch) {
    EXPECT_EQ(parse_command_line({"--listen", ":0", "g.elf"}).gdb_arch, CliOptions::GdbArch::Auto);
    EXPECT_EQ(parse_command_line({"--listen", ":0", "--gdb-arch", "i386", "g.elf"}).gdb_arch, CliOptions::GdbArch::I386);
    EXPECT_EQ(parse_command_line({"--listen", ":0", "--gdb-arch", "x86-64", "g.elf"}).gdb_arch,
              CliOptions::GdbArch::X86_64);
    EXPECT_EQ(parse_command_line({"--listen", ":0", "--gdb-arch", "auto", "g.elf"}).gdb_arch, CliOptions::GdbArch::Auto);
    try {
        parse_command_line({"--listen", ":0", "--gdb-arch", "i8086", "g.elf"});
        ADD_FAILURE() << "i8086 accepted";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("--gdb-arch 'i8086'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(parse_command_line({"--gdb-arch", "x86-64", "g.elf"}), UsageError);  // no --listen
    EXPECT_EQ(parse_command_line({"--print-gdb-extension"}).action, CliOptions::Action::PrintGdbExtension);
}

TEST(CommandLine, AllOptions) {
    auto o = parse_command_line({"--mode", "paged32", "--memory", "128M", "-v", "--listen", ":1234", "k.elf"});
    EXPECT_EQ(o.guest.mode, CpuMode::Paged32);
    EXPECT_EQ(o.guest.memory, 128u << 20);
    EXPECT_TRUE(o.guest.verbose);
    EXPECT_EQ(o.listen, ":1234");
    auto r = parse_command_line({"--format", "raw", "--load-addr", "0x1000", "--entry", "0x1004", "p.bin"});
    EXPECT_EQ(r.guest.format, ImageFormat::Raw);
    EXPECT_EQ(r.guest.load_addr, 0x1000u);
    EXPECT_EQ(r.guest.entry, 0x1004u);
}

TEST(CommandLine, HelpDocumentsEveryOption) {
    auto o = parse_command_line({"--help"});
    ASSERT_EQ(o.action, CliOptions::Action::Help);
    for (const char* opt : {"--help", "--version", "--mode", "--memory", "--format", "--load-addr", "--entry",
                            "--listen", "--log-packets", "--breakpoints", "--watchpoints", "--verbose", "--check-kvm", "--gdb-arch", "--print-gdb-extension", "--gdb-batch", "--gdb", "--boot", "--platform", "--cmdline", "--initrd", "--module", "Examples", "Exit status", "scripts/with-kvm", "kvmgdb-with-kvm"})
        EXPECT_NE(o.help_text.find(opt), std::string::npos) << opt;
    EXPECT_EQ(parse_command_line({"--version"}).action, CliOptions::Action::Version);
    EXPECT_EQ(parse_command_line({"--check-kvm"}).action, CliOptions::Action::CheckKvm);
}

TEST(CommandLine, Errors) {
    EXPECT_THROW(parse_command_line({}), UsageError);
    EXPECT_THROW(parse_command_line({"--bogus", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--mode", "vm86", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--format", "hex", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--format", "raw", "g.bin"}), UsageError);
    EXPECT_THROW(parse_command_line({"--entry", "0x10", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"--memory", "lots", "g.elf"}), UsageError);
    EXPECT_THROW(parse_command_line({"a.elf", "b.elf"}), UsageError);
}

TEST(CommandLine, CpusDefaultsToOneAndTakes1To64) {
    EXPECT_EQ(parse_command_line({"g.elf"}).guest.cpus, 1u);
    EXPECT_EQ(parse_command_line({"--cpus", "1", "g.elf"}).guest.cpus, 1u);
    EXPECT_EQ(parse_command_line({"--cpus", "64", "g.elf"}).guest.cpus, 64u);
    for (const char* bad : {"0", "65", "-1", "4x", ""}) {
        try {
            parse_command_line({"--cpus", bad, "g.elf"});
            ADD_FAILURE() << "accepted --cpus " << bad;
        } catch (const UsageError& e) {
            EXPECT_EQ(std::string(e.what()), std::string("--cpus '") + bad + "': the number of vCPUs must be 1 to 64");
        }
    }
}

TEST(CommandLine, BootProtocolAndPlatform) {
    auto o = parse_command_line({"--boot", "pvh", "--platform", "minimal", "--memory", "512M", "--cmdline",
                                 "console=ttyS0 panic=-1", "--initrd", "initrd.img", "vmlinux"});
    EXPECT_EQ(o.guest.boot, boot::BootChoice::Pvh);
    EXPECT_EQ(o.guest.platform, Platform::Minimal);
    EXPECT_TRUE(o.guest.memory_given);
    EXPECT_EQ(o.guest.memory, 512u << 20);
    EXPECT_EQ(o.guest.cmdline, "console=ttyS0 panic=-1");
    EXPECT_EQ(o.guest.initrd, "initrd.img");
    EXPECT_EQ(parse_command_line({"--boot", "none", "k"}).guest.boot, boot::BootChoice::None);
    EXPECT_EQ(parse_command_line({"--boot", "multiboot2", "k"}).guest.boot, boot::BootChoice::Multiboot2);
    EXPECT_EQ(parse_command_line({"--boot", "multiboot", "k"}).guest.boot, boot::BootChoice::Multiboot);
    EXPECT_EQ(parse_command_line({"--boot", "multiboot1", "k"}).guest.boot, boot::BootChoice::Multiboot1);
    EXPECT_EQ(parse_command_line({"--platform", "pc", "k"}).guest.platform, Platform::Pc);
}

TEST(CommandLine, ModulesKeepTheirOrderAndSplitAtTheFirstComma) {
    auto o = parse_command_line({"--module", "a.bin", "--module", "b.bin,root=/dev/x,ro", "--module", "c,", "k"});
    ASSERT_EQ(o.guest.modules.size(), 3u);
    EXPECT_EQ(o.guest.modules[0].path, "a.bin");
    EXPECT_FALSE(o.guest.modules[0].cmdline);  // the boot protocol's default
    EXPECT_EQ(o.guest.modules[1].path, "b.bin");
    EXPECT_EQ(o.guest.modules[1].cmdline, "root=/dev/x,ro");
    EXPECT_EQ(o.guest.modules[2].path, "c");
    EXPECT_EQ(o.guest.modules[2].cmdline, "");  // an explicit empty string
}

TEST(CommandLine, BootErrorsNameTheOption) {
    auto message = [](std::vector<std::string> args) {
        try {
            parse_command_line(args);
        } catch (const UsageError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(message({"--boot", "grub", "k"}),
              "unknown --boot 'grub' (expected auto, none, pvh, multiboot, multiboot1 or multiboot2)");
    EXPECT_EQ(message({"--platform", "q35", "k"}), "unknown --platform 'q35' (expected auto, pc or minimal)");
    EXPECT_EQ(message({"--module", ",args", "k"}), "--module ',args' needs a file name before the comma");
    EXPECT_EQ(message({"--initrd", "", "k"}), "--initrd needs a file name");
}
