/*
 * proc_stats: /proc/self/stat gives CPU ticks, resident pages and the start
 * in ticks after boot; /proc/stat gives the boot time; /proc/self/fd lists
 * the open descriptors; getrlimit the allowed ones. Counting /proc/self/fd
 * walks one directory entry per socket: a few milliseconds at 20,000
 * connections, once per scrape.
 */
#include "common/proc_stats.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The fields of /proc/self/stat after the command name (which may hold
 * spaces and parentheses, so it ends at the last ')'): field 3 is index 0. */
#define STAT_UTIME     (14 - 3)
#define STAT_STIME     (15 - 3)
#define STAT_STARTTIME (22 - 3)
#define STAT_RSS       (24 - 3)

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n ? 0 : -1;
}

static double boot_time(void)
{
    char buf[8192];
    if (read_file("/proc/stat", buf, sizeof buf) != 0)
        return -1;
    const char *b = strstr(buf, "\nbtime ");
    return b ? strtod(b + 7, NULL) : -1;
}

static int read_stat(struct proc_stats *out)
{
    char buf[1024];
    if (read_file("/proc/self/stat", buf, sizeof buf) != 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long f[STAT_RSS + 1];
    int i = 0;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && i <= STAT_RSS;
         tok = strtok_r(NULL, " ", &save), i++)
        f[i] = strtoull(tok, NULL, 10); /* the state letter parses as 0: not used */
    if (i <= STAT_RSS)
        return -1;
    double tick = (double)sysconf(_SC_CLK_TCK), boot = boot_time();
    out->cpu_seconds = (double)(f[STAT_UTIME] + f[STAT_STIME]) / tick;
    out->resident_bytes = (double)f[STAT_RSS] * (double)sysconf(_SC_PAGESIZE);
    out->start_time = boot < 0 ? -1 : boot + (double)f[STAT_STARTTIME] / tick;
    return boot < 0 ? -1 : 0;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    double n = 0;
    int own = dirfd(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && atoi(e->d_name) != own) /* not the walk's own */
            n++;
    closedir(d);
    return n;
}

int proc_stats_read(struct proc_stats *out)
{
    *out = (struct proc_stats){-1, -1, -1, -1, -1};
    int rc = read_stat(out);
    out->open_fds = open_fds();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
    return rc == 0 && out->open_fds >= 0 && out->max_fds >= 0 ? 0 : -1;
}
