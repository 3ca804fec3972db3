/*
 * 32-bit flat protected-mode hello guest (--mode protected / --mode paged32).
 * Built three times:
 *   hello-protected.elf, hello-paged32.elf  (at 1 MiB)
 *   high-paged32.elf (-DHIGH_CHECK, linked and loaded at 16 MiB)
 * Prints the message on port 0xE9, stores 42 at physical 0x400 and in eax,
 * then hlt.  With HIGH_CHECK it first writes and reads back a word at
 * 0x3FFF000 (just under 64 MiB) to prove high RAM is mapped.
 */
#define HIGH_ADDR 0x3FFF000
#define HIGH_PATTERN 0x5AA5C33C

        .code32
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
        movl    $msg, %esi
        call    puts
        movl    $42, 0x400
        movl    $42, %eax
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

#ifdef HIGH_CHECK
bad:    movl    $badmsg, %esi
        call    puts
        movb    $1, %al
        outb    %al, $0xf4
        hlt
        jmp     bad
#endif

/* puts: print the NUL-terminated string at %esi on port 0xE9. */
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
