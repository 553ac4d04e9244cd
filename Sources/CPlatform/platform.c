#define _GNU_SOURCE
#include "CPlatform.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Jobs started by pflow_detach and not yet done: exit() waits for them
   (an atexit handler), so a directory's fsync is never cut short by the
   process ending, and freeing a file only overlaps what comes before. */
static pthread_mutex_t pflow_jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pflow_jobs_done = PTHREAD_COND_INITIALIZER;
static int pflow_jobs_pending = 0;
static int pflow_jobs_waited = 0;

static void pflow_wait_for_jobs(void) {
    pthread_mutex_lock(&pflow_jobs_lock);
    while (pflow_jobs_pending > 0) pthread_cond_wait(&pflow_jobs_done, &pflow_jobs_lock);
    pthread_mutex_unlock(&pflow_jobs_lock);
}

struct pflow_job { void *(*body)(void *); void *argument; };

static void *pflow_run_job(void *job) {
    struct pflow_job j = *(struct pflow_job *)job;
    free(job);
    (void)j.body(j.argument);
    pthread_mutex_lock(&pflow_jobs_lock);
    pflow_jobs_pending -= 1;
    pthread_cond_broadcast(&pflow_jobs_done);
    pthread_mutex_unlock(&pflow_jobs_lock);
    return NULL;
}

/* Runs `body(argument)` on a detached thread with a small stack, or here
   when none can be started. */
static void pflow_detach(void *(*body)(void *), void *argument) {
    struct pflow_job *job = malloc(sizeof *job);
    int started = 0;
    if (job) {
        job->body = body;
        job->argument = argument;
        pthread_mutex_lock(&pflow_jobs_lock);
        if (!pflow_jobs_waited) pflow_jobs_waited = atexit(pflow_wait_for_jobs) == 0 ? 1 : -1;
        int waits = pflow_jobs_waited == 1;
        if (waits) pflow_jobs_pending += 1;
        pthread_mutex_unlock(&pflow_jobs_lock);
        pthread_t thread;
        pthread_attr_t attributes;
        if (waits && pthread_attr_init(&attributes) == 0) {
            pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attributes, 64 << 10);
            started = pthread_create(&thread, &attributes, pflow_run_job, job) == 0;
            pthread_attr_destroy(&attributes);
        }
        if (!started) {
            free(job);
            if (waits) {
                pthread_mutex_lock(&pflow_jobs_lock);
                pflow_jobs_pending -= 1;
                pthread_mutex_unlock(&pflow_jobs_lock);
            }
        }
    }
    if (!started) (void)body(argument);
}

/* The two descriptors packed in one pointer-sized word. */
static void *pflow_finish_pair(void *pair) {
    uint64_t both = (uint64_t)(uintptr_t)pair;
    int sync_fd = (int)(int32_t)(uint32_t)(both >> 32), release_fd = (int)(int32_t)(uint32_t)both;
    if (sync_fd >= 0) {
        (void)fsync(sync_fd);
        close(sync_fd);
    }
    if (release_fd >= 0) close(release_fd);
    return NULL;
}

void pflow_finish_later(int sync_fd, int release_fd) {
    if (sync_fd < 0 && release_fd < 0) return;
    uint64_t both = ((uint64_t)(uint32_t)sync_fd << 32) | (uint32_t)release_fd;
    pflow_detach(pflow_finish_pair, (void *)(uintptr_t)both);
}

static int pflow_replacing = 0;

void pflow_replace_big_outputs(int on) { __atomic_store_n(&pflow_replacing, on ? 1 : 0, __ATOMIC_RELAXED); }

int pflow_open_replacing(const char *path, int flags) {
    struct stat before;
    if (__atomic_load_n(&pflow_replacing, __ATOMIC_RELAXED) && lstat(path, &before) == 0 && S_ISREG(before.st_mode) && before.st_nlink == 1
        && before.st_uid == geteuid() && before.st_gid == getegid() && before.st_size >= (1 << 20)) {
        int old = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat opened;
        if (old >= 0 && fstat(old, &opened) == 0 && opened.st_dev == before.st_dev
            && opened.st_ino == before.st_ino && opened.st_nlink == 1 && flistxattr(old, NULL, 0) == 0
            && unlink(path) == 0) {
            int fd = open(path, flags | O_CREAT | O_EXCL, 0600);
            if (fd >= 0) {
                /* The old permissions exactly (open's mode goes through the umask). */
                (void)fchmod(fd, before.st_mode & 0777);
                pflow_finish_later(-1, old);
                return fd;
            }
        }
        if (old >= 0) {
            int saved = errno;
            close(old);
            errno = saved;
        }
    }
    return open(path, flags | O_CREAT | O_TRUNC, 0644);
}

