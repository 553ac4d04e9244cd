/* CPrefetch is a header-only module (include/CPrefetch.h); a C target needs one source file. */
#include "CPrefetch.h"
