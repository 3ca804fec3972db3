/*
 * timer-irq: a 32-bit PVH guest for the pc platform that takes real interrupts.
 *
 * Entered through its XEN_ELFNOTE_PHYS32_ENTRY note (32-bit protected mode, paging
 * off, kvmgdb's flat GDT), it builds its own IDT (256 interrupt gates on whatever CS
 * it was entered with), remaps the 8259 PICs to vectors 0x20-0x2F with IRQ 0 (PIT)
 * and IRQ 4 (COM1) unmasked, programs PIT channel 0 for 100 Hz (mode 2), enables
 * COM1's receive interrupt (IER 1, MCR OUT2|RTS|DTR), enables the LAPIC (spurious
 * vector 0xFF, LINT0 ExtINT for the PICs) with its timer periodic at vector 0x40
 * (divide by 16, 625000 counts: 100 Hz on KVM's 1 GHz APIC bus), prints "timer-irq:
 * ready" on port 0xE9 (tests wait for it before typing) and idles in HLT with
 * interrupts on (`idle: hlt; idle_after_hlt: jmp idle`, no register used).
 *
 *   pit_handler   (vector 0x20)  EOI to the master PIC, sti; then, interruptible,
 *                                pit_ticks += 1 and pit_work += 4 (one by one);
 *                                cli, iret (see there for the exact layout)
 *   uart_handler  (vector 0x24)  reads RBR while LSR.DR, echoes each byte to THR;
 *                                'q' ends the run
 *   lapic_handler (vector 0x40)  lapic_ticks += 1, EOI to the LAPIC
 *
 * The end ('q' on COM1): "\npit=N lapic=M\n" on port 0xE9, then "timer-irq: the PIT and the LAPIC
 * timer both ticked" and exit status 0 (port 0xF4) when both counts are > 3, else a
 * line saying which did not (with the LAPIC's registers) and status 1.
 * An exception prints "timer-irq: exception 0xNN" and exits with 3; any other
 * vector prints "timer-irq: unexpected interrupt" and exits with 4.
 * tests/gdb/timer_irq_check.py and tests/gdb/scenarios/timer_irq.py step through
 * pit_handler instruction by instruction, with the next ticks pending.
 *
 * With the command line "busy" (kvmgdb --cmdline busy), the LAPIC timer runs at
 * 2 kHz and, instead of idling, the guest counts in a loop with interrupts on:
 * busy_add (`addl $3, busy_sum`, 7 bytes) and `addl $1, busy_rounds`, BUSY_ROUNDS
 * times, using no register (so pit_handler's %eax is no matter). Then it checks
 * busy_sum == 3 * busy_rounds and prints "timer-irq: busy loop ok" (status 0) or
 * "timer-irq: FAILED: busy_sum ..." (status 5). tests/gdb/scenarios/timer_irq_busy.py
 * stops at busy_add again and again while the ticks come: a breakpoint in code
 * that runs with interrupts on must neither skip nor split the instruction.
 */
#define COM1    0x3f8
#define LAPIC   0xfee00000
#define DEBUGCON 0xe9
#define EXITPORT 0xf4
#define BUSY_ROUNDS 3000000

        .code32

/* The PVH entry (Xen's elfnote.h): name "Xen", type 18, the 32-bit physical entry. */
        .section .note.Xen, "a", @note
        .p2align 2
        .long   4                       /* namesz */
        .long   4                       /* descsz */
        .long   18                      /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   _start

        .section .text.start, "ax"
        .globl  _start
        .type   _start, @function
_start:
        cli
        cld
        movl    $stack_top, %esp
        movl    %ebx, start_info        /* hvm_start_info (PVH: %ebx at entry) */

        /* Every vector to unexpected_handler, then the exceptions and ours. */
        xorl    %ecx, %ecx
1:      movl    $unexpected_handler, %eax
        call    set_gate
        incl    %ecx
        cmpl    $256, %ecx
        jb      1b
        xorl    %ecx, %ecx
