/* Registry error answers: the registry's own message out of a JSON error
 * body (Docker Hub's 429 text, several errors, junk), and how long to wait
 * before asking again (Retry-After seconds or date, backoff, the budget). */
#include "check.h"
#include "registry_status.h"

#include <string.h>

static void text_of(const char *body, const char *want)
{
        char out[128];
        registry_error_text(body, body ? strlen(body) : 0, out, sizeof(out));
        CHECK_STR(out, want);
}

int main(void)
{
        char small[8];

        text_of("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"You have reached your "
                "pull rate limit.\"}]}",
                "You have reached your pull rate limit.");
        text_of("{\"errors\":[{\"message\":\"a\"},{\"code\":\"X\"},{\"message\":\"b\"}]}", "a; b");
        /* Control characters from the network never reach the terminal. */
        text_of("{\"errors\":[{\"message\":\"bad\\u001b[31m\\nnews\"}]}", "bad?[31m?news");
        text_of("not json", "");
        text_of("{\"errors\":\"nope\"}", "");
        text_of("{\"errors\":[{\"message\":7}]}", "");
        text_of("", "");
        text_of(NULL, "");
        const char *long_one = "{\"errors\":[{\"message\":\"0123456789\"}]}";
        registry_error_text(long_one, strlen(long_one), small, sizeof(small));
        CHECK_STR(small, "0123456");

        time_t now = 1700000000;
        CHECK(registry_retry_delay("5", 2, 30, now) == 5);
        CHECK(registry_retry_delay("0", 2, 30, now) == 0);
        CHECK(registry_retry_delay("31", 2, 30, now) == -1); /* longer than the budget */
        CHECK(registry_retry_delay("3", 2, 2, now) == -1);
        /* None, or unreadable: 1 s, then 2 s. */
        CHECK(registry_retry_delay(NULL, 2, 30, now) == 1);
        CHECK(registry_retry_delay("", 3, 30, now) == 2);
        CHECK(registry_retry_delay("soon", 3, 30, now) == 2);
        CHECK(registry_retry_delay("-4", 2, 30, now) == 1);
        CHECK(registry_retry_delay("99999999999999999999", 2, 30, now) == 1);
        /* An HTTP date: relative to now; in the past means now. */
        CHECK(registry_retry_delay("Tue, 14 Nov 2023 22:13:30 GMT", 2, 30, now) == 10);
        CHECK(registry_retry_delay("Tue, 14 Nov 2023 22:00:00 GMT", 2, 30, now) == 0);
        CHECK(registry_retry_delay("Wed, 15 Nov 2023 22:13:20 GMT", 2, 30, now) == -1);
        CHECK_DONE();
}
