/*
 * example: the guest of the VS Code walk-through (docs/vscode.md, launch
 * configurations in .vscode/) and of the DAP test (tests/dap/dap_session.js).
 * Built as build/guests/example.elf (--mode long).
 *
 * It prints a greeting, sums a few squares (functions with locals, for
 * breakpoints, stepping and the variables view), then waits in
 * wait_for_debugger() until a debugger sets its local `released` (or a long
 * time passes), so that a running guest can be paused.  At the end it prints
 * `message` (a debugger may have written over it) and leaves with exit status 7
 * through port 0xF4: kvmgdb exits 7, a status no other ending gives.
 *
 * The test finds its breakpoints by the "LINE:" markers below: keep them.
 */
#include "guest.h"

/* Seconds on a fast host, about 40 s in scripts/with-kvm's nested VM (measured
 * there: some 2.5e8 rounds a second); the DAP test ends the wait far sooner. */
#define WAIT_LIMIT 10000000000UL

int total;                              /* sum_of_squares(4), once known */
char message[16] = "unchanged";         /* the DAP test writes "patched" here */

__attribute__((noinline)) int square(int x)
{
    int result = x * x;                 /* LINE: square-body */
    return result;                      /* LINE: square-return */
}

__attribute__((noinline)) int sum_of_squares(int n)
{
    int sum = 0;
    for (int i = 1; i <= n; i++)
        sum += square(i);               /* LINE: sum-loop */
    return sum;
}

/* Spins until the debugger sets `released` (volatile: re-read every round, and
 * it lives in memory, where a debugger can change it) or WAIT_LIMIT rounds. */
__attribute__((noinline)) unsigned long wait_for_debugger(void)
{
    volatile int released = 0;
    unsigned long rounds = 0;

    console_write("example: waiting (pause me, then set released = 1)\n");
    while (!released && rounds < WAIT_LIMIT)
        rounds++;                       /* LINE: wait-loop */
    console_write(released ? "example: released by the debugger\n"
                           : "example: nobody came, going on\n");
    return rounds;
}

int main(void)
{
    console_write("example: hello from the guest\n");

    total = sum_of_squares(4);          /* LINE: total-store (1 + 4 + 9 + 16 = 30) */
    console_write("sum_of_squares(4) = ");
    print_int(total);
    console_write("\n");

    wait_for_debugger();

    console_write("message: ");
    console_write(message);
    console_write("\nexample: done, exit status 7\n");
    outb(GUEST_EXIT_PORT, 7);
    return 7;                           /* not reached: the exit port ends the guest */
}
