/*
 * Entry for 64-bit guests run with --cpus N (docs/guest-abi.md, "Several vCPUs").
 * Every vCPU starts here with RSP = top of RAM and RDI = its index (0-based), so
 * each takes its own 16 KiB stack below the top: RSP - index * 16 KiB. Then it
 * calls vcpu_main(index) and halts (hlt ends that vCPU; the run ends when all have).
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
        movq    %rdi, %rax
        shlq    $14, %rax               /* index * 16 KiB */
        subq    %rax, %rsp
        xorl    %ebp, %ebp
        call    vcpu_main               /* rdi: the index, the first argument */
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .note.GNU-stack, "", @progbits
