/*
 * Entry for 32-bit guests run with --cpus N (docs/guest-abi.md, "Several vCPUs").
 * Every vCPU starts here with ESP = top of RAM and EDI = its index (0-based), so
 * each takes its own 16 KiB stack: ESP - index * 16 KiB. Then it calls
 * vcpu_main(index) (cdecl) and halts.
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
        movl    %edi, %eax
        shll    $14, %eax
        subl    %eax, %esp
        xorl    %ebp, %ebp
        subl    $12, %esp               /* keep the 16-byte alignment of the call */
        pushl   %edi
        call    vcpu_main
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
