/*
 * higher-half-long: the C part, linked at 0xffffffff80001000 and up
 * (-mcmodel=kernel), run after higher-half-long.S switched to its own tables.
 * Prints:
 *   higher half: hh_value = 40
 *   higher half done
 * and returns 42 when the variables read the same through their higher-half
 * address and through the low identity map of their physical address (else 1).
 * Names are used by tests/kvm/paging_guest_test.cpp and the gdb paging tests.
 */
#include "guest.h"

#define HIGH_OFFSET 0xffffffff7ff00000UL

/* Its own data page (.data is page aligned), three stores for watchpoint tests. */
unsigned long hh_value = 1;
volatile unsigned long hh_counter;

__attribute__((noinline)) unsigned long hh_step(unsigned long v)
{
    return v * 3 + 1;
}

int higher_half_main(void)
{
    for (int i = 0; i < 3; i++) {
        hh_value = hh_step(hh_value);   /* 4, 13, 40 */
        barrier();
        hh_counter++;
    }
    console_write("higher half: hh_value = ");
    print_int((long)hh_value);
    console_write("\n");

    const volatile unsigned long *low = (const volatile unsigned long *)((unsigned long)&hh_value - HIGH_OFFSET);
    if ((unsigned long)&hh_value < 0xffffffff80000000UL || *low != hh_value)
        return 1;
    console_write("higher half done\n");
    return 42;
}
