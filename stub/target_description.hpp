// gdb target descriptions (GDB manual, "Target Descriptions" appendix) for the
// register layouts of registers.hpp. One self-contained document per
// architecture: every feature is inlined (no xi:include), so the stub serves a
// single qXfer:features:read annex, "target.xml".
// No KVM here: this header must never include <linux/kvm.h>.
#pragma once

#include <string>
#include <string_view>

#include "stub/registers.hpp"

namespace kvmgdb::stub {

// The only annex qXfer:features:read offers.
inline constexpr std::string_view kTargetXmlAnnex = "target.xml";

// The complete target.xml for `layout`: <architecture>, <osabi>none</osabi>, and
// one <feature> per feature of the layout, in layout order, each with the
// flags/vector/union types its registers use. Registers carry explicit regnum
// attributes equal to RegisterInfo::regnum (contiguous from 0, in document
// order, which LLDB's ProcessGDBRemote also relies on to place them in `g`).
std::string target_xml(const RegisterLayout& layout);
// target_xml(register_layout(arch, features)).
std::string target_xml(Arch arch, RegisterFeatures features = {});

}  // namespace kvmgdb::stub
