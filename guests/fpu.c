/*
 * fpu-sse: floating-point guest.  Built as fpu-sse64.elf (--mode long) and
 * fpu-sse32.elf (--mode protected, -msse2 -mfpmath=sse).  Uses SSE scalar
 * doubles, SSE packed floats (GCC vector extension -> mulps) and one x87
 * instruction (fsqrt).  Formatting is integer based (no libgcc, no libc).
 * Prints:
 *   pi ~= 3.14063
 *   sqrt(2) ~= 1.41421
 *   dot = 70
 *   fpu ok
 * and returns 42.
 */
#include "guest.h"

typedef float v4sf __attribute__((vector_size(16)));

volatile int terms = 1000;              /* volatile: no constant folding */
volatile double two = 2.0;
volatile float vec_a[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
volatile float vec_b[4] = { 5.0f, 6.0f, 7.0f, 8.0f };
double pi_approx;
float dot_result;

/* Prints a non-negative value with `decimals` digits, truncated (not rounded). */
__attribute__((noinline)) void print_fixed(double value, int decimals)
{
    int whole = (int)value;             /* cvttsd2si: 32-bit only, no libgcc */
    double rest = value - (double)whole;
    int scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    int frac = (int)(rest * (double)scale);

    print_int(whole);
    outb(GUEST_DEBUG_PORT, '.');
    for (int div = scale / 10; div > 0; div /= 10)
        outb(GUEST_DEBUG_PORT, (unsigned char)('0' + (frac / div) % 10));
}

/* Newton iteration for sqrt(x), x > 0. */
__attribute__((noinline)) double newton_sqrt(double x)
{
    double g = x > 1.0 ? x / 2.0 : 1.0;
    for (int i = 0; i < 30; i++)
        g = 0.5 * (g + x / g);
    return g;
}

/* 6 * sum_{k=1..n} 1/k^2 -> pi^2 (Basel problem). */
__attribute__((noinline)) double basel(int n)
{
    double sum = 0.0;
    for (int k = 1; k <= n; k++) {
        double dk = (double)k;
        sum += 1.0 / (dk * dk);
    }
    return 6.0 * sum;
}

/* sqrt with the x87 fsqrt instruction. */
__attribute__((noinline)) double x87_sqrt(double x)
{
    double r;
    __asm__("fsqrt" : "=t"(r) : "0"(x));
    return r;
}

__attribute__((noinline)) float dot4(v4sf a, v4sf b)
{
    v4sf p = a * b;                     /* mulps */
    return p[0] + p[1] + p[2] + p[3];
}

/* For gdb's inferior calls with a floating-point argument (`print half(3.0)`). */
__attribute__((noinline)) double half(double x)
{
    return x / 2.0;
}

/* MXCSR as the guest's own stmxcsr sees it (the gdb tests set it first). */
unsigned int mxcsr_seen;
__attribute__((noinline)) unsigned int read_mxcsr(void)
{
    unsigned int m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}

int main(void)
{
    int ok = 1;

    mxcsr_seen = read_mxcsr();
    if (half(two) != 1.0)
        ok = 0;

    pi_approx = newton_sqrt(basel(terms));
    console_write("pi ~= ");
    print_fixed(pi_approx, 5);
    console_write("\n");
    if (!(pi_approx > 3.1406 && pi_approx < 3.1407))
        ok = 0;

    double r2 = x87_sqrt(two);
    console_write("sqrt(2) ~= ");
    print_fixed(r2, 5);
    console_write("\n");
    if (!(r2 > 1.41421 && r2 < 1.41422))
        ok = 0;

    v4sf a = { vec_a[0], vec_a[1], vec_a[2], vec_a[3] };
    v4sf b = { vec_b[0], vec_b[1], vec_b[2], vec_b[3] };
    dot_result = dot4(a, b);
    console_write("dot = ");
    print_int((long)(int)dot_result);
    console_write("\n");
    if (dot_result != 70.0f)
        ok = 0;

    console_write(ok ? "fpu ok\n" : "fpu BAD\n");
    return 42;
}
