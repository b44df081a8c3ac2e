/* kp_heap_trim: malloc_trim where the C library has it (glibc), nothing elsewhere. The
 * one place that knows about the allocator. */
#include "kpipress/heap.h"

#include <stdlib.h> /* any C library header: defines __GLIBC__ under glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

void kp_heap_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
