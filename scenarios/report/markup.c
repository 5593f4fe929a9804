/*
 * markup.c - escaping text for XML, SVG and HTML.
 */
#include <stdbool.h>
#include <string.h>

#include "markup.h"

void markup_text_n(FILE *f, const char *s, size_t n)
{
	size_t len = strlen(s);
	bool cut = len > n;
	if (cut)
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* not inside a UTF-8 sequence */
	for (size_t i = 0; i < (cut ? n : len); i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			fputc(c < 0x20 && c != '\t' && c != '\n' ? '?' : c, f);
		}
	}
	if (cut)
		fputs("...", f);
}

void markup_text(FILE *f, const char *s)
{
	markup_text_n(f, s, strlen(s));
}
