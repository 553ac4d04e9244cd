#ifndef PFLOW_CPLATFORM_H
#define PFLOW_CPLATFORM_H

#include <stddef.h>

/* Two things Swift can't reach directly: a prefetch hint, and mremap
   (variadic in C, so not imported). */

/* A hint only: it never faults, whatever the address. */
static inline __attribute__((always_inline)) void pflow_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/* Grows an anonymous mapping, moving it if needed, without copying its
   pages (Linux). Returns NULL where that isn't possible. */
void *pflow_remap(void *address, size_t old_size, size_t new_size);

#endif
