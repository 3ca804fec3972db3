/*
 * spin-long: 64-bit C guest (--mode long).  Prints "spinning\n", then
 * increments spin_counter forever (never halts; for interrupt/Ctrl-C tests).
 */
#include "guest.h"

volatile unsigned long spin_counter;

__attribute__((noinline, noreturn)) void spin_forever(void)
{
    for (;;)
        spin_counter++;
}

int main(void)
{
    console_write("spinning\n");
    spin_forever();
}
