/*
 * selfmod-long: 64-bit guest (--mode long) that patches its own code: it writes a
 * NOP (0x90) over the first byte of `site`, which starts as 0xF4 (hlt), then runs
 * it. So it ends through the exit port with status 5 only if its own write took
 * effect; were the write lost, the hlt would end it with status 0.  For the test
 * that a guest write over a debugger's patched breakpoint byte is kept.
 */
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        movb    $0x90, site(%rip)
        jmp     site
        .globl  site
site:
        hlt                             /* becomes nop */
        movb    $5, %al
        outb    %al, $0xf4
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
