/*
 * The pc platform's AP start-up as on hardware (docs/guest-abi.md, "Platforms"): a
 * Multiboot 1 kernel for `--cpus 2` whose BSP copies a real-mode trampoline to
 * 0x8000, enables its LAPIC and sends vCPU 1 INIT, SIPI, SIPI (vector 0x08: the AP
 * starts at 0800:0000 in real mode). The AP sets a byte in the trampoline's page and
 * halts with interrupts off. The BSP waits for the byte, prints the result on 0xE9
 * and exits through 0xF4: 0 when the AP ran, 1 when it never did.
 */
        .code32
        .section .text.start, "ax"
        .balign 4
        .long   0x1BADB002, 0, -0x1BADB002

        .set    LAPIC, 0xFEE00000
        .set    TRAMPOLINE, 0x8000

        .globl  _start
_start:
        movl    $stack_top, %esp
        cld
        movl    $ap_trampoline, %esi
        movl    $TRAMPOLINE, %edi
        movl    $ap_trampoline_end - ap_trampoline, %ecx
        rep movsb
        movl    $0x1FF, LAPIC + 0xF0            /* SVR: software-enabled */
        movl    $1 << 24, LAPIC + 0x310         /* ICR high: APIC ID 1 */
        movl    $0x00004500, LAPIC + 0x300      /* INIT, assert */
        call    delay
        movl    $0x00004600 | (TRAMPOLINE >> 12), LAPIC + 0x300   /* SIPI */
        call    delay
        movl    $0x00004600 | (TRAMPOLINE >> 12), LAPIC + 0x300   /* the second SIPI */
        movl    $200, %ebx
1:      cmpb    $1, TRAMPOLINE + (ap_ran - ap_trampoline)
        je      2f
        call    delay
        decl    %ebx
        jnz     1b
        movl    $fail_msg, %esi
        call    puts
        movb    $1, %al
        outb    %al, $0xF4
2:      movl    $ok_msg, %esi
        call    puts
        xorl    %eax, %eax
        outb    %al, $0xF4

delay:  movl    $200000, %ecx
1:      pause
        loop    1b
        ret

puts:   lodsb
        testb   %al, %al
        jz      1f
        outb    %al, $0xE9
        jmp     puts
1:      ret

/* Copied to 0x8000; the AP runs it in real mode, CS = 0x0800, IP = 0. */
        .code16
ap_trampoline:
        cli
        movw    %cs, %ax
        movw    %ax, %ds
        movb    $1, ap_ran - ap_trampoline
1:      hlt
        jmp     1b
ap_ran: .byte   0
ap_trampoline_end:
        .code32

        .section .rodata
ok_msg:   .asciz "smp-sipi: vCPU 1 started at 0800:0000 after INIT-SIPI-SIPI\n"
fail_msg: .asciz "smp-sipi: vCPU 1 never ran\n"

        .bss
        .balign 16
        .space  4096
stack_top:
