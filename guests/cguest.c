/*
 * cguest: C guest for debugger tests.  Built as cguest32.elf (--mode
 * protected or paged32) and cguest64.elf (--mode long).
 * Prints:
 *   factorial(5) = 120
 *   sum_to(10) = 55
 *   watched_value = 3
 *   cguest done
 * and returns 42 (start*.S stores it at 0x400 and leaves it in eax/rax).
 * Function and variable names are used by the tests: keep them.
 */
#include "guest.h"

volatile int counter;
int watched_value;
struct point { int x, y; } origin;

__attribute__((noinline)) int factorial(int n)
{
    if (n <= 1)
        return 1;
    return n * factorial(n - 1);
}

__attribute__((noinline)) int sum_to(int n)
{
    int sum = 0;
    for (int i = 1; i <= n; i++) {
        sum += i;
        counter++;
    }
    return sum;
}

int main(void)
{
    counter = 0;
    origin.x = 3;
    origin.y = 4;

    int f = factorial(5);
    console_write("factorial(5) = ");
    print_int(f);
    console_write("\n");

    int s = sum_to(10);
    console_write("sum_to(10) = ");
    print_int(s);
    console_write("\n");

    /* Three separate stores, for watchpoint tests. */
    watched_value = 1;
    barrier();
    watched_value = 2;
    barrier();
    watched_value = 3;
    barrier();
    console_write("watched_value = ");
    print_int(watched_value);
    console_write("\n");

    counter = f + s;                    /* 175 */
    console_write("cguest done\n");
    return 42;
}
