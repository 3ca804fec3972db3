/*
 * paged-scatter32: a 32-bit guest (--mode protected) that turns on paging itself,
 * with 4 KiB pages on scattered frames (see paged-scatter32.ld):
 *
 *   linear 0x000000 - 0x3fffff        -> the same physical (page table pt0)
 *   linear 0x400000 + i*4K, i < 8     -> physical 0x200000 + (7-i)*8K (pt1)
 *
 * Page 0 (0x400000, frame 0x20e000) holds scatter_main, page 1 (0x401000,
 * frame 0x20c000) its variables, pages 2-7 a pattern: the 32-bit word k of
 * page i is 0x5c000000 | i << 16 | k. scatter_main stores to scatter_value
 * three times (at scatter_store), checks the value and a pattern word through
 * the identity alias of their frames, prints "scattered pages ok" and returns
 * 42, which _start stores at physical 0x400 and keeps in eax; then hlt.
 * Entries are written with A (and D in the leaves) set, so the CPU never
 * changes them. Names are used by the paging tests.
 */
#define E_TABLE 0x23    /* P RW A */
#define E_PAGE  0x63    /* P RW A D */

        .code32
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        movl    $stack_top, %esp
        /* pt0: identity 0 - 4 MiB */
        xorl    %ecx, %ecx
1:      movl    %ecx, %eax
        shll    $12, %eax
        orl     $E_PAGE, %eax
        movl    %eax, pt0(, %ecx, 4)
        incl    %ecx
        cmpl    $1024, %ecx
        jb      1b
        /* pt1: eight pages, in reverse order, one frame apart */
        xorl    %ecx, %ecx
2:      movl    $7, %eax
        subl    %ecx, %eax
        shll    $13, %eax
        addl    $0x200000 + E_PAGE, %eax
        movl    %eax, pt1(, %ecx, 4)
        incl    %ecx
        cmpl    $8, %ecx
        jb      2b
        movl    $pt0 + E_TABLE, pd
        movl    $pt1 + E_TABLE, pd + 4
        movl    $pd, %eax
        movl    %eax, %cr3
        movl    %cr0, %eax
        orl     $0x80000000, %eax
        movl    %eax, %cr0
        .globl  paging_on
paging_on:
        call    scatter_main
        movl    %eax, 0x400
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

        .section .bss
        .balign 4096
        .globl  pd, pt0, pt1
pd:     .skip   4096
pt0:    .skip   4096
pt1:    .skip   4096
        .skip   4096
stack_top:

/* Page 0: code. */
        .section .scatter0, "ax"
        .globl  scatter_main
        .type   scatter_main, @function
scatter_main:
        movl    $3, %ecx
1:      movl    scatter_value, %eax
        leal    1(%eax, %eax, 2), %eax          /* v = 3v + 1: 4, 13, 40 */
        .globl  scatter_store
scatter_store:
        movl    %eax, scatter_value
        incl    scatter_counter
        loop    1b
        /* The same bytes through the identity alias of their frames. */
        movl    0x20c000, %eax                  /* scatter_value's frame */
        cmpl    scatter_value, %eax
        jne     9f
        cmpl    $0x5c070005, 0x200000 + 5 * 4   /* page 7, word 5 */
        jne     9f
        movl    $ok_text, %esi
        movw    $0xe9, %dx
3:      lodsb
        testb   %al, %al
        jz      4f
        outb    %al, %dx
        jmp     3b
4:      movl    $42, %eax
        ret
9:      movl    $1, %eax
        ret
        .size   scatter_main, . - scatter_main

/* Page 1: variables. */
        .section .scatter1, "aw"
        .globl  scatter_value, scatter_counter
scatter_value:   .long 1
scatter_counter: .long 0
ok_text:         .asciz "scattered pages ok\n"

/* Pages 2-7: the pattern. */
        .irp page, 2, 3, 4, 5, 6, 7
        .section .scatter\page, "a"
        .globl  scatter_page\page
scatter_page\page:
        k = 0
        .rept 1024
        .long   0x5c000000 | (\page << 16) | k
        k = k + 1
        .endr
        .endr

        .section .note.GNU-stack, "", @progbits
