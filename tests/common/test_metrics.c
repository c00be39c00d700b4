/*
 * Tests of the metrics text: sse_gateway_build_info carries the compiled-in
 * version and revision, and the process_* series read from /proc/self are
 * there and plausible for this very process (its own open files, memory,
 * start time and CPU).
 */
#include "check.h"
#include "common/build_info.h"
#include "common/metrics.h"
#include "common/proc_stats.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The value of the sample line "name value", or -1. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

int main(void)
{
    struct metrics m;
    metrics_init(&m);
    struct metrics_gauges g = {0};
    char *text = metrics_render(&m, &g);

    char want[256];
    snprintf(want, sizeof want, "\nsse_gateway_build_info{version=\"%s\",revision=\"%s\"} 1\n",
             build_info_version, build_info_revision);
    CHECK(strstr(text, want) != NULL);
    CHECK_STR(build_info_version, "0.1.0");
    CHECK(strlen(build_info_revision) >= 7); /* a hash, or "unknown" */
    CHECK(strstr(text, "# TYPE process_cpu_seconds_total counter\n") != NULL);
    CHECK(strstr(text, "# TYPE process_open_fds gauge\n") != NULL);

    double rss = sample(text, "process_resident_memory_bytes");
    CHECK(rss > 1e6 && rss < 1e11);
    double start = sample(text, "process_start_time_seconds");
    CHECK(start > (double)time(NULL) - 600 && start <= (double)time(NULL) + 1);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    CHECK_EQ(sample(text, "process_max_fds"), rl.rlim_cur);
    double cpu = sample(text, "process_cpu_seconds_total");
    CHECK(cpu >= 0 && cpu < 600);
    free(text);

    /* Opening ten files shows in open_fds; burning CPU shows in cpu_seconds. */
    struct proc_stats a, b;
    CHECK_EQ(proc_stats_read(&a), 0);
    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    volatile unsigned long spin = 0;
    do {
        for (int i = 0; i < 1000000; i++)
            spin += (unsigned long)i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    CHECK(spin > 0);
    CHECK_EQ(proc_stats_read(&b), 0);
    CHECK_EQ(b.open_fds - a.open_fds, 10);
    CHECK(b.cpu_seconds - a.cpu_seconds >= 0.2);
    CHECK_EQ(b.start_time, a.start_time);
    for (int i = 0; i < 10; i++)
        close(fds[i]);
    return CHECK_DONE();
}
