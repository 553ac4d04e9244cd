#ifndef PFLOW_CPREFETCH_H
#define PFLOW_CPREFETCH_H

/* Swift has no prefetch intrinsic; this header gives the flow table one.
   A hint only: it never faults, whatever the address. */
static inline __attribute__((always_inline)) void pflow_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
