/* Table-driven tests of the CORS decision (--cors-origin). */
#include "check.h"
#include "web/cors.h"

#include <stddef.h>
#include <string.h>

int main(void)
{
    const char *err;
    CHECK(cors_new(NULL, &err) == NULL && err == NULL);
    CHECK(cors_new("", &err) == NULL && err == NULL);
    CHECK(cors_new("app.example", &err) == NULL && err != NULL);
    CHECK(cors_new("https://a.example/path", &err) == NULL && err != NULL);
    CHECK(cors_new("https://a.example,,", &err) == NULL && err != NULL);

    struct cors *list = cors_new("https://App.example/, http://127.0.0.2:9000", &err);
    CHECK(list != NULL && err == NULL);
    struct cors *any = cors_new("*", &err);
    CHECK(any != NULL);

    static const struct {
        int which; /* 0 = off, 1 = list, 2 = any */
        const char *origin, *host;
        enum cors_verdict verdict;
        const char *allow;
        bool credentials;
    } cases[] = {
        {0, "https://evil.example", "gw:8080", CORS_NOT_CROSS, NULL, false},
        {1, NULL, "gw:8080", CORS_NOT_CROSS, NULL, false},
        {1, "http://gw:8080", "gw:8080", CORS_NOT_CROSS, NULL, false},
        {1, "https://app.example", "gw:8080", CORS_ALLOW, "https://app.example", true},
        {1, "https://APP.example", "gw:8080", CORS_ALLOW, "https://APP.example", true},
        {1, "http://127.0.0.2:9000", "127.0.0.1:8080", CORS_ALLOW, "http://127.0.0.2:9000", true},
        {1, "http://127.0.0.2:9001", "127.0.0.1:8080", CORS_DENY, NULL, false},
        {1, "https://app.example.evil", "gw", CORS_DENY, NULL, false},
        {1, "null", "gw", CORS_DENY, NULL, false},
        {2, "https://anyone.example", "gw", CORS_ALLOW, "*", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct cors *c = cases[i].which == 0 ? NULL : cases[i].which == 1 ? list : any;
        const char *allow;
        bool credentials;
        CHECK_EQ(cors_check(c, cases[i].origin, cases[i].host, &allow, &credentials),
                 cases[i].verdict);
        if (cases[i].allow)
            CHECK_STR(allow, cases[i].allow);
        else
            CHECK(allow == NULL);
        CHECK_EQ(credentials, cases[i].credentials);
    }
    cors_free(list);
    cors_free(any);
    cors_free(NULL);
    return CHECK_DONE();
}
