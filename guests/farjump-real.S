/*
 * farjump-real: a boot-sector-like real-mode guest (run with --mode real). It
 * starts at 0000:7C00 (CS = 0, linear 0x7C00), far-jumps to 0800:0000 and runs
 * `routine` there: linear 0x8000 = 0x0800 * 16 + 0, with CS = 0x800 and IP
 * counting from 0. The routine prints "in 0800:0000\n", stores 0x1235 + 1 in bx
 * and at linear 0x8400 (DS = CS, offset 0x400), and exits with status 33
 * through port 0xF4. For the linear-pc model (docs/modes.md): a breakpoint on
 * `routine` is at linear 0x8000 whatever CS holds.
 * One section from 0x7C00; `.org` puts the routine at 0x8000.
 */
        .code16
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7c00, %sp
        ljmp    $0x0800, $(routine - 0x8000)
        .size   _start, . - _start

        .org    0x8000 - 0x7c00
        .globl  routine
        .type   routine, @function
routine:
        movw    %cs, %ax                /* 0x800 */
        movw    %ax, %ds
        movw    $msg - 0x8000, %si
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $0xe9
        jmp     1b
2:      movw    $0x1235, %bx
        incw    %bx
        movw    %bx, 0x400              /* DS = 0x800: linear 0x8400 */
        .globl  routine_exit
routine_exit:
        movb    $33, %al
        outb    %al, $0xf4
3:      hlt
        jmp     3b
        .size   routine, . - routine

msg:    .asciz  "in 0800:0000\n"

        .section .note.GNU-stack, "", @progbits
