/* escape: JSON string content and printable excerpts of raw input. */
#include "check.h"
#include "web/escape.h"

#include <string.h>

int main(void)
{
    char out[64];
    CHECK_EQ(escape_json(out, sizeof out, "plain"), 5);
    CHECK_STR(out, "plain");
    escape_json(out, sizeof out, "a\"b\\c\nd\x1b\x7f");
    CHECK_STR(out, "a\\\"b\\\\c\\u000ad\\u001b\\u007f");
    escape_json(out, sizeof out, "caf\xc3\xa9");
    CHECK_STR(out, "caf\\ufffd\\ufffd");
    /* Cut only between whole escapes. */
    char small[8];
    CHECK_EQ(escape_json(small, sizeof small, "abcd\nef"), 4);
    CHECK_STR(small, "abcd");
    CHECK_EQ(escape_json(small, 1, "x"), 0);
    CHECK_STR(small, "");

    CHECK_STR(escape_printable(out, sizeof out, "x\ny", 3, 40), "x\\x0ay");
    CHECK_STR(escape_printable(out, sizeof out, "a\0b\\", 4, 40), "a\\x00b\\x5c");
    CHECK_STR(escape_printable(out, sizeof out, "abcdef", 6, 3), "abc...");
    CHECK_STR(escape_printable(out, sizeof out, "\xff", 1, 40), "\\xff");
    CHECK_STR(escape_printable(small, sizeof small, "ab\ncd", 5, 40), "ab\\x0ac");
    return CHECK_DONE();
}
