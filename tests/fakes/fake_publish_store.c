#include "fakes/fake_publish_store.h"

#include <stdlib.h>
#include <string.h>

static enum publish_store_result publish(void *ctx, const struct publish_item *const *items,
                                         size_t n)
{
    struct fake_publish_store *s = ctx;
    pthread_mutex_lock(&s->mtx);
    if (s->calls < 1024)
        s->batch_sizes[s->calls] = n;
    s->calls++;
    enum publish_store_result r = PUBLISH_STORE_OK;
    if (s->down || s->fail_next > 0) {
        if (s->fail_next > 0)
            s->fail_next--;
        r = PUBLISH_STORE_FAILED;
    }
    for (size_t i = 0; r == PUBLISH_STORE_OK && i < n; i++)
        if (strcmp(items[i]->data, "BAD") == 0)
            r = PUBLISH_STORE_REJECTED;
    for (size_t i = 0; r == PUBLISH_STORE_OK && i < n && s->committed < FAKE_PUBLISH_MAX; i++)
        s->data[s->committed++] = strdup(items[i]->data);
    pthread_mutex_unlock(&s->mtx);
    return r;
}

void fake_publish_store_init(struct fake_publish_store *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mtx, NULL);
    s->ops = (struct publish_store_ops){.publish = publish, .ctx = s};
}

void fake_publish_store_clear(struct fake_publish_store *s)
{
    for (size_t i = 0; i < s->committed; i++)
        free(s->data[i]);
    pthread_mutex_destroy(&s->mtx);
}

void fake_publish_store_set_down(struct fake_publish_store *s, bool down)
{
    pthread_mutex_lock(&s->mtx);
    s->down = down;
    pthread_mutex_unlock(&s->mtx);
}

size_t fake_publish_store_committed(struct fake_publish_store *s)
{
    pthread_mutex_lock(&s->mtx);
    size_t n = s->committed;
    pthread_mutex_unlock(&s->mtx);
    return n;
}