void *pflow_remap(void *address, size_t old_size, size_t new_size) {
#ifdef __linux__
    void *moved = mremap(address, old_size, new_size, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? NULL : moved;
#else
    (void)address; (void)old_size; (void)new_size;
    return NULL;
#endif
}


#if defined(__x86_64__)
#include <immintrin.h>

int pflow_sha1_hardware(void) {
    /* The compiler runtime's CPUID table (valgrind's CPU reports no SHA, so
       under callgrind the Swift rounds run). */
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}

/* Four rounds; the round function and constant (the immediate) change
   every 20 rounds. */
__attribute__((target("sha,sse4.1,ssse3")))
static inline __m128i pflow_sha1_rounds4(__m128i abcd, __m128i e_and_words, int group) {
    switch (group / 5) {
    case 0: return _mm_sha1rnds4_epu32(abcd, e_and_words, 0);
    case 1: return _mm_sha1rnds4_epu32(abcd, e_and_words, 1);
    case 2: return _mm_sha1rnds4_epu32(abcd, e_and_words, 2);
    default: return _mm_sha1rnds4_epu32(abcd, e_and_words, 3);
    }
}

/* The instructions keep A, B, C, D in one register with A in the highest
   lane, E in the highest lane of another, and four message words a
   register with the earliest highest. Group g is rounds 4g..4g+3:
   - its words: groups 0-3 from the block; later ones from the four
     before it (sha1msg1 xors W[t-16] and W[t-14], the xor adds W[t-8],
     sha1msg2 adds W[t-3] and rotates);
   - its E: the block's E for group 0; after that E is A of four rounds
     earlier rotated by 30 (sha1nexte), added to the first word. */
__attribute__((target("sha,sse4.1,ssse3")))
void pflow_sha1_compress(uint32_t state[5], const uint32_t words[16]) {
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)state), 0x1B);
    __m128i e = _mm_set_epi32((int)state[4], 0, 0, 0);
    const __m128i abcd_in = abcd, e_in = e;
    __m128i w[4];
    __m128i before = abcd;  /* the state at the start of the previous group */
    for (int g = 0; g < 20; g++) {
        __m128i now;
        if (g < 4) {
            now = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(words + 4 * g)), 0x1B);
        } else {
            /* w[g & 3] holds group g-4, then g-3, g-2, g-1 around the ring. */
            now = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32(w[g & 3], w[(g + 1) & 3]), w[(g + 2) & 3]),
                                     w[(g + 3) & 3]);
        }
        w[g & 3] = now;
        __m128i e_words = g == 0 ? _mm_add_epi32(e, now) : _mm_sha1nexte_epu32(before, now);
        before = abcd;
        abcd = pflow_sha1_rounds4(abcd, e_words, g);
    }
    e = _mm_sha1nexte_epu32(before, e_in);
    abcd = _mm_add_epi32(abcd, abcd_in);
    _mm_storeu_si128((__m128i *)state, _mm_shuffle_epi32(abcd, 0x1B));
    state[4] = (uint32_t)_mm_extract_epi32(e, 3);
}
#else
int pflow_sha1_hardware(void) { return 0; }
void pflow_sha1_compress(uint32_t state[5], const uint32_t words[16]) { (void)state; (void)words; }
#endif

int pflow_send_datagrams(int fd, const struct iovec *datagrams, unsigned count) {
#ifdef __linux__
    struct mmsghdr headers[64];
    if (count > 64) count = 64;
    memset(headers, 0, sizeof headers[0] * count);
    for (unsigned i = 0; i < count; i++) {
        headers[i].msg_hdr.msg_iov = (struct iovec *)&datagrams[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    return sendmmsg(fd, headers, count, 0);
#else
    if (count == 0) return 0;
    return send(fd, datagrams[0].iov_base, datagrams[0].iov_len, 0) < 0 ? -1 : 1;
#endif
}
