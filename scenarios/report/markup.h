/*
 * markup.h - text into XML, SVG and HTML: what the reports share.
 */
#ifndef SCENARIOS_REPORT_MARKUP_H
#define SCENARIOS_REPORT_MARKUP_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes s as character data or an attribute value (quoted either way):
 * & < > " ' escaped; characters XML 1.0 cannot carry (controls other than
 * tab and newline) as '?'. markup_text_n() stops after n bytes, cutting
 * no UTF-8 sequence in two, and ends with "..." when it cut.
 */
void markup_text(FILE *f, const char *s);
void markup_text_n(FILE *f, const char *s, size_t n);

#endif
