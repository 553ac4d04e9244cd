#ifndef PFLOW_CZLIB_SHIM_H
#define PFLOW_CZLIB_SHIM_H
#include <zlib.h>
#endif
