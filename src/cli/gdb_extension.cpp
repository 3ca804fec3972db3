#include "cli/gdb_extension.hpp"

#include <system_error>

namespace kvmgdb {

std::filesystem::path gdb_extension_path(const std::filesystem::path& exe, const std::filesystem::path& source) {
    std::filesystem::path installed = exe.parent_path().parent_path() / "share" / "kvmgdb" / "kvmgdb.py";
    std::error_code ec;
    if (!exe.empty() && std::filesystem::is_regular_file(installed, ec)) return installed;
    return source;
}

}  // namespace kvmgdb
