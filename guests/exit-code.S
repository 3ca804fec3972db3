/*
 * exit-code: 64-bit guest (--mode long).  Prints "exiting with 7\n", then
 * writes 7 to port 0xF4 (the VMM exits with status 7).  hlt is a fallback.
 * With EXIT_OUTL (exit-outl.elf): the kvm-unit-tests way, a 32-bit
 * `outl(0x105, 0xf4)`; the status is the low byte, 5.
 */
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        leaq    msg(%rip), %rsi
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
#ifdef EXIT_OUTL
2:      movl    $0x105, %eax
        outl    %eax, $0xf4
#else
2:      movb    $7, %al
        outb    %al, $0xf4
#endif
3:      hlt
        jmp     3b
        .size   _start, . - _start

        .section .rodata
#ifdef EXIT_OUTL
msg:    .asciz  "exiting with outl(0x105)\n"
#else
msg:    .asciz  "exiting with 7\n"
#endif

        .section .note.GNU-stack, "", @progbits