2:      leal    exception_stubs(,%ecx,8), %eax
        call    set_gate
        incl    %ecx
        cmpl    $32, %ecx
        jb      2b
        movl    $0x20, %ecx
        movl    $pit_handler, %eax
        call    set_gate
        movl    $0x24, %ecx
        movl    $uart_handler, %eax
        call    set_gate
        movl    $0x27, %ecx             /* the master's spurious IRQ 7 */
        movl    $spurious_handler, %eax
        call    set_gate
        movl    $0x40, %ecx
        movl    $lapic_handler, %eax
        call    set_gate
        movl    $0xff, %ecx             /* the LAPIC's spurious vector */
        movl    $spurious_handler, %eax
        call    set_gate
        lidt    idt_descriptor

        /* 8259 PICs: ICW1 (edge, cascade, ICW4), ICW2 vectors 0x20 / 0x28,
           ICW3 slave on IRQ 2, ICW4 8086 mode; then the masks. */
        movb    $0x11, %al
        outb    %al, $0x20
        outb    %al, $0xa0
        movb    $0x20, %al
        outb    %al, $0x21
        movb    $0x28, %al
        outb    %al, $0xa1
        movb    $0x04, %al
        outb    %al, $0x21
        movb    $0x02, %al
        outb    %al, $0xa1
        movb    $0x01, %al
        outb    %al, $0x21
        outb    %al, $0xa1
        movb    $0xee, %al              /* IRQ 0 and IRQ 4 unmasked */
        outb    %al, $0x21
        movb    $0xff, %al
        outb    %al, $0xa1

        /* PIT channel 0: lobyte/hibyte, mode 2, 1193182 Hz / 11932 = 100 Hz. */
        movb    $0x34, %al
        outb    %al, $0x43
        movw    $11932, %ax
        outb    %al, $0x40
        movb    %ah, %al
        outb    %al, $0x40

        /* COM1: 8N1, receive interrupt, OUT2 (the IRQ gate) | RTS | DTR. */
        movw    $COM1+3, %dx
        movb    $0x03, %al
        outb    %al, %dx
        movw    $COM1+1, %dx
        movb    $0x01, %al
        outb    %al, %dx
        movw    $COM1+4, %dx
        movb    $0x0b, %al
        outb    %al, %dx

        /* LAPIC: software enable with spurious vector 0xFF; LINT0 ExtINT (the
           PICs' INTR), LINT1 NMI; the timer periodic at vector 0x40. */
        movl    $0x1ff, LAPIC+0xf0
        movl    $0x700, LAPIC+0x350
        movl    $0x400, LAPIC+0x360
        movl    $0x3, LAPIC+0x3e0       /* divide by 16 */
        movl    $0x20040, LAPIC+0x320   /* periodic, vector 0x40 */
        movl    $625000, LAPIC+0x380    /* initial count */

        movl    $counters, %ebp         /* the handlers' base register, for good */
        call    busy_wanted
        jnz     1f
        movl    $31250, LAPIC+0x380     /* busy: 2 kHz */
1:      movl    $ready_msg, %esi
        call    puts
        call    busy_wanted
        jz      busy
        sti
        .globl  idle, idle_after_hlt, idle_end
idle:
        hlt
idle_after_hlt:
        jmp     idle
idle_end:

/* The "busy" command line's loop, interrupts on (see the top). */
busy:
        sti
        .globl  busy_add, busy_next
busy_add:
        addl    $3, busy_sum
busy_next:
        addl    $1, busy_rounds
        cmpl    $BUSY_ROUNDS, busy_rounds
        jb      busy_add
        cli
        movl    busy_rounds, %eax
        leal    (%eax,%eax,2), %eax
        cmpl    busy_sum, %eax
        jne     1f
        movl    $busy_ok_msg, %esi
        call    puts
        movb    $0, %al
        outb    %al, $EXITPORT
        hlt
1:      movl    $busy_bad_msg, %esi
        call    puts
        movl    busy_sum, %eax
        call    put_dec
        movl    $busy_rounds_msg, %esi
        call    puts
        movl    busy_rounds, %eax
        call    put_dec
        movb    $'\n', %al
        outb    %al, $DEBUGCON
        movb    $5, %al
        outb    %al, $EXITPORT
        hlt
        .size   _start, . - _start

/* busy_wanted: ZF set when the PVH command line starts with "busy". Keeps %eax. */
        .type   busy_wanted, @function
busy_wanted:
        pushl   %eax
        movl    start_info, %eax
        movl    24(%eax), %eax          /* hvm_start_info.cmdline_paddr (low half) */
        testl   %eax, %eax
        jz      1f
        cmpl    $0x79737562, (%eax)     /* "busy" */
        popl    %eax
        ret
1:      testl   %esp, %esp              /* ZF clear: no command line */
        popl    %eax
        ret
        .size   busy_wanted, . - busy_wanted

/* set_gate: IDT entry %ecx -> handler %eax, a 32-bit interrupt gate on our CS.
   Keeps %ecx and %eax. */
        .type   set_gate, @function
set_gate:
        pushl   %eax
        pushl   %edx
        leal    idt(,%ecx,8), %edx
        movw    %ax, (%edx)
        shrl    $16, %eax
        movw    %ax, 6(%edx)
        movw    %cs, %ax
        movw    %ax, 2(%edx)
        movw    $0x8e00, 4(%edx)
        popl    %edx
        popl    %eax
        ret
        .size   set_gate, . - set_gate

