#ifndef PFLOW_CPCAP_SHIM_H
#define PFLOW_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
