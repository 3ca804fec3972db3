// Where kvmgdb's gdb extension (scripts/gdb/kvmgdb.py, installed as
// PREFIX/share/kvmgdb/kvmgdb.py) is, for --print-gdb-extension.
#pragma once

#include <filesystem>

namespace kvmgdb {

// The installed copy when one sits next to the executable's prefix
// (`exe` = PREFIX/bin/kvmgdb -> PREFIX/share/kvmgdb/kvmgdb.py), else `source`
// (the copy in the source tree a build directory's kvmgdb came from).
std::filesystem::path gdb_extension_path(const std::filesystem::path& exe, const std::filesystem::path& source);

}  // namespace kvmgdb
