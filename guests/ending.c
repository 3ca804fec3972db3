/*
 * ending16 / ending32 / ending-long: how a guest ends, in each mode.  Prints
 * "ending\n", then by how_to_end (a debugger sets it): 0 writes 7 to the exit
 * port (kvmgdb exits with status 7); 1 triple-faults (an IDT of limit 0, then
 * ud2: the #UD cannot be delivered, nor the #GP/#DF that follow) in protected and
 * long mode.  In real mode the same ud2 is not a reliable shutdown (KVM delivered
 * the #UD through the IVT at 0), so the tests use the exit port there only.
 */
#include "guest.h"

volatile int how_to_end;

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
                     "ud2" : : "m"(empty));
    __builtin_unreachable();
}

int main(void)
{
    console_write("ending\n");
    if (how_to_end == 0)
        outb(GUEST_EXIT_PORT, 7);
    triple_fault();
}
