/* Lazy binding of the libpcap functions pflow uses: see CPcapLoader.h.
   Each stub has the signature pcap/pcap.h declares; when libpcap can't be
   loaded it fails the way libpcap itself reports failure (NULL, -1 or
   PCAP_ERROR, with the reason in errbuf where there is one), so callers
   need no second error path. The stubs are hidden: the executable does not
   export them, so libpcap's calls to its own functions stay its own. */
#include "CPcapLoader.h"
#include <pcap/pcap.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define HIDDEN __attribute__((visibility("hidden")))

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void *library;
static char load_error[256];

/* Every function, its type, in one list: declared, resolved, checked. */
#define PCAP_FUNCTIONS(X) \
    X(pcap_activate, int, (pcap_t *)) \
    X(pcap_breakloop, void, (pcap_t *)) \
    X(pcap_close, void, (pcap_t *)) \
    X(pcap_compile, int, (pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32)) \
    X(pcap_create, pcap_t *, (const char *, char *)) \
    X(pcap_datalink, int, (pcap_t *)) \
    X(pcap_dispatch, int, (pcap_t *, int, pcap_handler, u_char *)) \
    X(pcap_findalldevs, int, (pcap_if_t **, char *)) \
    X(pcap_freealldevs, void, (pcap_if_t *)) \
    X(pcap_freecode, void, (struct bpf_program *)) \
    X(pcap_get_selectable_fd, int, (pcap_t *)) \
    X(pcap_get_tstamp_precision, int, (pcap_t *)) \
    X(pcap_geterr, char *, (pcap_t *)) \
    X(pcap_lib_version, const char *, (void)) \
    X(pcap_offline_filter, int, (const struct bpf_program *, const struct pcap_pkthdr *, const u_char *)) \
    X(pcap_open_dead, pcap_t *, (int, int)) \
    X(pcap_set_buffer_size, int, (pcap_t *, int)) \
    X(pcap_set_promisc, int, (pcap_t *, int)) \
    X(pcap_set_snaplen, int, (pcap_t *, int)) \
    X(pcap_set_timeout, int, (pcap_t *, int)) \
    X(pcap_set_tstamp_precision, int, (pcap_t *, int)) \
    X(pcap_setfilter, int, (pcap_t *, struct bpf_program *)) \
    X(pcap_setnonblock, int, (pcap_t *, int, char *)) \
    X(pcap_stats, int, (pcap_t *, struct pcap_stat *)) \
    X(pcap_statustostr, const char *, (int))

#define POINTER(name, ret, args) static ret (*real_##name) args;
PCAP_FUNCTIONS(POINTER)

static void load(void) {
    /* The soname Debian's libpcap0.8 ships, then the upstream names. */
    static const char *const names[] = { "libpcap.so.0.8", "libpcap.so.1", "libpcap.so" };
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !library; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        /* The first name's reason is the one to tell. */
        const char *why = library ? NULL : dlerror();
        if (i == 0 && why) snprintf(load_error, sizeof load_error, "libpcap could not be loaded: %s", why);
    }
    if (!library) {
        if (!load_error[0]) snprintf(load_error, sizeof load_error, "libpcap could not be loaded");
        return;
    }
#define RESOLVE(name, ret, args) real_##name = (ret (*) args)dlsym(library, #name);
    PCAP_FUNCTIONS(RESOLVE)
    /* A libpcap too old to have one of them counts as none. */
#define CHECK(name, ret, args) \
    if (!real_##name) { \
        snprintf(load_error, sizeof load_error, "libpcap has no %s (version 1.5 or later is needed)", #name); \
        library = NULL; \
        return; \
    }
    PCAP_FUNCTIONS(CHECK)
}

int pflow_pcap_available(void) {
    pthread_once(&once, load);
    return library != NULL;
}

const char *pflow_pcap_load_error(void) {
    pthread_once(&once, load);
    return library ? NULL : load_error;
}

static void say_why(char *errbuf) {
    if (errbuf) snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", load_error);
}

