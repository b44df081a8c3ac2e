/* kp_heap_trim gives freed heap memory back: 16 MB of small blocks, freed below a block
 * still in use (so free() itself cannot shrink the heap), stay resident until the trim,
 * which must bring the resident size down by most of them. Under glibc's own allocator
 * only: elsewhere the function does nothing by design, and AddressSanitizer's allocator
 * keeps freed blocks in quarantine whatever is trimmed. */
#include "test.h"

#include "kpipress/heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define OWN_ALLOCATOR 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OWN_ALLOCATOR 0
#endif
#endif
#ifndef OWN_ALLOCATOR
#define OWN_ALLOCATOR 1
#endif

#define NBLOCKS 4096
#define BLOCK 4096 /* far below any mmap threshold: from the heap */

/* Resident set size in bytes, from /proc/self/statm (its second field, in pages). */
static long resident(void)
{
    long size = 0, res = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = -1;
        fclose(f);
    }
    return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
}

static void test_trim(void **state)
{
    (void)state;
#ifndef __GLIBC__
    skip();
#endif
    if (!OWN_ALLOCATOR || resident() < 0)
        skip(); /* no /proc */
    static char *blocks[NBLOCKS];
    for (int i = 0; i < NBLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        assert_non_null(blocks[i]);
        memset(blocks[i], i & 0xff, BLOCK); /* resident */
    }
    char *pin = malloc(64); /* above them: the heap cannot shrink from its top */
    assert_non_null(pin);
    long full = resident();
    for (int i = 0; i < NBLOCKS; i++)
        free(blocks[i]);
    long freed = resident();
    kp_heap_trim();
    long trimmed = resident();
    print_message("resident: %ld KB in use, %ld KB freed, %ld KB trimmed\n", full / 1024,
                  freed / 1024, trimmed / 1024);
    /* free() kept them (else this test proves nothing), the trim returned at least 12 of
     * the 16 MB */
    assert_true(freed > full - 4L * 1024 * 1024);
    assert_true(trimmed < freed - 12L * 1024 * 1024);
    free(pin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
