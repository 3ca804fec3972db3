/*
 * higher-half-long: entry of a guest that runs in the higher half (--mode long).
 *
 * kvmgdb enters _start at physical 0x100000 on its identity tables. The guest
 * builds its own 4-level tables (see higher-half.ld for the link layout):
 *
 *   linear 0x0 - 0x3fffff                  -> the same physical (two 2 MiB pages)
 *   linear 0xffffffff80000000 + n*4K       -> physical 0x100000 + n*4K, n < 512
 *                                             (one page table of 4 KiB pages)
 *
 * loads CR3 with them (paging_on is the first instruction after that), moves
 * the stack into the higher half and calls higher_half_main() there. Its
 * return value goes to physical 0x400 (through the low identity map) and rax,
 * then hlt. Every entry is written with its accessed bit (and the leaves with
 * dirty) already set, so the CPU never changes them and `monitor translate`
 * shows the same values every run.
 */
#define HIGH_OFFSET 0xffffffff7ff00000
#define E_TABLE     0x23        /* P RW A */
#define E_LARGE     0xe3        /* P RW A D PS */
#define E_PAGE      0x63        /* P RW A D */

        .cfi_sections .debug_frame
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        .cfi_startproc
        .cfi_undefined rip
        cld
        /* Zero the six tables (kvmgdb zeroes bss already; the guest does not rely on it). */
        movl    $pml4, %edi
        xorl    %eax, %eax
        movl    $6 * 512, %ecx
        rep stosq

        movq    $pdpt_lo + E_TABLE, %rax
        movq    %rax, pml4
        movq    $pdpt_hi + E_TABLE, %rax
        movq    %rax, pml4 + 511 * 8
        movq    $pd_lo + E_TABLE, %rax
        movq    %rax, pdpt_lo
        movq    $0x000000 + E_LARGE, %rax
        movq    %rax, pd_lo
        movq    $0x200000 + E_LARGE, %rax
        movq    %rax, pd_lo + 8
        movq    $pd_hi + E_TABLE, %rax
        movq    %rax, pdpt_hi + 510 * 8
        movq    $pt_hi + E_TABLE, %rax
        movq    %rax, pd_hi

        movl    $pt_hi, %edi
        movl    $0x100000 + E_PAGE, %eax
        movl    $512, %ecx
1:      movq    %rax, (%rdi)
        addq    $8, %rdi
        addq    $0x1000, %rax
        loop    1b

        movl    $pml4, %eax
        movq    %rax, %cr3
        .globl  paging_on
paging_on:
        movabsq $high_stack_top, %rsp
        xorl    %ebp, %ebp
        movabsq $higher_half_main, %rax
        call    *%rax
        movslq  %eax, %rax
        movq    %rax, 0x400
        .globl  done
done:
        hlt
        jmp     done
        .cfi_endproc
        .size   _start, . - _start

        .section .boot.bss, "aw", @nobits
        .balign 4096
        .globl  pml4, pdpt_lo, pd_lo, pdpt_hi, pd_hi, pt_hi
pml4:   .skip   4096
pdpt_lo: .skip  4096
pd_lo:  .skip   4096
pdpt_hi: .skip  4096
pd_hi:  .skip   4096
pt_hi:  .skip   4096

        /* The higher-half stack: its own page(s), away from the data gdb watches. */
        .section .bss.stack, "aw", @nobits
        .balign 4096
high_stack:
        .skip   8192
        .globl  high_stack_top
high_stack_top:

        .section .note.GNU-stack, "", @progbits
