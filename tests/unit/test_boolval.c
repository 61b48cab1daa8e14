/* The truth table of common/boolval: every word, its case variants, and
 * values that must be refused rather than guessed. */
#include "boolval.h"

#include "check.h"

static void expect(const char *s, int rc, bool want)
{
        bool v = !want; /* so a parse that does not set it is caught */
        int got = boolval_parse(s, &v);
        if (got != rc || (rc == 0 && v != want)) {
                fprintf(stderr, "boolval_parse(\"%s\"): rc %d value %d, expected rc %d value %d\n",
                        s ? s : "(null)", got, v, rc, want);
                check_failures++;
        }
}

int main(void)
{
        static const char *const yes[] = {"1",    "yes",  "YES", "Yes", "true",
                                          "TRUE", "True", "on",  "ON",  "On"};
        static const char *const no[] = {"",      "0",     "no",  "NO",  "No", "false",
                                         "FALSE", "False", "off", "OFF", "Off"};
        static const char *const bad[] = {"2",       "-1",   "01",   "00",   "yess", "enable",
                                          "disable", " yes", "yes ", "no\n", "o",    "tru",
                                          "nope",    "none", "null", "1.0",  "0x1",  "+1",
                                          "y",       "n",    "t",    "f"};
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
                expect(yes[i], 0, true);
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
                expect(no[i], 0, false);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                expect(bad[i], -1, false);
                expect(bad[i], -1, true);
        }
        expect(NULL, -1, false);
        {
                bool v = true;
                CHECK(boolval_parse("maybe", &v) == -1 && v == true); /* untouched */
        }
        CHECK_DONE();
}
