/*
 * exit-code: 64-bit guest (--mode long).  Prints "exiting with 7\n", then
 * writes 7 to port 0xF4 (the VMM exits with status 7).  hlt is a fallback.
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
2:      movb    $7, %al
        outb    %al, $0xf4
3:      hlt
        jmp     3b
        .size   _start, . - _start

        .section .rodata
msg:    .asciz  "exiting with 7\n"

        .section .note.GNU-stack, "", @progbits
