/* Tiny freestanding helpers shared by the C guests (header only). */
#ifndef KVMGDB_GUEST_H
#define KVMGDB_GUEST_H

#define GUEST_DEBUG_PORT 0xE9
#define GUEST_EXIT_PORT  0xF4

static inline void outb(unsigned short port, unsigned char value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

/* Keeps the compiler from merging or dropping surrounding memory stores. */
#define barrier() __asm__ volatile("" : : : "memory")

/* console.c: write a string / a decimal number to the debug port. */
void console_write(const char *s);
void print_int(long value);

#endif
