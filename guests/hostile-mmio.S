/*
 * hostile-mmio32 (--mode protected) / hostile-mmio-long (--mode long): reads
 * and writes guest-physical addresses far beyond RAM, where no device is.
 *   32-bit: 0xD0000000 directly (protected mode, no paging: linear = physical;
 *           in paged32 kvmgdb's tables map only RAM and the access would fault).
 *   64-bit: 0x200000000 (8 GiB), which kvmgdb's page tables do not map: the
 *           guest maps it itself, PDPT[8] of kvmgdb's tables -> its own page
 *           directory whose first 2 MiB page is 0x200000000, then reloads CR3.
 * Prints "mmio: reading <addr>\n", reads a byte, a word, a dword (and a qword
 * in 64-bit), writes a dword and a byte, reads the dword again.  kvmgdb answers
 * every read with all ones and drops the writes (docs/guest-abi.md); if so the
 * guest prints "mmio: all ones, writes dropped\n" and halts (status 0), else
 * "mmio BAD\n" and writes 1 to the exit port.
 */
#ifdef __x86_64__
#define FAR     0x200000000
#define MSG_LEA(m) leaq m(%rip), %rsi
#define REG     %rdi
        .code64
#else
#define FAR     0xd0000000
#define MSG_LEA(m) movl $m, %esi
#define REG     %edi
        .code32
#endif
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        MSG_LEA(msg_reading)
        call    puts
#ifdef __x86_64__
        /* Map FAR: kvmgdb's PML4[0] -> its PDPT; PDPT[8] -> far_pd. */
        movq    %cr3, %rax
        andq    $~0xfff, %rax
        movq    (%rax), %rbx            /* PML4[0] */
        andq    $~0xfff, %rbx           /* the PDPT (identity-mapped RAM) */
        leaq    far_pd(%rip), %rcx
        orq     $0x3, %rcx              /* present | writable */
        movq    %rcx, 8*8(%rbx)
        movabsq $(FAR | 0x83), %rcx     /* present | writable | 2 MiB page */
        movq    %rcx, far_pd(%rip)
        movq    %cr3, %rax
        movq    %rax, %cr3              /* flush the TLB */
        movabsq $FAR, %rdi
#else
        movl    $FAR, %edi
#endif
        .globl  far_reads
far_reads:
        movb    (REG), %al
        cmpb    $0xff, %al
        jne     bad
        movw    2(REG), %ax
        cmpw    $0xffff, %ax
        jne     bad
        movl    4(REG), %eax
        cmpl    $0xffffffff, %eax
        jne     bad
#ifdef __x86_64__
        movq    8(%rdi), %rax
        cmpq    $-1, %rax
        jne     bad
#endif
        .globl  far_writes
far_writes:
        movl    $0x12345678, 4(REG)
        movb    $0x5a, (REG)
        movl    4(REG), %eax
        cmpl    $0xffffffff, %eax
        jne     bad
        MSG_LEA(msg_ok)
        call    puts
        .globl  done
done:
        hlt
        jmp     done
bad:
        MSG_LEA(msg_bad)
        call    puts
        movb    $1, %al
        outb    %al, $0xf4
        jmp     done
        .size   _start, . - _start

/* puts (guests/puts.S): the string at rsi/esi to port 0xE9. */

        .section .rodata
#ifdef __x86_64__
msg_reading:    .asciz  "mmio: reading 0x200000000\n"
#else
msg_reading:    .asciz  "mmio: reading 0xd0000000\n"
#endif
msg_ok:         .asciz  "mmio: all ones, writes dropped\n"
msg_bad:        .asciz  "mmio BAD\n"

#ifdef __x86_64__
        .section .bss
        .balign 4096
        .globl  far_pd
far_pd:
        .skip   4096
#endif

        .section .note.GNU-stack, "", @progbits
