/*
 * spin-long / spin32 / spin-real: C guest for --mode long / protected or
 * paged32 / real.  Increments spin_counter forever (never halts; for the
 * interrupt/Ctrl-C tests), and prints "spinning\n" once, from inside the loop,
 * after its first 1000 rounds: whoever waits for that line knows the loop has
 * already run, whenever the guest gets the CPU afterwards.
 */
#include "guest.h"

#define ANNOUNCE_AFTER 1000

volatile unsigned long spin_counter;

__attribute__((noinline, noreturn)) void spin_forever(void)
{
    int announced = 0;
    for (;;) {
        spin_counter++;
        if (!announced && spin_counter >= ANNOUNCE_AFTER) {
            announced = 1;
            console_write("spinning\n");
        }
    }
}

int main(void)
{
    spin_forever();
}
