/*
 * puts: the NUL-terminated string at rsi (esi in 32-bit guests) to port 0xE9.
 * Clobbers al and rsi/esi. Shared by the assembly guests that link it (see
 * guests/CMakeLists.txt); assembled for the guest's width by its -m flag.
 */
        .text
        .globl  puts
        .type   puts, @function
puts:
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      ret
        .size   puts, . - puts

        .section .note.GNU-stack, "", @progbits
