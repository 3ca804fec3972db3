/*
 * conditions: CALLS calls of bump() (20,000 unless the build says otherwise), for
 * conditional breakpoints evaluated in the target (tests/gdb/conditions_check.py)
 * and for scripts/bench. bump(by) adds by = i % 7 to counter, so by == 3 on one
 * call in seven. Prints "conditions: counter = N" and returns 0. A debugger may
 * change calls_to_make before the loop starts (scripts/bench scales its runs).
 */
#include "guest.h"

#ifndef CALLS
#define CALLS 20000
#endif

volatile int counter;
volatile int calls;
volatile int calls_to_make = CALLS;

__attribute__((noinline)) void bump(int by)
{
    counter += by;
    calls++;
}

int main(void)
{
    for (int i = 0; i < calls_to_make; i++)
        bump(i % 7);
    console_write("conditions: counter = ");
    print_int(counter);
    console_write("\n");
    return 0;
}
