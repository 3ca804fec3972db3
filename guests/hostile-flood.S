/*
 * hostile-flood: 64-bit guest (--mode long) that floods the console.  Prints
 * "flooding\n", fills a 1 MiB buffer with 16384 lines of 64 bytes (line i is 63
 * times the letter 'A' + i % 26, then '\n'), sends the first `flood_size` bytes
 * of it (default: all of it) to port 0xE9 with one `rep outsb` at `flood`,
 * prints "flood done\n" and halts (status 0).  kvmgdb's stdout is then exactly
 * 9 + 1048576 + 11 bytes.  KVM's emulator hands a `rep outs` to user space one
 * byte per exit (only `ins` is batched), so this is a million exits: about 2 s
 * on bare-metal KVM, over 2 minutes in the nested KVM under QEMU's TCG; a
 * debugger may set `flood_size` (at most 1 MiB) lower first.
 */
#define FLOOD_SIZE  (1024 * 1024)
#define LINE        64

        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        leaq    msg_start(%rip), %rsi
        call    puts

        /* Fill: rdi walks the buffer, edx is the line number. */
        leaq    flood_buffer(%rip), %rdi
        xorl    %edx, %edx
3:      movl    %edx, %eax
        movl    $26, %ebx
        push    %rdx
        xorl    %edx, %edx
        divl    %ebx                    /* edx = line % 26 */
        movl    %edx, %eax
        pop     %rdx
        addb    $'A', %al
        movl    $(LINE - 1), %ecx
        rep stosb
        movb    $'\n', %al
        stosb
        incl    %edx
        cmpl    $(FLOOD_SIZE / LINE), %edx
        jne     3b

        leaq    flood_buffer(%rip), %rsi
        movl    flood_size(%rip), %ecx
        cmpl    $FLOOD_SIZE, %ecx
        jbe     4f
        movl    $FLOOD_SIZE, %ecx
4:
        movw    $0xe9, %dx
        .globl  flood
flood:
        rep outsb

        leaq    msg_done(%rip), %rsi
        call    puts
        .globl  done
done:
        hlt
        jmp     done
        .size   _start, . - _start

/* puts (guests/puts.S): the string at rsi/esi to port 0xE9. */

        .section .rodata
msg_start:      .asciz  "flooding\n"
msg_done:       .asciz  "flood done\n"

        .section .data
        .balign 4
        .globl  flood_size
flood_size:     .long   FLOOD_SIZE

        .section .bss
        .balign 4096
        .globl  flood_buffer
flood_buffer:
        .skip   FLOOD_SIZE

        .section .note.GNU-stack, "", @progbits
