#ifndef PFLOW_CPCAPLOADER_H
#define PFLOW_CPCAPLOADER_H

/* libpcap is loaded when first used (dlopen), not when pflow starts: it
   brings nine libraries of its own (dbus, systemd, gcrypt, lzma, ...), and
   loading them cost every run ~1.7 ms, though only live capture and
   filter expressions need them. The pcap_* functions pflow calls are
   defined in pcap_loader.c with libpcap's own signatures (pcap/pcap.h),
   each handing the call on to libpcap's. */

/* 1 once libpcap is loaded (loading it now if it isn't yet), else 0. */
int pflow_pcap_available(void);

/* Why libpcap could not be loaded (dlerror's text), or NULL. */
const char *pflow_pcap_load_error(void);

#endif
