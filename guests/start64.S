/*
 * Entry for 64-bit C guests (--mode long).
 * RSP = top of RAM (16-byte aligned) on entry.  Calls main(), stores its
 * (sign-extended) return value at physical 0x400 and keeps it in rax, hlt.
 */
        .cfi_sections .debug_frame
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined rip              /* outermost frame for gdb */
        cld
        xorl    %ebp, %ebp
        call    main
        movslq  %eax, %rax
        movq    %rax, 0x400
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
