/* Table-driven tests of the ETag and the If-None-Match test. */
#include "check.h"
#include "web/etag.h"

#include <string.h>

int main(void)
{
    char a[ETAG_SIZE], b[ETAG_SIZE], c[ETAG_SIZE];
    etag_of("export function subscribe() {}", 30, a);
    etag_of("export function subscribe() {}", 30, b);
    etag_of("export function subscribe() {} ", 31, c);
    CHECK_EQ(strlen(a), (size_t)ETAG_SIZE - 1);
    CHECK(a[0] == '"' && a[ETAG_SIZE - 2] == '"');
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    etag_of("", 0, c);
    CHECK_STR(c, "\"cbf29ce484222325\""); /* FNV-1a's offset basis: nothing hashed */

    char list[80], weak[40];
    snprintf(list, sizeof list, "\"x\", %s", a);
    snprintf(weak, sizeof weak, "W/%s", a);
    static const char *const miss[] = {"", "\"x\"", "\"x\", \"y\"", "W/\"x\"", "\"", ",,"};
    const char *const hit[] = {a, list, weak, "*", " *"};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++)
        CHECK(!etag_matches(miss[i], a));
    for (size_t i = 0; i < sizeof hit / sizeof hit[0]; i++)
        CHECK(etag_matches(hit[i], a));
    CHECK(!etag_matches(NULL, a));
    return CHECK_DONE();
}
