/*
 * build_info: what this binary is, compiled in at build time
 * (cmake/build_info.cmake): the version and the git revision, "unknown"
 * when built outside a git checkout, with "-dirty" when tracked files
 * differed from the commit. Constants; any thread.
 */
#ifndef SSE_BUILD_INFO_H
#define SSE_BUILD_INFO_H

extern const char build_info_version[];
extern const char build_info_revision[];

#endif
