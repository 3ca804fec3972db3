/*
 * The example guest for --cpus N (docs/guest-abi.md, "Several vCPUs"): each vCPU
 * counts in its own slot of counter[] (the index comes in edi/rdi), and vCPU 1
 * alone calls vcpu1_work() on each round. A vCPU stops after `rounds` rounds
 * (0: until a debugger clears keep_going) and halts; the run ends when all have.
 * The run's result is in memory: counter[i] == rounds for every vCPU i, and
 * vcpu1_calls == rounds when there are two vCPUs or more. A debugger that sets
 * announce = N hears "vCPUs spinning" from vCPU 0 once N vCPUs are counting (the
 * gdb tests' cue for Ctrl-C).
 */
#include "guest.h"

#define MAX_CPUS 64

volatile unsigned long counter[MAX_CPUS];
volatile unsigned long vcpu1_calls;
volatile unsigned long finished;   /* vCPUs that left their loop */
volatile unsigned long apic_id[MAX_CPUS];  /* CPUID.1:EBX[31:24] as each vCPU sees it */
volatile int keep_going = 1;
volatile unsigned long rounds = 20000;
volatile int announce;             /* a debugger sets N: vCPU 0 says "vCPUs spinning" once N count */
volatile unsigned long counting;   /* vCPUs that have counted at least once */

__attribute__((noinline)) void vcpu1_work(unsigned long index)
{
    vcpu1_calls++;
    barrier();
    (void)index;
}

void vcpu_main(unsigned long index)
{
    unsigned int eax = 1, ebx, ecx = 0, edx;
    if (index >= MAX_CPUS)
        return;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    apic_id[index] = ebx >> 24;
    while (keep_going && (rounds == 0 || counter[index] < rounds)) {
        if (counter[index]++ == 0)
            __atomic_add_fetch(&counting, 1, __ATOMIC_SEQ_CST);
        if (index == 0 && announce > 0 && counting >= (unsigned long)announce) {
            announce = -1;
            console_write("vCPUs spinning\n");
        }
        if (index == 1)
            vcpu1_work(index);
    }
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
}
