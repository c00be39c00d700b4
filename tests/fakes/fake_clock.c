/* fake_clock: time moves only when the test moves it. */
#include "fakes/fake_clock.h"

static int64_t now_ms(void *ctx)
{
    return atomic_load(&((struct fake_clock *)ctx)->now_ms);
}

static int64_t wall_us(void *ctx)
{
    return now_ms(ctx) * 1000;
}

void fake_clock_init(struct fake_clock *fc, int64_t start_ms)
{
    atomic_init(&fc->now_ms, start_ms);
    fc->ops = (struct clock_ops){now_ms, wall_us, fc};
}

void fake_clock_advance(struct fake_clock *fc, int64_t ms)
{
    atomic_fetch_add(&fc->now_ms, ms);
}
