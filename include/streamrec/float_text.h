/* streamrec float_text: numbers as the text printf gives them, without
 * printf -- a float as "%.9g" gives it, and an unsigned integer in decimal.
 *
 * Nine significant digits read back (strtof, or strtod then a cast to
 * float) as exactly the same float, which is why the Redis sink writes
 * scores this way. printf spends ~200 ns on one such number (format-string
 * parsing, stream set-up, multi-precision rounding): with 20 scores per
 * recommendation list that was two thirds of the sink thread at 100,000
 * events/s. Here the rounding is done in double precision, which decides it
 * for all but values that land within a millionth of a unit of a rounding
 * tie; those few, and infinities and NaNs, still go to snprintf, so the
 * text is always byte for byte what printf("%.9g") prints in the C locale.
 *
 * Pure functions, any thread. */
#ifndef STREAMREC_FLOAT_TEXT_H
#define STREAMREC_FLOAT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* "-1.17549435e-38": 15 characters is the longest, plus the NUL. */
#define SR_FLOAT_TEXT_MAX 16

/* Writes v's text and a NUL into out (SR_FLOAT_TEXT_MAX bytes); returns
 * the text's length. */
size_t sr_float_text(char *out, float v);

/* Writes v in decimal (at most 20 digits, no NUL) at out; returns the
 * number of digits. */
size_t sr_u64_text(char *out, uint64_t v);

#endif