HIDDEN int pcap_activate(pcap_t *p) { return pflow_pcap_available() ? real_pcap_activate(p) : PCAP_ERROR; }
HIDDEN void pcap_breakloop(pcap_t *p) { if (pflow_pcap_available()) real_pcap_breakloop(p); }
HIDDEN void pcap_close(pcap_t *p) { if (pflow_pcap_available()) real_pcap_close(p); }
HIDDEN int pcap_compile(pcap_t *p, struct bpf_program *fp, const char *str, int optimize, bpf_u_int32 netmask) {
    return pflow_pcap_available() ? real_pcap_compile(p, fp, str, optimize, netmask) : -1;
}
HIDDEN pcap_t *pcap_create(const char *source, char *errbuf) {
    if (pflow_pcap_available()) return real_pcap_create(source, errbuf);
    say_why(errbuf);
    return NULL;
}
HIDDEN int pcap_datalink(pcap_t *p) { return pflow_pcap_available() ? real_pcap_datalink(p) : PCAP_ERROR; }
HIDDEN int pcap_dispatch(pcap_t *p, int cnt, pcap_handler callback, u_char *user) {
    return pflow_pcap_available() ? real_pcap_dispatch(p, cnt, callback, user) : PCAP_ERROR;
}
HIDDEN int pcap_findalldevs(pcap_if_t **alldevsp, char *errbuf) {
    if (pflow_pcap_available()) return real_pcap_findalldevs(alldevsp, errbuf);
    if (alldevsp) *alldevsp = NULL;
    say_why(errbuf);
    return PCAP_ERROR;
}
HIDDEN void pcap_freealldevs(pcap_if_t *alldevs) { if (pflow_pcap_available()) real_pcap_freealldevs(alldevs); }
HIDDEN void pcap_freecode(struct bpf_program *fp) { if (pflow_pcap_available()) real_pcap_freecode(fp); }
HIDDEN int pcap_get_selectable_fd(pcap_t *p) { return pflow_pcap_available() ? real_pcap_get_selectable_fd(p) : -1; }
HIDDEN int pcap_get_tstamp_precision(pcap_t *p) {
    return pflow_pcap_available() ? real_pcap_get_tstamp_precision(p) : PCAP_TSTAMP_PRECISION_MICRO;
}
HIDDEN char *pcap_geterr(pcap_t *p) { return pflow_pcap_available() ? real_pcap_geterr(p) : load_error; }
HIDDEN const char *pcap_lib_version(void) {
    return pflow_pcap_available() ? real_pcap_lib_version() : load_error;
}
HIDDEN int pcap_offline_filter(const struct bpf_program *fp, const struct pcap_pkthdr *h, const u_char *pkt) {
    /* Only reached with a program compiled, so libpcap is loaded. */
    return real_pcap_offline_filter ? real_pcap_offline_filter(fp, h, pkt) : 0;
}
HIDDEN pcap_t *pcap_open_dead(int linktype, int snaplen) {
    return pflow_pcap_available() ? real_pcap_open_dead(linktype, snaplen) : NULL;
}
HIDDEN int pcap_set_buffer_size(pcap_t *p, int size) { return pflow_pcap_available() ? real_pcap_set_buffer_size(p, size) : PCAP_ERROR; }
HIDDEN int pcap_set_promisc(pcap_t *p, int on) { return pflow_pcap_available() ? real_pcap_set_promisc(p, on) : PCAP_ERROR; }
HIDDEN int pcap_set_snaplen(pcap_t *p, int snaplen) { return pflow_pcap_available() ? real_pcap_set_snaplen(p, snaplen) : PCAP_ERROR; }
HIDDEN int pcap_set_timeout(pcap_t *p, int ms) { return pflow_pcap_available() ? real_pcap_set_timeout(p, ms) : PCAP_ERROR; }
HIDDEN int pcap_set_tstamp_precision(pcap_t *p, int precision) {
    return pflow_pcap_available() ? real_pcap_set_tstamp_precision(p, precision) : PCAP_ERROR;
}
HIDDEN int pcap_setfilter(pcap_t *p, struct bpf_program *fp) { return pflow_pcap_available() ? real_pcap_setfilter(p, fp) : -1; }
HIDDEN int pcap_setnonblock(pcap_t *p, int nonblock, char *errbuf) {
    if (pflow_pcap_available()) return real_pcap_setnonblock(p, nonblock, errbuf);
    say_why(errbuf);
    return PCAP_ERROR;
}
HIDDEN int pcap_stats(pcap_t *p, struct pcap_stat *ps) { return pflow_pcap_available() ? real_pcap_stats(p, ps) : -1; }
HIDDEN const char *pcap_statustostr(int error) {
    return pflow_pcap_available() ? real_pcap_statustostr(error) : load_error;
}
