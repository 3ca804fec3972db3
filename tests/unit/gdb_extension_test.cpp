// cli/gdb_extension: the installed extension wins over the source tree's, on a
// made-up prefix in a temporary directory.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "cli/gdb_extension.hpp"

using namespace kvmgdb;
namespace fs = std::filesystem;

TEST(GdbExtension, InstalledCopyNextToThePrefixElseTheSourceTree) {
    char tmpl[] = "/tmp/kvmgdb-ext-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const fs::path prefix = tmpl;
    const fs::path source = "/src/kvmgdb/scripts/gdb/kvmgdb.py";
    const fs::path exe = prefix / "bin" / "kvmgdb";
    EXPECT_EQ(gdb_extension_path(exe, source), source);  // nothing installed yet
    fs::create_directories(prefix / "share" / "kvmgdb");
    std::ofstream(prefix / "share" / "kvmgdb" / "kvmgdb.py") << "# installed\n";
    EXPECT_EQ(gdb_extension_path(exe, source), prefix / "share" / "kvmgdb" / "kvmgdb.py");
    // A build directory's binary (SRC/build/kvmgdb) has no SRC/share/kvmgdb.
    EXPECT_EQ(gdb_extension_path(prefix / "src" / "build" / "kvmgdb", source), source);
    EXPECT_EQ(gdb_extension_path(fs::path{}, source), source);
    fs::remove_all(prefix);
}
