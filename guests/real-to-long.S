/*
 * real-to-long: starts in 16-bit real mode at 0x8000 (run with --mode real)
 * and switches to long mode by itself:
 *   real mode      : prints "real mode\n", lgdt, CR0.PE, far jump
 *   protected mode : prints "protected mode\n", builds identity page tables
 *                    at 0x20000-0x22FFF (PML4, PDPT, PD; first 1 GiB with
 *                    2 MiB pages), CR4.PAE, CR3, EFER.LME, CR0.PG, far jump;
 *                    stack below 0x30000 from here on
 *   long mode      : prints "real -> protected -> long: reached 64-bit mode\n",
 *                    stores 42 at 0x400 and in rax, hlt.
 * The file is ELF32 (EM_386); each stage lives in its own section.
 */
#define PML4    0x20000
#define PDPT    0x21000
#define PD      0x22000
#define STACK_TOP 0x30000       /* own stack, above the page tables */

#define SEL_CODE32  0x08
#define SEL_DATA    0x10
#define SEL_CODE64  0x18

/* ------------------------------------------------------------------ */
        .code16
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7C00, %sp

        movw    $msg_real, %si
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:
        lgdtl   gdt_desc
        movl    %cr0, %eax
        orl     $1, %eax                /* CR0.PE */
        movl    %eax, %cr0
        ljmpl   $SEL_CODE32, $protected_entry
        .size   _start, . - _start

/* ------------------------------------------------------------------ */
        .code32
        .section .text32, "ax"
        .globl  protected_entry
        .type   protected_entry, @function
protected_entry:
        movw    $SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    %ax, %fs
        movw    %ax, %gs
        movl    $STACK_TOP, %esp

        movl    $msg_protected, %esi
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:
        /* Zero PML4, PDPT and PD (3 pages). */
        movl    $PML4, %edi
        xorl    %eax, %eax
        movl    $(3 * 4096 / 4), %ecx
        rep stosl

        movl    $(PDPT | 0x3), PML4     /* present | writable */
        movl    $(PD | 0x3), PDPT

        /* PD: 512 x 2 MiB pages, identity map of the first 1 GiB. */
        movl    $PD, %edi
        movl    $0x83, %eax             /* present | writable | PS */
        movl    $512, %ecx
3:      movl    %eax, (%edi)
        movl    $0, 4(%edi)
        addl    $0x200000, %eax
        addl    $8, %edi
        loop    3b

        movl    %cr4, %eax
        orl     $(1 << 5), %eax         /* CR4.PAE */
        movl    %eax, %cr4

        movl    $PML4, %eax
        movl    %eax, %cr3

        movl    $0xC0000080, %ecx       /* IA32_EFER */
        rdmsr
        orl     $(1 << 8), %eax         /* EFER.LME */
        wrmsr

        movl    %cr0, %eax
        orl     $0x80000000, %eax       /* CR0.PG -> long mode active */
        movl    %eax, %cr0

        ljmp    $SEL_CODE64, $long_entry
        .size   protected_entry, . - protected_entry

/* ------------------------------------------------------------------ */
        .code64
        .section .text64, "ax"
        .globl  long_entry
        .type   long_entry, @function
long_entry:
        movw    $SEL_DATA, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    %ax, %fs
        movw    %ax, %gs
        movq    $STACK_TOP, %rsp

        leaq    msg_long(%rip), %rsi
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      movq    $42, 0x400
        movq    $42, %rax
        .globl  done
done:
        hlt
        jmp     done
        .size   long_entry, . - long_entry

/* ------------------------------------------------------------------ */
        .section .rodata
        .balign 16
gdt:
        .quad   0x0000000000000000      /* null */
        .quad   0x00CF9A000000FFFF      /* 0x08: 32-bit code, flat */
        .quad   0x00CF92000000FFFF      /* 0x10: data, flat */
        .quad   0x00AF9A000000FFFF      /* 0x18: 64-bit code */
gdt_end:
        .balign 8
gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt

msg_real:       .asciz  "real mode\n"
msg_protected:  .asciz  "protected mode\n"
msg_long:       .asciz  "real -> protected -> long: reached 64-bit mode\n"

        .section .note.GNU-stack, "", @progbits
