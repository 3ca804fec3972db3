/*
 * hostile-spin-cli: 64-bit guest (--mode long) that turns interrupts off and
 * spins forever on a one-instruction loop at `spin_here` (`cli; 1: jmp 1b`).
 * Prints "spinning with interrupts off\n" first, so whoever waits for that line
 * knows the loop runs.  It never ends on its own: only the debugger's Ctrl-C
 * (interrupt(): immediate_exit and a signal that kicks KVM_RUN, which needs no
 * guest interrupt window) or a signal to kvmgdb stops it.
 */
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cli
        cld
        leaq    msg(%rip), %rsi
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:
        .globl  spin_here
spin_here:
        jmp     spin_here
        .size   _start, . - _start

        .section .rodata
msg:    .asciz  "spinning with interrupts off\n"

        .section .note.GNU-stack, "", @progbits
