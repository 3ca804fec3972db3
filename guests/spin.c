/*
 * spin-long / spin32 / spin-real: C guest for --mode long / protected or
 * paged32 / real.  Prints "spinning\n", then
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
