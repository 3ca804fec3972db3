/*
 * hostile-unmap-long: 64-bit guest (--mode long) that loads page tables which
 * leave one of its own pages unmapped, so addresses a debugger knows from the
 * ELF stop being valid for a while.
 *   1. prints "own page tables\n", builds identity page tables in its .bss
 *      (new_pml4 .. new_pt: 4 KiB pages for the first 2 MiB, 2 MiB pages for
 *      the rest of the first GiB) in which the page holding `secret` (alone on
 *      its page in .data, value 0x5ec2e7) is not present, and loads them (CR3);
 *   2. at `unmapped_phase` prints "secret unmapped\n" (it never touches
 *      `secret` here: that would page-fault, and with no IDT triple-fault);
 *   3. at `restore` reloads kvmgdb's CR3 (kept in r12), at `restored` prints
 *      "restored\n", reads `secret`, prints "secret ok\n" and halts (status 0),
 *      or "secret BAD\n" and exit status 1.
 * While phase 2 runs, a debugger reading `secret` gets an error (gdb: "Cannot
 * access memory"), `monitor translate` shows the not-present PTE, and
 * breakpoints on mapped code still work.
 */
#define SECRET_VALUE 0x5ec2e7

        .code64
        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cld
        leaq    msg_own(%rip), %rsi
        call    puts

        /* new_pt: identity 4 KiB pages for [0, 2 MiB), present|RW|A|D (0x63). */
        leaq    new_pt(%rip), %rdi
        movl    $0x63, %eax
        movl    $512, %ecx
1:      movq    %rax, (%rdi)
        addq    $0x1000, %rax
        addq    $8, %rdi
        loop    1b
        /* ... except the page of `secret`. */
        leaq    secret(%rip), %rax
        shrq    $12, %rax
        andl    $511, %eax
        leaq    new_pt(%rip), %rdi
        movq    $0, (%rdi,%rax,8)

        /* new_pd[0] -> new_pt; new_pd[1..511]: 2 MiB pages, present|RW|A|D|PS (0xe3). */
        leaq    new_pd(%rip), %rdi
        leaq    new_pt(%rip), %rax
        orq     $0x23, %rax
        movq    %rax, (%rdi)
        movl    $(0x200000 | 0xe3), %eax
        movl    $511, %ecx
2:      addq    $8, %rdi
        movq    %rax, (%rdi)
        addq    $0x200000, %rax
        loop    2b

        leaq    new_pd(%rip), %rax
        orq     $0x23, %rax
        movq    %rax, new_pdpt(%rip)
        leaq    new_pdpt(%rip), %rax
        orq     $0x23, %rax
        movq    %rax, new_pml4(%rip)

        movq    %cr3, %r12              /* kvmgdb's tables, for later */
        leaq    new_pml4(%rip), %rax
        .globl  load_cr3
load_cr3:
        movq    %rax, %cr3
        .globl  unmapped_phase
unmapped_phase:
        leaq    msg_unmapped(%rip), %rsi
        call    puts
        .globl  restore
restore:
        movq    %r12, %cr3
        .globl  restored
restored:
        leaq    msg_restored(%rip), %rsi
        call    puts
        cmpq    $SECRET_VALUE, secret(%rip)
        jne     bad
        leaq    msg_ok(%rip), %rsi
        call    puts
        .globl  done
done:
        hlt
        jmp     done
bad:
        leaq    msg_bad(%rip), %rsi
        call    puts
        movb    $1, %al
        outb    %al, $0xf4
        jmp     done
        .size   _start, . - _start

/* puts (guests/puts.S): the string at rsi/esi to port 0xE9. */

        .section .rodata
msg_own:        .asciz  "own page tables\n"
msg_unmapped:   .asciz  "secret unmapped\n"
msg_restored:   .asciz  "restored\n"
msg_ok:         .asciz  "secret ok\n"
msg_bad:        .asciz  "secret BAD\n"

        .section .data
        .balign 4096
        .globl  secret
secret:
        .quad   SECRET_VALUE
        .balign 4096                    /* alone on its page */

        .section .bss
        .balign 4096
        .globl  new_pml4, new_pdpt, new_pd, new_pt
new_pml4:       .skip   4096
new_pdpt:       .skip   4096
new_pd:         .skip   4096
new_pt:         .skip   4096

        .section .note.GNU-stack, "", @progbits
