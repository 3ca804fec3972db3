/*
 * stores-long: 64-bit guest (--mode long) that writes one 32-byte variable,
 * `target`, with instructions KVM's instruction emulator cannot all do: a plain
 * mov, SSE movaps and movsd, rep movsb, cmpxchg16b, and (where CPUID has AVX)
 * a 32-byte AVX vmovdqu. Before each store it prints the store's name on port
 * 0xE9 and between stores it writes `neighbour`, on the same page but outside
 * `target`. kvmgdb protects the page of a watched variable (and of a patched
 * breakpoint): every one of these stores must still work, and a watchpoint on
 * `target` must stop after each of them. Prints "stores done" and halts.
 * Where AVX is advertised but faults (#UD or #GP: some nested KVMs), a small
 * IDT catches it, the guest prints "vmovdqu faulted" and goes on to the end.
 */
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        /* SSE is on (CR4.OSFXSR); AVX needs CR4.OSXSAVE and XCR0 = x87|SSE|AVX. */
        movl    $1, %eax
        cpuid
        btl     $28, %ecx               /* AVX */
        setc    have_avx(%rip)
        btl     $26, %ecx               /* XSAVE */
        jnc     no_avx
        movq    %cr4, %rax
        orq     $(1 << 18), %rax        /* OSXSAVE */
        movq    %rax, %cr4
        xorl    %ecx, %ecx
        movl    $7, %eax
        xorl    %edx, %edx
        cmpb    $0, have_avx(%rip)
        jne     1f
        movl    $3, %eax
1:      xsetbv
no_avx:
        leaq    name_mov(%rip), %rsi
        call    say
        movq    $0x1111111111111111, %rax
        movq    %rax, target(%rip)
        .globl  after_mov
after_mov:
        movl    $1, neighbour(%rip)

        leaq    name_movaps(%rip), %rsi
        call    say
        movaps  pattern(%rip), %xmm0
        movaps  %xmm0, target(%rip)
        .globl  after_movaps
after_movaps:
        movl    $2, neighbour(%rip)

        leaq    name_movsd(%rip), %rsi
        call    say
        movsd   pattern+16(%rip), %xmm1
        movsd   %xmm1, target+8(%rip)
        .globl  after_movsd
after_movsd:
        movl    $3, neighbour(%rip)

        leaq    name_rep(%rip), %rsi
        call    say
        leaq    pattern(%rip), %rsi
        leaq    target+16(%rip), %rdi
        movl    $16, %ecx
        rep movsb
        .globl  after_rep
after_rep:
        movl    $4, neighbour(%rip)

        leaq    name_cx16(%rip), %rsi
        call    say
        movq    target(%rip), %rax      /* compare with what is there: it succeeds */
        movq    target+8(%rip), %rdx
        movq    $0x5555555555555555, %rbx
        movq    $0x6666666666666666, %rcx
        lock cmpxchg16b target(%rip)
        .globl  after_cx16
after_cx16:
        movl    $5, neighbour(%rip)

        cmpb    $0, have_avx(%rip)
        je      finish
        leaq    name_avx(%rip), %rsi
        call    say
        call    install_idt
        vmovdqu pattern(%rip), %ymm2
        vmovdqu %ymm2, target(%rip)
        .globl  after_avx
after_avx:
        movl    $6, neighbour(%rip)
finish:
        leaq    name_done(%rip), %rsi
        call    say
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

/* An IDT whose #UD (6) and #GP (13) gates lead to avx_faulted. */
install_idt:
        movw    %cs, %dx
        leaq    ud_handler(%rip), %rax
        movl    $6, %ecx
        call    set_gate
        leaq    gp_handler(%rip), %rax
        movl    $13, %ecx
        call    set_gate
        lidt    idtr(%rip)
        ret
/* gate %ecx := 64-bit interrupt gate to %rax, code selector %dx (SDM 6.14.1) */
set_gate:
        shll    $4, %ecx
        leaq    idt(%rip), %rdi
        addq    %rcx, %rdi
        movw    %ax, (%rdi)
        movw    %dx, 2(%rdi)
        movw    $0x8e00, 4(%rdi)
        shrq    $16, %rax
        movw    %ax, 6(%rdi)
        shrq    $16, %rax
        movl    %eax, 8(%rdi)
        movl    $0, 12(%rdi)
        ret
gp_handler:
        addq    $8, %rsp                /* the error code */
ud_handler:
        leaq    avx_faulted(%rip), %rax
        movq    %rax, (%rsp)            /* return there instead */
        iretq
avx_faulted:
        leaq    name_avx_fault(%rip), %rsi
        call    say
        jmp     finish

/* Prints the NUL-terminated string at %rsi and a newline on port 0xE9. */
say:
        lodsb
        testb   %al, %al
        jz      1f
        outb    %al, $0xe9
        jmp     say
1:      movb    $'\n', %al
        outb    %al, $0xe9
        ret

        .section .rodata
        .balign 32
pattern:
        .quad   0x2222222222222222, 0x3333333333333333, 0x4444444444444444, 0x7777777777777777
name_mov:    .asciz "mov"
name_movaps: .asciz "movaps"
name_movsd:  .asciz "movsd"
name_rep:    .asciz "rep movsb"
name_cx16:   .asciz "cmpxchg16b"
name_avx:    .asciz "vmovdqu"
name_done:   .asciz "stores done"
name_avx_fault: .asciz "vmovdqu faulted"
idtr:   .word   16 * 14 - 1
        .quad   idt

        .data
        .balign 64
        .globl  target
target:
        .fill   32, 1, 0
        .globl  neighbour
neighbour:
        .long   0
        .globl  spare
spare:
        .fill   64, 1, 0x90
        .globl  have_avx
have_avx:
        .byte   0
        .section .bss
        .balign 16
idt:    .fill   16 * 14, 1, 0

        .section .note.GNU-stack, "", @progbits
