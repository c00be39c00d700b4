/* Table-driven tests of the position grammar: what parses, to what, and
 * what is refused without touching the output. */
#include "check.h"
#include "protocol/position.h"

#include <string.h>

int main(void)
{
    static const struct {
        const char *text;
        int ok;
        int64_t want;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"0042", 0, 42},
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775808", -1, 0},
        {"18446744073709551615", -1, 0},
        {"0000000000000000001", 0, 1},
        {"00000000000000000001", -1, 0},
        {"", -1, 0},
        {"-1", -1, 0},
        {"+1", -1, 0},
        {" 1", -1, 0},
        {"1 ", -1, 0},
        {"12abc", -1, 0},
        {"1e3", -1, 0},
        {"0x10", -1, 0},
        {"pruned", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = -7;
        CHECK_EQ(position_parse(cases[i].text, strlen(cases[i].text), &got), cases[i].ok);
        CHECK_EQ(got, cases[i].ok == 0 ? cases[i].want : -7);
    }
    /* The length bounds the read: a NUL inside is a byte like any other. */
    int64_t got = -7;
    CHECK_EQ(position_parse("12\0"
                            "3",
                            4, &got),
             -1);
    CHECK_EQ(position_parse("123", 2, &got), 0);
    CHECK_EQ(got, 12);
    return CHECK_DONE();
}
