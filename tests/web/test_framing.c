/* Table-driven tests of a request's framing: which header sets read one way
 * only, and the reason for each that does not. */
#include "check.h"
#include "web/framing.h"

#include <string.h>

int main(void)
{
    static const struct {
        const char *fields[4][2]; /* name, value; up to four, NULL-terminated */
        const char *why;          /* a substring of the reason; NULL: accepted */
    } cases[] = {
        {{{"Host", "x"}}, NULL},
        {{{"Content-Length", "12"}}, NULL},
        {{{"content-length", " 12\t"}}, NULL},
        {{{"Content-Length", "12"}, {"Content-Length", "012"}}, NULL},
        {{{"Transfer-Encoding", "chunked"}}, NULL},
        {{{"Transfer-Encoding", " Chunked "}}, NULL},
        {{{"Transfer-Encoding", "chunked"}, {"Content-Length", "4"}}, "both"},
        {{{"Content-Length", "4"}, {"transfer-encoding", "chunked"}}, "both"},
        {{{"Transfer-Encoding", ""}, {"Content-Length", "4"}}, "both"},
        {{{"Transfer-Encoding", "chunked"}, {"Content-Length", "x"}}, "both"},
        {{{"Content-Length", "2"}, {"Content-Length", "40"}}, "different Content-Lengths"},
        {{{"Content-Length", "2"}, {"Content-Length", "20"}}, "different Content-Lengths"},
        {{{"Content-Length", "2, 2"}}, "not a number"},
        {{{"Content-Length", "+2"}}, "not a number"},
        {{{"Content-Length", ""}}, "not a number"},
        {{{"Content-Length", "2"}, {"Content-Length", "abc"}}, "not a number"},
        {{{"Content-Length", "123456789012345678901234567890"}}, "not a number"},
        {{{"Transfer-Encoding", "gzip"}}, "other than chunked"},
        {{{"Transfer-Encoding", "gzip, chunked"}}, "other than chunked"},
        {{{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
         "other than chunked"},
        {{{"Transfer-Encoding ", "chunked"}, {"Content-Length", "2"}}, "space or a tab"},
        {{{"Content-Length\t", "2"}}, "space or a tab"},
        {{{"X Other", "1"}}, "space or a tab"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct framing f = {0};
        for (size_t k = 0; k < 4 && cases[i].fields[k][0]; k++)
            framing_add(&f, cases[i].fields[k][0], strlen(cases[i].fields[k][0]),
                        cases[i].fields[k][1], strlen(cases[i].fields[k][1]));
        const char *why = framing_verdict(&f);
        if (cases[i].why)
            CHECK(why && strstr(why, cases[i].why));
        else
            CHECK(why == NULL);
        if (cases[i].why ? !why || !strstr(why, cases[i].why) : why != NULL)
            fprintf(stderr, "  case %zu: %s\n", i, why ? why : "(accepted)");
    }
    return CHECK_DONE();
}
