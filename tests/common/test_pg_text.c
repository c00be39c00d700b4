/* Table-driven tests of pg_text: libpq messages as one log line, text[] literals. */
#include "check.h"
#include "common/pg_text.h"

#include <stdbool.h>
#include <stdlib.h>

static void test_one_line(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "plain"},
        {"ends with a newline\n", "ends with a newline"},
        {"connection to server failed: Connection refused\n\tIs the server running?\n",
         "connection to server failed: Connection refused Is the server running?"},
        {"ERROR:  relation \"x\" does not exist\nLINE 1: SELECT 1\n",
         "ERROR: relation \"x\" does not exist LINE 1: SELECT 1"},
        {"crlf\r\nline\r\n", "crlf line"},
        {"  \t leading and trailing \t ", "leading and trailing"},
        {"bell\athen escape\x1b[31mred\x7f", "bell then escape [31mred"},
        {"vertical\vand\fform feed", "vertical and form feed"},
        {"utf-8 stays: é ✓", "utf-8 stays: é ✓"},
        {"\n\t \r", "unknown error"},
        {"", "unknown error"},
        {NULL, "unknown error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = pg_text_one_line(cases[i].in);
        CHECK_STR(got, cases[i].want);
        bool clean = true;
        for (const unsigned char *c = (const unsigned char *)got; *c; c++)
            clean = clean && *c >= ' ' && *c != 0x7f;
        CHECK(clean);
        free(got);
    }
}

static void test_array(void)
{
    static const struct {
        const char *items[4];
        size_t n;
        const char *want;
    } cases[] = {
        {{NULL}, 0, "{}"},
        {{"a"}, 1, "{\"a\"}"},
        {{"a", "b"}, 2, "{\"a\",\"b\"}"},
        {{""}, 1, "{\"\"}"},
        {{"say \"hi\""}, 1, "{\"say \\\"hi\\\"\"}"},
        {{"back\\slash", "\\"}, 2, "{\"back\\\\slash\",\"\\\\\"}"},
        {{"\\\""}, 1, "{\"\\\\\\\"\"}"},
        {{NULL}, 1, "{NULL}"},
        {{"NULL", NULL, "x"}, 3, "{\"NULL\",NULL,\"x\"}"},
        {{"{a,b}", " spaced "}, 2, "{\"{a,b}\",\" spaced \"}"},
        {{"two\nlines\ttab"}, 1, "{\"two\nlines\ttab\"}"},
        {{"é"}, 1, "{\"é\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = pg_text_array(cases[i].items, cases[i].n);
        CHECK_STR(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    test_one_line();
    test_array();
    return CHECK_DONE();
}
