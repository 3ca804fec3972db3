/*
 * 64-bit guest that prints through COM1 like a kernel's serial console driver:
 * programs the 16550 (8N1, divisor 1 through the DLAB latch), reads the divisor
 * back, then for each byte waits for LSR.THRE before writing THR. Prints
 * "Hello over COM1!\n", or "divisor BAD\n" if the latch did not read back.
 */
#define COM1 0x3f8
        .code64
        .section .text.start, "ax"
        .globl  _start
_start:
        movw    $COM1+3, %dx            /* LCR: DLAB on */
        movb    $0x80, %al
        outb    %al, %dx
        movw    $COM1+0, %dx            /* divisor low = 1 */
        movb    $1, %al
        outb    %al, %dx
        movw    $COM1+1, %dx            /* divisor high = 0 */
        xorb    %al, %al
        outb    %al, %dx
        movw    $COM1+0, %dx            /* read the latch back */
        inb     %dx, %al
        movb    %al, %bl
        movw    $COM1+3, %dx            /* LCR: 8N1, DLAB off */
        movb    $0x03, %al
        outb    %al, %dx
        leaq    msg(%rip), %rsi
        cmpb    $1, %bl
        je      1f
        leaq    badmsg(%rip), %rsi
1:      movb    (%rsi), %bl
        testb   %bl, %bl
        jz      2f
        movw    $COM1+5, %dx            /* LSR: wait for THRE */
3:      inb     %dx, %al
        testb   $0x20, %al
        jz      3b
        movw    $COM1+0, %dx
        movb    %bl, %al
        outb    %al, %dx
        incq    %rsi
        jmp     1b
2:      movq    $42, 0x400
        movq    $42, %rax
        hlt
        .section .rodata
msg:    .asciz  "Hello over COM1!\n"
badmsg: .asciz  "divisor BAD\n"
