/*
 * fuzz_common.h
 *		Shared by the libFuzzer targets in test/fuzz/: an assertion that
 *		stays on in every build and says what broke, and small helpers.
 *
 * A target checks invariants, not only "does not crash": a failed
 * FUZZ_ASSERT aborts, libFuzzer saves the input as a crash artifact, and
 * scripts/fuzz.sh counts the target as failed.
 */
#ifndef CDC_FUZZ_COMMON_H
#define CDC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
					__FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* A NUL-terminated heap copy of data[0..size) (ASan sees any overrun). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);

	FUZZ_ASSERT(s != NULL);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Is s[0..len) valid UTF-8 (shortest forms, no surrogates, up to U+10FFFF)?
 * Written independently of the code under test, as a reference.
 */
static inline bool
fuzz_valid_utf8(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n;
		uint32_t	cp;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4, cp = c & 0x07;
		else
			return false;
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

#endif
