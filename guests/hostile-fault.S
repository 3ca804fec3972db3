/*
 * hostile-ud2-long / hostile-ud2-32 / hostile-div0-long: a guest that raises an
 * exception with no IDT and so triple-faults.  It relies on kvmgdb's entry state
 * (docs/guest-abi.md: IDTR limit 0 in protected and long mode) and loads no IDT
 * of its own.  Prints "hostile: <what> with no IDT\n", then at `fault` executes
 * ud2 (#UD, vector 6) or, with -DFAULT_DIV0, divides by zero (#DE, vector 0).
 * The vector is past the IDT's limit, so the CPU raises #GP, past it too, then
 * #DF: shutdown.  kvmgdb exits with status 3 ("guest triple-faulted"); under a
 * debugger the run stops with SIGSEGV.  Nothing after `fault` may ever run: were
 * it to, the guest would write 0x55 to the exit port (status 85).
 */
#ifdef __x86_64__
        .code64
#else
        .code32
#endif
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
#ifdef __x86_64__
        leaq    msg(%rip), %rsi
#else
        movl    $msg, %esi
#endif
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:
#ifdef FAULT_DIV0
        xorl    %ecx, %ecx
        movl    $1, %eax
        xorl    %edx, %edx
        .globl  fault
fault:
        divl    %ecx
#else
        .globl  fault
fault:
        ud2
#endif
        movb    $0x55, %al
        outb    %al, $0xf4
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

        .section .rodata
msg:
#ifdef FAULT_DIV0
        .asciz  "hostile: divide by zero with no IDT\n"
#else
        .asciz  "hostile: ud2 with no IDT\n"
#endif

        .section .note.GNU-stack, "", @progbits