/* puts: the NUL-terminated string at %esi to port 0xE9. */
        .type   puts, @function
puts:
        pushl   %eax
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, $DEBUGCON
        jmp     1b
2:      popl    %eax
        ret
        .size   puts, . - puts

/* put_dec: %eax in decimal to port 0xE9. */
        .type   put_dec, @function
put_dec:
        pushal
        movl    $10, %ebx
        xorl    %ecx, %ecx
1:      xorl    %edx, %edx
        divl    %ebx
        pushl   %edx
        incl    %ecx
        testl   %eax, %eax
        jnz     1b
2:      popl    %eax
        addb    $'0', %al
        outb    %al, $DEBUGCON
        loop    2b
        popal
        ret
        .size   put_dec, . - put_dec

/* put_hex8: %al as two hex digits to port 0xE9. */
        .type   put_hex8, @function
put_hex8:
        pushl   %eax
        pushl   %ebx
        movb    %al, %bl
        shrb    $4, %al
        call    1f
        movb    %bl, %al
        andb    $0xf, %al
        call    1f
        popl    %ebx
        popl    %eax
        ret
1:      addb    $'0', %al
        cmpb    $'9', %al
        jbe     2f
        addb    $'a'-'0'-10, %al
2:      outb    %al, $DEBUGCON
        ret
        .size   put_hex8, . - put_hex8

/* PIT, IRQ 0: what the gdb tests step through, exactly: two instructions (the EOI),
   sti, six 4-byte instructions from pit_interruptible (the counts, through %ebp,
   which always points at `counters`), cli, iret. %eax is not saved: interrupts
   land only in the idle loop, which uses no register, or (after this sti) in
   lapic_handler or uart_handler, which keep every register. */
#define PIT_TICKS       0
#define LAPIC_TICKS     4
#define PIT_WORK        8
#define PIT_DONE        12
        .globl  pit_handler, pit_interruptible
        .type   pit_handler, @function
pit_handler:
        movb    $0x20, %al              /* non-specific EOI */
        outb    %al, $0x20
        sti                             /* interruptible from the next instruction on */
pit_interruptible:
        addl    $1, PIT_TICKS(%ebp)
        addl    $1, PIT_WORK(%ebp)
        addl    $1, PIT_WORK(%ebp)
        addl    $1, PIT_WORK(%ebp)
        addl    $1, PIT_WORK(%ebp)
        addl    $1, PIT_DONE(%ebp)
        cli
        iret
        .size   pit_handler, . - pit_handler

/* LAPIC timer, vector 0x40. */
        .globl  lapic_handler
        .type   lapic_handler, @function
lapic_handler:
        incl    lapic_ticks
        movl    $0, LAPIC+0xb0          /* EOI */
        iret
        .size   lapic_handler, . - lapic_handler

/* COM1, IRQ 4: echo what arrived; 'q' ends the run. */
        .globl  uart_handler
        .type   uart_handler, @function
uart_handler:
        pushal
1:      movw    $COM1+5, %dx            /* LSR */
        inb     %dx, %al
        testb   $0x01, %al              /* DR */
        jz      3f
        movw    $COM1, %dx              /* RBR */
        inb     %dx, %al
        movb    %al, %bl
        movw    $COM1+5, %dx
2:      inb     %dx, %al                /* wait for THRE */
        testb   $0x20, %al
        jz      2b
        movw    $COM1, %dx              /* THR */
        movb    %bl, %al
        outb    %al, %dx
        incl    uart_bytes
        cmpb    $'q', %bl
        je      finish
        jmp     1b
3:      movb    $0x20, %al              /* non-specific EOI */
        outb    %al, $0x20
        popal
        iret

/* After 'q' (interrupts off): the summary, then the verdict as exit status. */
finish:
        movl    $summary_pit, %esi
        call    puts
        movl    pit_ticks, %eax
        call    put_dec
        movl    $summary_lapic, %esi
        call    puts
        movl    lapic_ticks, %eax
        call    put_dec
        movb    $'\n', %al
        outb    %al, $DEBUGCON
        cmpl    $3, pit_ticks
        jbe     5f
        cmpl    $3, lapic_ticks
        jbe     6f
        movl    $both_msg, %esi
        call    puts
        movb    $0, %al
        outb    %al, $EXITPORT
        hlt
5:      movl    $no_pit_msg, %esi
        call    puts
        jmp     7f
6:      movl    $no_lapic_msg, %esi     /* with what the LAPIC says of itself */
        call    puts
