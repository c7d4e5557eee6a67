#include "streamrec/float_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define DIGITS 9

/* 10^0 .. 10^32: exact up to 10^22, the nearest double beyond. */
static const double POW10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10,
    1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
    1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
};

/* v * 10^p for |p| <= 54 (all a float needs), with at most four roundings:
 * a relative error below 5e-16. */
static double scale10(double v, int p) {
    if (p >= 0)
        return p <= 22 ? v * POW10[p] : v * POW10[22] * POW10[p - 22];
    p = -p;
    return p <= 22 ? v / POW10[p] : v / POW10[22] / POW10[p - 22];
}

static size_t by_printf(char *out, float v) {
    return (size_t)snprintf(out, SR_FLOAT_TEXT_MAX, "%.9g", (double)v);
}

size_t sr_float_text(char *out, float v) {
    double d = v;
    if (!isfinite(d))
        return by_printf(out, v);
    char *p = out;
    if (signbit(d)) {
        *p++ = '-';
        d = -d;
    }
    if (d == 0) {
        *p++ = '0';
        *p = '\0';
        return (size_t)(p - out);
    }
    /* d is in [2^(bin-1), 2^bin), so its decimal exponent is this or one more. */
    int bin;
    frexp(d, &bin);
    int exp10 = (int)floor((bin - 1) * 0.30102999566398120);
    double scaled = scale10(d, DIGITS - 1 - exp10);
    if (scaled >= 1e9) {
        exp10++;
        scaled = scale10(d, DIGITS - 1 - exp10);
    }
    /* scaled is within 5e-7 of the exact d * 10^(8 - exp10) (below 1e9):
     * unless it is that near a tie, rounding it rounds the exact value. */
    double whole = floor(scaled), frac = scaled - whole;
    if (fabs(frac - 0.5) < 1e-6)
        return by_printf(out, v);
    uint32_t m = (uint32_t)whole + (frac > 0.5);
    if (m >= 1000000000u) { /* 9.999999995 rounds up to 10.0000000 */
        m = 100000000u;
        exp10++;
    }
    char digits[DIGITS];
    for (int k = DIGITS - 1; k >= 0; k--) {
        digits[k] = (char)('0' + m % 10);
        m /= 10;
    }
    int n = DIGITS; /* %g drops trailing zeros */
    while (n > 1 && digits[n - 1] == '0') n--;

    if (exp10 < -4 || exp10 >= DIGITS) {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            for (int k = 1; k < n; k++) *p++ = digits[k];
        }
        *p++ = 'e';
        *p++ = exp10 < 0 ? '-' : '+';
        int x = exp10 < 0 ? -exp10 : exp10; /* below 46: always two digits */
        *p++ = (char)('0' + x / 10);
        *p++ = (char)('0' + x % 10);
    } else if (exp10 >= 0) {
        for (int k = 0; k <= exp10; k++) *p++ = digits[k];
        if (n > exp10 + 1) {
            *p++ = '.';
            for (int k = exp10 + 1; k < n; k++) *p++ = digits[k];
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int k = 0; k < -exp10 - 1; k++) *p++ = '0';
        for (int k = 0; k < n; k++) *p++ = digits[k];
    }
    *p = '\0';
    return (size_t)(p - out);
}

size_t sr_u64_text(char *out, uint64_t v) {
    char reversed[20];
    size_t n = 0;
    do {
        reversed[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = reversed[n - 1 - i];
    return n;
}
