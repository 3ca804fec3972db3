#include "debug/guest_debug.hpp"

namespace kvmgdb::debug {

kvm_guest_debug make_guest_debug(const GuestDebugRequest& request) {
    kvm_guest_debug dbg{};
    DebugRegisterValues values = encode_debug_registers(request.slots);
    std::uint32_t control = 0;
    if (values.dr7) {
        control |= KVM_GUESTDBG_USE_HW_BP;
        for (int i = 0; i < kDebugSlots; ++i) dbg.arch.debugreg[i] = values.dr[i];
        dbg.arch.debugreg[7] = values.dr7;
    }
    if (request.int3_patches) control |= KVM_GUESTDBG_USE_SW_BP;
    if (request.single_step) {
        control |= KVM_GUESTDBG_SINGLESTEP;
        if (request.blockirq_supported) control |= KVM_GUESTDBG_BLOCKIRQ;
    }
    // Without ENABLE the kernel turns guest debugging off: nothing set, nothing asked.
    if (control) control |= KVM_GUESTDBG_ENABLE;
    dbg.control = control;
    return dbg;
}

}  // namespace kvmgdb::debug
