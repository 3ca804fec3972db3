/*
 * 64-bit long-mode hello guest (--mode long).  Built twice:
 *   hello-long.elf (at 1 MiB)
 *   high-long.elf  (-DHIGH_CHECK, linked and loaded at 16 MiB)
 * Prints the message on port 0xE9, stores the 64-bit value 42 at physical
 * 0x400 and in rax, then hlt.  With HIGH_CHECK it first writes and reads
 * back a word at 0x3FFF000 (just under 64 MiB).
 */
#define HIGH_ADDR 0x3FFF000
#define HIGH_PATTERN 0x5AA5C33C

        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
#ifdef HIGH_CHECK
        movl    $HIGH_PATTERN, HIGH_ADDR
        movl    HIGH_ADDR, %eax
        cmpl    $HIGH_PATTERN, %eax
        jne     bad
#endif
        leaq    msg(%rip), %rsi
        call    puts
        movq    $42, 0x400
        movq    $42, %rax
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

#ifdef HIGH_CHECK
bad:    leaq    badmsg(%rip), %rsi
        call    puts
        movb    $1, %al
        outb    %al, $0xf4
        hlt
        jmp     bad
#endif

/* puts: print the NUL-terminated string at %rsi on port 0xE9. */
        .text
        .type   puts, @function
puts:
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      ret
        .size   puts, . - puts

        .section .rodata
msg:
#ifdef HIGH_CHECK
        .asciz  "Hello from 16 MiB!\n"
badmsg: .asciz  "high RAM BAD\n"
#else
        .asciz  "Hello, world!\n"
#endif

        .section .note.GNU-stack, "", @progbits
