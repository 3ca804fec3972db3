/*
 * int3-long: 64-bit guest (--mode long) with its own #BP handler.  Installs an IDT
 * whose vector 3 prints "int3 handled\n", executes int3, then prints "back\n" and
 * exits with status 7 via port 0xF4.  For the test that a debugger hands the
 * guest's own int3 back to the guest (where KVM intercepts #BP for breakpoints).
 */
        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        /* Gate 3: handler offset split 16/16/32, this CS, present interrupt gate. */
        leaq    bp_handler(%rip), %rax
        leaq    idt+3*16(%rip), %rdi
        movw    %ax, (%rdi)
        movw    %cs, %dx
        movw    %dx, 2(%rdi)
        movw    $0x8e00, 4(%rdi)
        shrq    $16, %rax
        movw    %ax, 6(%rdi)
        shrq    $16, %rax
        movl    %eax, 8(%rdi)
        movl    $0, 12(%rdi)
        lidt    idt_desc(%rip)
        /* A one-byte instruction just before the guest's int3: a debugger's
           breakpoint there must not take the guest's int3 for its own. */
        .globl  before_int3
before_int3:
        nop
        .globl  guest_int3
guest_int3:
        int3
        leaq    msg_back(%rip), %rsi
        call    puts
        movb    $7, %al
        outb    %al, $0xf4
1:      hlt
        jmp     1b
        .size   _start, . - _start

bp_handler:
        pushq   %rax
        pushq   %rsi
        leaq    msg_handled(%rip), %rsi
        call    puts
        popq    %rsi
        popq    %rax
        iretq

/* puts: the NUL-terminated string at rsi to port 0xE9 (clobbers al, rsi). */
puts:
        lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     puts
2:      ret

        .section .rodata
msg_handled: .asciz "int3 handled\n"
msg_back:    .asciz "back\n"

        .data
        .balign 16
idt:    .fill   4*16, 1, 0              /* vectors 0-3 */
idt_desc:
        .word   4*16 - 1
        .quad   idt

        .section .note.GNU-stack, "", @progbits
