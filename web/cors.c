/*
 * cors: the list of allowed origins and the per-request decision. Origins
 * are compared exactly (scheme, host and port, as browsers serialise them),
 * with a trailing slash in the configuration forgiven. "*" allows any origin
 * but never with credentials: browsers reject that combination, and a
 * wildcard that shared cookies would hand every site the user's session.
 */
#include "web/cors.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cors {
    char **origins; /* lower-cased, no trailing slash */
    size_t n;
    bool any; /* "*" */
};

static char *normalise(const char *s, size_t len)
{
    while (len && (s[0] == ' ' || s[0] == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '/'))
        len--;
    char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    out[len] = '\0';
    return out;
}

struct cors *cors_new(const char *list, const char **err)
{
    *err = NULL;
    if (!list || !*list)
        return NULL;
    struct cors *c = xcalloc(1, sizeof *c);
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *o = normalise(p, len);
        if (strcmp(o, "*") == 0) {
            c->any = true;
            free(o);
        } else if (!*o || (strncmp(o, "http://", 7) != 0 && strncmp(o, "https://", 8) != 0) ||
                   strchr(strstr(o, "//") + 2, '/')) {
            free(o);
            *err = "each origin is scheme://host[:port], or * for any";
            goto fail;
        } else {
            c->origins = xrealloc(c->origins, (c->n + 1) * sizeof *c->origins);
            c->origins[c->n++] = o;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return c;
fail:
    cors_free(c);
    return NULL;
}

void cors_free(struct cors *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c);
}

/* Is origin "<scheme>://<host>" for the Host header? Browsers send Origin on
 * same-origin POSTs too, and those must not need the list. */
static bool same_origin(const char *origin, const char *host)
{
    if (!host)
        return false;
    const char *sep = strstr(origin, "://");
    return sep && strcasecmp(sep + 3, host) == 0;
}

enum cors_verdict cors_check(const struct cors *c, const char *origin, const char *host,
                             const char **allow_origin, bool *credentials)
{
    *allow_origin = NULL;
    *credentials = false;
    if (!c || !origin || same_origin(origin, host))
        return CORS_NOT_CROSS;
    for (size_t i = 0; i < c->n; i++) {
        if (strcasecmp(c->origins[i], origin) == 0) {
            *allow_origin = origin;
            *credentials = true;
            return CORS_ALLOW;
        }
    }
    if (c->any) {
        *allow_origin = "*";
        return CORS_ALLOW;
    }
    return CORS_DENY;
}

bool cors_listed(const struct cors *c, const char *origin)
{
    if (!c || !origin)
        return false;
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return true;
    return false;
}

bool cors_origin_of(const char *url, char *out, size_t outlen)
{
    size_t scheme;
    if (strncasecmp(url, "https://", 8) == 0)
        scheme = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        scheme = 7;
    else
        return false;
    size_t end = scheme + strcspn(url + scheme, "/?#");
    if (end == scheme || end >= outlen)
        return false;
    for (size_t i = 0; i < end; i++)
        out[i] = (char)((url[i] >= 'A' && url[i] <= 'Z') ? url[i] + 32 : url[i]);
    out[end] = '\0';
    /* Browsers leave a default port out of Origin: compare like with like. */
    const char *dflt = scheme == 8 ? ":443" : ":80";
    size_t dlen = strlen(dflt);
    if (end - scheme > dlen && strcmp(out + end - dlen, dflt) == 0)
        out[end - dlen] = '\0';
    return true;
}
