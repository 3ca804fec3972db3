# The whole register file in long mode: gdb builds $ymm0 from xmm0 and ymm0h (the
# org.gnu.gdb.i386.avx feature kvmgdb serves when the host's CPUID offers AVX), a
# write to it goes to the vCPU's XSAVE area and comes back after gdb forgets its
# cache; the guest's debug registers and XCR0 (KVM_GET_DEBUGREGS, KVM_GET_XCRS),
# an XCR0 that XSETBV would refuse is refused. CI's host (nested KVM under QEMU
# -cpu max) has AVX and no AVX-512: without AVX this scenario fails.
def host_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


flags = host_flags()
expect("avx" in flags, "the host CPU has AVX (/proc/cpuinfo)")

connect()
run("break main")
run("continue")
expect_stopped_in("main")
feature = run("maint print c-tdesc")
expect_match(r'tdesc_create_feature \(result\.get \(\), "org\.gnu\.gdb\.i386\.avx"\)', feature,
             "target.xml has the avx feature")
expect(("org.gnu.gdb.i386.avx512" in feature) == ("avx512f" in flags), "avx512 iff the host has AVX-512")

run("p $ymm0")
run("set var $ymm0.v4_int64 = {0x1111, 0x2222, 0x3333, 0x4444}")
run("maint flush register-cache")
run("p/x $ymm0.v4_int64")
expect(value("$ymm0.v4_int64[2]") == 0x3333 and value("$ymm0.v4_int64[3]") == 0x4444,
       "ymm0's upper half written and read back from the vCPU")
expect(value("$xmm0.v2_int64[0]") == 0x1111 and value("$xmm0.v2_int64[1]") == 0x2222,
       "xmm0 is ymm0's lower half")
run("p $ymm15")
out = run("p $zmm0")
if "avx512f" not in flags:
    expect_match(r"= void$", out, "no $zmm0 without AVX-512")

run("p $dr7")
expect(value("$dr7") == 0x400, "dr7 is the reset 0x400")
run("set var $dr0 = 0xdead000")
# gdb assigns an integer to a register of a flags type only when both have the
# same size: dr7 (in long mode) and xcr0 are 64 bits, `7` is an int.
run("set var $dr7 = (long) 0x402")
run("maint flush register-cache")
out = run("p $dr7")
expect_match(r"= \[ G0 RW0=0 LEN0=0 ", out, "dr7.G0 written and read back")
expect(value("$dr7") == 0x402, "dr7 is 0x402")
run("p/x $dr0")
expect(value("$dr0") == 0xdead000, "dr0 written and read back")
run("p $dr6")

run("p/x $xcr0")
expect(value("$xcr0") == 0x1, "xcr0 is KVM's reset value, x87 only")
run("set var $xcr0 = (long) 7")
run("maint flush register-cache")
run("p $xcr0")
expect(value("$xcr0") == 0x7, "xcr0 = x87|SSE|AVX written and read back")
try:
    run("set var $xcr0 = (long) 5")
    fail("an xcr0 with AVX without SSE was accepted")
except gdb.error as e:
    print("refused: " + str(e))
run("maint flush register-cache")
run("p/x $xcr0")
expect(value("$xcr0") == 0x7, "xcr0 unchanged after the refused write")
run("set var $dr7 = (long) 0x400")
run("set var $xcr0 = (long) 1")
run("delete")
run("continue")
