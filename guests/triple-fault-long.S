/*
 * triple-fault-long: 64-bit guest (--mode long).  Prints
 * "about to triple-fault\n", loads an IDT with limit 0 and executes ud2:
 * #UD cannot be delivered -> #GP -> #DF -> triple fault (shutdown).
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
2:      lidt    null_idt(%rip)
        .globl  fault
fault:
        ud2
3:      hlt                             /* not reached */
        jmp     3b
        .size   _start, . - _start

        .section .rodata
        .balign 16
null_idt:
        .word   0                       /* limit */
        .quad   0                       /* base */
msg:    .asciz  "about to triple-fault\n"

        .section .note.GNU-stack, "", @progbits
