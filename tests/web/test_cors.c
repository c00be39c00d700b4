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

    /* The cookie publish's rule: listed exactly; "*" lists nothing. */
    CHECK(cors_listed(list, "https://app.example"));
    CHECK(cors_listed(list, "http://127.0.0.2:9000"));
    CHECK(!cors_listed(list, "http://127.0.0.2"));
    CHECK(!cors_listed(list, "https://app.example.evil"));
    CHECK(!cors_listed(list, "null"));
    CHECK(!cors_listed(list, NULL));
    CHECK(!cors_listed(any, "https://anyone.example"));
    CHECK(!cors_listed(NULL, "https://app.example"));

    static const struct {
        const char *url, *origin; /* origin NULL: not an http(s) URL */
    } urls[] = {
        {"https://App.Example/orders?id=1#top", "https://app.example"},
        {"https://app.example", "https://app.example"},
        {"https://app.example?x", "https://app.example"},
        {"https://app.example:443/", "https://app.example"},
        {"http://app.example:80/", "http://app.example"},
        {"http://app.example:443/", "http://app.example:443"},
        {"https://app.example:8443/", "https://app.example:8443"},
        {"http://h:180/", "http://h:180"},
        {"http://[::1]:8080/x", "http://[::1]:8080"},
        {"https:///path", NULL},
        {"ftp://app.example/", NULL},
        {"app.example/", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char out[64];
        bool ok = cors_origin_of(urls[i].url, out, sizeof out);
        CHECK_EQ(ok, urls[i].origin != NULL);
        if (ok && urls[i].origin)
            CHECK_STR(out, urls[i].origin);
    }
    char tiny[8];
    CHECK(!cors_origin_of("https://long.example/", tiny, sizeof tiny));
    cors_free(list);
    cors_free(any);
    cors_free(NULL);
    return CHECK_DONE();
}
