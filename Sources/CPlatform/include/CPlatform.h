#ifndef PFLOW_CPLATFORM_H
#define PFLOW_CPLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Two things Swift can't reach directly: a prefetch hint, and mremap
   (variadic in C, so not imported). */

/* A hint only: it never faults, whatever the address. */
static inline __attribute__((always_inline)) void pflow_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/* Grows an anonymous mapping, moving it if needed, without copying its
   pages (Linux). Returns NULL where that isn't possible. */
void *pflow_remap(void *address, size_t old_size, size_t new_size);


/* SHA-1 with the CPU's SHA extensions (x86-64 SHA-NI), for the Community
   ID: 1 if this CPU has them (and SSSE3/SSE4.1), else 0. */
int pflow_sha1_hardware(void);

/* One SHA-1 block (FIPS 180-4 6.1.2) given as its 16 message words (the
   big-endian words, as integers) into the 5-word state. Only where
   pflow_sha1_hardware() says 1. */
void pflow_sha1_compress(uint32_t state[5], const uint32_t words[16]);

/* Sends `count` datagrams (at most 64; each one iovec) on a connected
   socket in one call: sendmmsg(2) on Linux, which Swift's Glibc module
   leaves out (it needs _GNU_SOURCE). Returns how many were sent (> 0), or
   -1 with errno for the first; where sendmmsg is missing, one send. */
struct iovec;
int pflow_send_datagrams(int fd, const struct iovec *datagrams, unsigned count);

/* Opens `path` for writing from empty, as open(path, flags | O_CREAT |
   O_TRUNC, 0644) does, and returns its descriptor (or -1 with errno).
   Truncating a big file that is on disk frees its blocks before open
   returns, and where the file system discards freed blocks (ext4 mounted
   with `discard`) that waits on the device: 15-30 ms for a 27 MB CSV here.
   So, once pflow_replace_big_outputs(1) has been called, a big (1 MiB or
   more) regular file with one link, this user's owner and group, and no
   extended attributes is replaced instead: its name is unlinked, a new
   file with the same permissions is made in its place, and the old
   contents are let go on a thread of their own, while the caller goes on.
   Anything else is truncated in place. */
int pflow_open_replacing(const char *path, int flags);

/* Turns that replacing on (1) or off (0, the default). The command turns
   it on when it reads files; live capture leaves it off, since an output
   written as packets arrive may be watched (`tail -f` follows a file
   that is truncated, not one that is replaced). */
void pflow_replace_big_outputs(int on);

/* On a thread of its own, while the caller goes on: fsyncs and closes
   `sync_fd` (a directory whose entry changed), then closes `release_fd`
   (the last descriptor of a file just renamed over, whose blocks are freed
   then); either may be -1. Done here and now if no thread can be had;
   exit() waits for it to be done. */
void pflow_finish_later(int sync_fd, int release_fd);

#endif
