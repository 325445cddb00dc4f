/*
 * ntddk.h (ndis-rwlock): for driver code that includes <ntddk.h>. Everything this set of headers
 * provides for it is in wdm.h (and ntdef.h); see README.md ("Using it from C"). Written from
 * Microsoft's public documentation; not the WDK's header.
 */
#ifndef _NTDDK_
#define _NTDDK_

#include <wdm.h>

#endif /* _NTDDK_ */
