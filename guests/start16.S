/*
 * Entry for the 16-bit C guest (--mode real): C compiled with gcc -m16, which
 * is 32-bit code with operand/address-size prefixes, run in real mode with all
 * segments 0, so every pointer below 64 KiB is its own linear address.
 * SP = 0x7C00 on entry (kvmgdb's real-mode setup).  Calls main(), stores its
 * return value at physical 0x400 and keeps it in eax, then hlt.
 */
        .cfi_sections .debug_frame
        .code16
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined eip              /* outermost frame for gdb */
        cli
        cld
        xorl    %eax, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $0x7c00, %esp           /* the upper half of esp must be 0 too */
        xorl    %ebp, %ebp
        calll   main
        movl    %eax, 0x400
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
