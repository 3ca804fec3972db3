/*
 * Entry for 32-bit C guests that must also boot under QEMU (-kernel FILE), which
 * loads an ELF32 with a Multiboot header (Multiboot Specification 0.6.96, 3.1 "OS
 * image format"; QEMU 7.2 takes no ELF64 that way). scripts/bench runs the same
 * file under both, so it depends on neither's entry state beyond what Multiboot
 * promises ("Machine state", 3.2): 32-bit flat protected mode, paging off, and no
 * valid stack. It sets up its own stack, calls main(), and writes main's return
 * value to port 0xF4: kvmgdb's exit port (the status is the byte) and QEMU's
 * `-device isa-debug-exit,iobase=0xf4,iosize=1` (QEMU exits with byte*2+1).
 * A VMM with neither device gets hlt.
 */
        .cfi_sections .debug_frame
        .code32
        .section .text.start, "ax"

        /* Multiboot 1 header: magic, flags (none: the loader takes the layout from
           the ELF headers), checksum. Within the file's first 8 KiB, 4-aligned. */
        .balign 4
multiboot_header:
        .long   0x1BADB002
        .long   0
        .long   -0x1BADB002

        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined eip              /* outermost frame for gdb */
        movl    $stack_top, %esp
        cld
        xorl    %ebp, %ebp
        call    main
        outb    %al, $0xF4
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .bss
        .balign 16
        .skip   16384
stack_top:

        .section .note.GNU-stack, "", @progbits
