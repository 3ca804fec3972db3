/*
 * Checks every field of the Multiboot 2 boot information kvmgdb hands it
 * (Multiboot2 Specification 2.0, 3.6 "Boot information format") against what
 * tests/kernels/kernels_boot_test.sh asks for:
 *
 *   kvmgdb --memory 256M --cmdline "mb2 check=yes" \
 *          --module M1,"first module" --module M2 multiboot2-check.elf
 *
 * with M1 holding "module one\n" and M2 "module two, longer\n". Prints one line per
 * check ("ok ..." or "FAIL ...") and exits through port 0xF4 with the number of
 * failures.
 */
#include "guest.h"

typedef unsigned int u32;
typedef unsigned long long u64;

static int failures;

static void check(int ok, const char *what)
{
    console_write(ok ? "ok   " : "FAIL ");
    console_write(what);
    console_write("\n");
    if (!ok)
        failures++;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int memeq(const void *a, const char *b, u32 n)
{
    const unsigned char *p = a;
    for (u32 i = 0; i < n; i++)
        if (p[i] != (unsigned char)b[i])
            return 0;
    return 1;
}

static u32 length(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}

struct tag {
    u32 type, size;
};

/* Every module is expected in this order, with these strings and contents. */
static const char *const module_string[] = {"first module", 0};
static const char *const module_bytes[] = {"module one\n", "module two, longer\n"};

/* The PC memory map kvmgdb reports for 256 MiB (docs/guest-abi.md, "Boot protocols"). */
static const struct { u64 addr, len; u32 type; } expected_map[] = {
    {0x0, 0x9fc00, 1},
    {0x9fc00, 0x400, 2},
    {0xf0000, 0x10000, 2},
    {0x100000, 0x10000000 - 0x100000, 1},
};

int main(u32 magic, u32 info)
{
    extern char __guest_start[], __guest_end[];
    int seen[7] = {0};
    u32 modules = 0;

    check(magic == 0x36D76289, "EAX is the Multiboot 2 magic 0x36d76289");
    check(info % 8 == 0, "the boot information is 8-byte aligned");
    const u32 total = *(const u32 *)info;
    check(*(const u32 *)(info + 4) == 0, "its reserved word is 0");
    check(info + total <= (u32)(unsigned long)__guest_start || info >= (u32)(unsigned long)__guest_end,
          "it does not overlap the image");

    u32 at = info + 8;
    int ended = 0;
    while (at + 8 <= info + total) {
        const struct tag *t = (const struct tag *)at;
        if (t->type == 0) {
            check(t->size == 8, "the end tag's size is 8");
            check(at + 8 == info + total, "the end tag closes total_size exactly");
            ended = 1;
            break;
        }
        if (t->type < 7)
            seen[t->type]++;
        const char *payload = (const char *)(at + 8);
        switch (t->type) {
        case 1:
            check(streq(payload, "mb2 check=yes"), "tag 1: the command line is --cmdline's");
            check(t->size == 8 + length(payload) + 1, "tag 1: size covers the string and its NUL");
            break;
        case 2:
            check(streq(payload, "kvmgdb"), "tag 2: the boot loader name is kvmgdb");
            break;
        case 3: {
            const u32 start = *(const u32 *)(at + 8), end = *(const u32 *)(at + 12);
            const char *string = (const char *)(at + 16);
            if (modules < 2) {
                const char *want = module_bytes[modules];
                check(start % 4096 == 0, "tag 3: the module starts on a page");
                check(end - start == length(want), "tag 3: mod_end - mod_start is the file's size");
                check(memeq((const void *)start, want, length(want)), "tag 3: the module holds the file's bytes");
                check(start >= (u32)(unsigned long)__guest_end, "tag 3: the module lies above the image");
                /* GRUB's and kvmgdb's default string is the file's path. */
                check(module_string[modules] ? streq(string, module_string[modules]) : length(string) > 0,
                      "tag 3: the module's string is its ARGS, or its path");
            }
            modules++;
            break;
        }
        case 4:
            check(*(const u32 *)(at + 8) == 639, "tag 4: mem_lower is 639 KiB");
            check(*(const u32 *)(at + 12) == (0x10000000 - 0x100000) / 1024, "tag 4: mem_upper is RAM above 1 MiB in KiB");
            check(t->size == 16, "tag 4: size 16");
            break;
        case 6: {
            const u32 entry_size = *(const u32 *)(at + 8), version = *(const u32 *)(at + 12);
            check(entry_size == 24, "tag 6: entry_size 24");
            check(version == 0, "tag 6: entry_version 0");
            const u32 n = (t->size - 16) / entry_size;
            check(n == sizeof expected_map / sizeof expected_map[0], "tag 6: four entries, the PC's map");
            for (u32 i = 0; i < n && i < 4; i++) {
                const u32 e = at + 16 + i * entry_size;
                check(*(const u64 *)e == expected_map[i].addr && *(const u64 *)(e + 8) == expected_map[i].len &&
                          *(const u32 *)(e + 16) == expected_map[i].type && *(const u32 *)(e + 20) == 0,
                      "tag 6: an entry is the expected base, length, type, reserved 0");
            }
            break;
        }
        default:
            check(0, "a tag kvmgdb does not document");
            print_int((long)t->type);
            console_write("\n");
        }
        at += (t->size + 7) & ~7u;
    }
    check(ended, "the tags end with an end tag");
    check(seen[1] == 1 && seen[2] == 1 && seen[4] == 1 && seen[6] == 1, "tags 1, 2, 4 and 6 once each");
    check(modules == 2, "tag 3 once per --module, in order");
    console_write("multiboot2-check: ");
    print_int(failures);
    console_write(" failures\n");
    return failures;
}
