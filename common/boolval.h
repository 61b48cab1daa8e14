/* The one truth table for boolean values the user gives us: environment
 * variables (SINGULARITY_CONTAIN=yes) and option values (recipe headers).
 * Case-insensitive:
 *   true:  1, yes, true, on
 *   false: 0, no, false, off, and the empty string
 * Anything else is an error, never a silent "off" or "on": "2", "enable",
 * " yes". (singularity.conf keeps its own stricter yes/no: it is the admin's
 * file and Singularity documents only those two words.) */
#ifndef SING_BOOLVAL_H
#define SING_BOOLVAL_H

#include <stdbool.h>

/* 0 and *out set, or -1 (*out untouched) for a value not in the table. */
int boolval_parse(const char *s, bool *out);

/* The accepted words, for messages and help text. */
#define BOOLVAL_WORDS "1/yes/true/on or 0/no/false/off"

#endif
