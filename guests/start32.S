/*
 * Entry for 32-bit C guests (--mode protected / --mode paged32).
 * ESP = top of RAM (16-byte aligned) on entry.  Calls main(), stores its
 * return value at physical 0x400 and keeps it in eax, then hlt.
 */
        .cfi_sections .debug_frame
        .code32
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined eip              /* outermost frame for gdb */
        cld
        xorl    %ebp, %ebp
        call    main
        movl    %eax, 0x400
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