7:      movl    $apic_base_msg, %esi
        call    puts
        movl    $0x1b, %ecx             /* IA32_APIC_BASE */
        rdmsr
        call    put_hex32
        movl    $apic_svr_msg, %esi
        call    puts
        movl    LAPIC+0xf0, %eax
        call    put_hex32
        movl    $apic_lvt_msg, %esi
        call    puts
        movl    LAPIC+0x320, %eax
        call    put_hex32
        movl    $apic_ccr_msg, %esi
        call    puts
        movl    LAPIC+0x390, %eax
        call    put_hex32
        movb    $'\n', %al
        outb    %al, $DEBUGCON
        movb    $1, %al
        outb    %al, $EXITPORT
        hlt
        .size   uart_handler, . - uart_handler

/* put_hex32: %eax as eight hex digits to port 0xE9. */
        .type   put_hex32, @function
put_hex32:
        roll    $8, %eax
        call    put_hex8
        roll    $8, %eax
        call    put_hex8
        roll    $8, %eax
        call    put_hex8
        roll    $8, %eax
        call    put_hex8
        ret
        .size   put_hex32, . - put_hex32

/* The master PIC's IRQ 7 and the LAPIC's spurious vector: no EOI. */
        .globl  spurious_handler
        .type   spurious_handler, @function
spurious_handler:
        incl    spurious_count
        iret
        .size   spurious_handler, . - spurious_handler

        .globl  unexpected_handler
        .type   unexpected_handler, @function
unexpected_handler:
        movl    $unexpected_msg, %esi
        call    puts
        movb    $4, %al
        outb    %al, $EXITPORT
        hlt
        .size   unexpected_handler, . - unexpected_handler

/* Vectors 0-31: 8-byte stubs that push their number. */
        .p2align 3
        .globl  exception_stubs
exception_stubs:
        .set    vector, 0
        .rept   32
        .p2align 3
        pushl   $vector
        jmp     exception_common
        .set    vector, vector + 1
        .endr

exception_common:
        movl    $exception_msg, %esi
        call    puts
        popl    %eax
        call    put_hex8
        movb    $'\n', %al
        outb    %al, $DEBUGCON
        movb    $3, %al
        outb    %al, $EXITPORT
        hlt

        .section .rodata
ready_msg:      .asciz  "timer-irq: ready\n"
both_msg:       .asciz  "timer-irq: the PIT and the LAPIC timer both ticked\n"
no_pit_msg:     .asciz  "timer-irq: FAILED: the PIT ticked 3 times or fewer\n"
no_lapic_msg:   .asciz  "timer-irq: FAILED: the LAPIC timer ticked 3 times or fewer\n"
apic_base_msg:  .asciz  "timer-irq: IA32_APIC_BASE 0x"
apic_svr_msg:   .asciz  " SVR 0x"
apic_lvt_msg:   .asciz  " LVT timer 0x"
apic_ccr_msg:   .asciz  " current count 0x"
summary_pit:    .asciz  "\npit="
summary_lapic:  .asciz  " lapic="
unexpected_msg: .asciz  "timer-irq: unexpected interrupt\n"
exception_msg:  .asciz  "timer-irq: exception 0x"
busy_ok_msg:    .asciz  "timer-irq: busy loop ok\n"
busy_bad_msg:   .asciz  "timer-irq: FAILED: busy_sum "
busy_rounds_msg: .asciz " after busy_rounds "

        .data
        .p2align 3
idt_descriptor:
        .word   256 * 8 - 1
        .long   idt
        .p2align 4
        /* At PIT_TICKS, LAPIC_TICKS, PIT_WORK, PIT_DONE from %ebp in pit_handler. */
        .globl  counters, pit_ticks, lapic_ticks, pit_work, pit_done
        .globl  uart_bytes, spurious_count
counters:
        .type   pit_ticks, @object
pit_ticks:      .long 0
        .size   pit_ticks, 4
        .type   lapic_ticks, @object
lapic_ticks:    .long 0
        .size   lapic_ticks, 4
        .type   pit_work, @object
pit_work:       .long 0                 /* +4 per PIT tick, by four steps of 1 */
        .size   pit_work, 4
        .type   pit_done, @object
pit_done:       .long 0                 /* PIT handlers that got to their cli */
        .size   pit_done, 4
        .type   uart_bytes, @object
uart_bytes:     .long 0
        .size   uart_bytes, 4
        .type   spurious_count, @object
spurious_count: .long 0
        .size   spurious_count, 4
        .globl  busy_sum, busy_rounds
        .type   busy_sum, @object
busy_sum:       .long 0                 /* += 3 per round of the busy loop */
        .size   busy_sum, 4
        .type   busy_rounds, @object
busy_rounds:    .long 0
        .size   busy_rounds, 4
start_info:     .long 0

        .bss
        .p2align 3
idt:    .skip   256 * 8
        .p2align 4
stack:  .skip   16384
stack_top:

        .section .note.GNU-stack, "", @progbits
