// kvmgdb --gdb-batch's gdb command line (src/cli/gdb_batch.cpp); the run itself is
// tests/cli/cli_gdb_batch_test.sh, with the real gdb on KVM.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "cli/gdb_batch.hpp"

using namespace kvmgdb;

TEST(GdbBatch, CommandLoadsTheElfAndRunsTheDriver) {
    GdbBatchCommand c = gdb_batch_command("/usr/bin/gdb", "127.0.0.1:40123", std::string("guest.elf"),
                                          {"a.py", "b.gdb"}, "/opt/bin/kvmgdb");
    EXPECT_EQ(c.argv, (std::vector<std::string>{"/usr/bin/gdb", "-batch", "-nx", "-ex",
                                                "python exec(__import__('os').environ['KVMGDB_BATCH_DRIVER'])",
                                                "guest.elf"}));
    ASSERT_EQ(c.env.size(), 4u);
    EXPECT_EQ(c.env[0], "KVMGDB_ADDR=127.0.0.1:40123");
    EXPECT_EQ(c.env[1], "KVMGDB_BATCH_SCRIPTS=a.py\nb.gdb");  // in order, one per line
    EXPECT_EQ(c.env[2], "KVMGDB_BIN=/opt/bin/kvmgdb");
    EXPECT_EQ(c.env[3], std::string("KVMGDB_BATCH_DRIVER=") + kGdbBatchDriver);
}

TEST(GdbBatch, RawImageLoadsNoFile) {
    GdbBatchCommand c = gdb_batch_command("gdb", "127.0.0.1:1", std::nullopt, {"a.gdb"}, "kvmgdb");
    EXPECT_EQ(c.argv.back(), "python exec(__import__('os').environ['KVMGDB_BATCH_DRIVER'])");
}

TEST(GdbBatch, DriverConnectsRunsEachScriptAndQuitsWithTheStatus) {
    std::string driver = kGdbBatchDriver;
    for (const char* part : {"target remote \" + os.environ[\"KVMGDB_ADDR\"]", "KVMGDB_BATCH_SCRIPTS",
                             "except SystemExit", "except gdb.error", "gdb.execute(\"kill\")", "quit %d"})
        EXPECT_NE(driver.find(part), std::string::npos) << part;
}

TEST(GdbBatch, ExitStatusLikeAShell) {
    EXPECT_EQ(exit_status_of(0), 0);
    EXPECT_EQ(exit_status_of(3 << 8), 3);       // exited with 3
    EXPECT_EQ(exit_status_of(SIGKILL), 128 + SIGKILL);  // killed
}
