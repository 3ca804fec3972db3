/*
 * hello-real: 16-bit real-mode guest, linked at 0x8000.
 * Run with --mode real (CS=0, IP=_start, DS=ES=SS=0, SP=0x7C00).
 * Prints "Hello, world!\n" on port 0xE9, stores the 32-bit value 42 at
 * physical 0x400 and in eax (ax = 42), then hlt.
 */
        .code16
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        cld
        movw    $msg, %si
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      movl    $42, 0x400              /* DS = 0: physical 0x400 */
        movl    $42, %eax
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

        .section .rodata
msg:    .asciz  "Hello, world!\n"

        .section .note.GNU-stack, "", @progbits
