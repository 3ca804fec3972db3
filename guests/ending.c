/*
 * ending16 / ending32 / ending-long: how a guest ends, in each mode.  Prints
 * "ending\n", then by how_to_end (a debugger sets it): 0 writes 7 to the exit
 * port (kvmgdb exits with status 7); 1 triple-faults: an IDT of limit 0, then an
 * instruction that raises an exception whose vector is past that limit, so the
 * CPU raises #GP, past it too, and the #DF that follows: shutdown.  The
 * instruction is ud2 in protected and long mode.  In real mode it is `int $0x21`:
 * KVM on AMD intercepts #UD and injects it back, and in real mode that injected
 * #UD went through the IVT at 0 instead.  (Not `int` everywhere: on the AMD
 * machine this was developed on, long-mode `int` there ended in a KVM internal
 * error, an emulation failure, instead of the shutdown.)
 */
#include "guest.h"

volatile int how_to_end;

#ifdef REAL_MODE
#define FAULTING_INSN "int $0x21"
#else
#define FAULTING_INSN "ud2"
#endif

/* lidt's operand: a 16-bit limit and the base (32 bits used outside long mode). */
struct __attribute__((packed)) table_register {
    unsigned short limit;
    unsigned long base;
};

__attribute__((noinline, noreturn)) void triple_fault(void)
{
    static const struct table_register empty = {0, 0};
    __asm__ volatile("lidt %0\n\t"
                     ".globl fault\n"
                     "fault:\n\t"
                     FAULTING_INSN : : "m"(empty));
    __builtin_unreachable();
}

int main(void)
{
    console_write("ending\n");
    if (how_to_end == 0)
        outb(GUEST_EXIT_PORT, 7);
    triple_fault();
}
