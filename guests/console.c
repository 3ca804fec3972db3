/* The C guests' console: text to the 0xE9 debug port (see guest.h). */
#include "guest.h"

__attribute__((noinline)) void console_write(const char *s)
{
    while (*s)
        outb(GUEST_DEBUG_PORT, (unsigned char)*s++);
}

__attribute__((noinline)) void print_int(long value)
{
    char buf[24];
    int i = sizeof buf;
    unsigned long v = value < 0 ? 0UL - (unsigned long)value : (unsigned long)value;

    buf[--i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (value < 0)
        buf[--i] = '-';
    console_write(&buf[i]);
}
