/*
 * proc_stats: this process's standard figures for /metrics, read from
 * /proc/self (Linux): CPU time, resident memory, open and allowed file
 * descriptors, start time. Any thread; each call reads afresh.
 */
#ifndef SSE_PROC_STATS_H
#define SSE_PROC_STATS_H

struct proc_stats {
    double cpu_seconds; /* user + system */
    double resident_bytes;
    double open_fds;
    double max_fds;    /* the soft RLIMIT_NOFILE */
    double start_time; /* seconds since the epoch */
};

/* Fills *out. 0, or -1 when /proc could not be read (the fields read so far
 * stay, the others are -1). */
int proc_stats_read(struct proc_stats *out);

#endif
