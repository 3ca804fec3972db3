/*
 * Entry for guests/multiboot2-check.c: a Multiboot 2 header (Multiboot2 Specification
 * 2.0, 3.1 "OS image format") asking for the information kvmgdb gives, and the entry
 * that hands the loader's EAX and EBX to main(). The ELF's own layout is used (no
 * address tag), so the loader takes the segments from the program headers.
 */
        .code32
        .section .text.start, "ax"

        .balign 8
mb2_header:
        .long   0xE85250D6                      /* magic */
        .long   0                               /* architecture: i386 */
        .long   mb2_header_end - mb2_header     /* header_length */
        .long   -(0xE85250D6 + 0 + (mb2_header_end - mb2_header))
        /* Information request (3.1.4), required: the tags main() checks. */
        .balign 8
info_request:
        .short  1, 0
        .long   info_request_end - info_request
        .long   1, 2, 3, 4, 6                   /* cmdline, loader name, modules, meminfo, mmap */
info_request_end:
        /* Console flags (3.1.8): a console is not required. */
        .balign 8
        .short  4, 0
        .long   12
        .long   0
        .balign 8
        .short  0, 0                            /* end tag */
        .long   8
mb2_header_end:

        .globl  _start
        .type   _start, @function
_start:
        movl    $stack_top, %esp
        cld
        xorl    %ebp, %ebp
        pushl   %ebx                            /* the boot information */
        pushl   %eax                            /* the magic */
        call    main
        outb    %al, $0xF4
1:      hlt
        jmp     1b
        .size   _start, . - _start

        .bss
        .balign 16
        .space  8192
stack_top:
