/*
 * lastbyte-long: 64-bit guest at 1 MiB (--mode long, 64 MiB RAM).
 * Writes 0xA5 to the last byte of RAM (0x3FFFFFF), reads it back and prints
 * "last byte ok\n" (or "last byte BAD\n"), stores 42 at 0x400 and in rax, hlt.
 */
#define LAST_BYTE 0x3FFFFFF

        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        movb    $0xA5, LAST_BYTE
        movb    LAST_BYTE, %al
        leaq    okmsg(%rip), %rsi
        leaq    badmsg(%rip), %rdx
        cmpb    $0xA5, %al
        cmovneq %rdx, %rsi
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      movq    $42, 0x400
        movq    $42, %rax
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

        .section .rodata
okmsg:  .asciz  "last byte ok\n"
badmsg: .asciz  "last byte BAD\n"

        .section .note.GNU-stack, "", @progbits
