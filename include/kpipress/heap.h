/* Giving freed heap memory back to the system between the phases of a run, so that each
 * phase's peak memory is its own and not the sum of the phases before it. */
#ifndef KPIPRESS_HEAP_H
#define KPIPRESS_HEAP_H

/* Return the pages of freed heap blocks to the system. glibc keeps them resident (the
 * small blocks of SQLite's page cache; a sort's buffers, once an earlier large free has
 * raised its mmap threshold), so a phase would otherwise carry the peak of the one
 * before it. A walk of the free lists, about a millisecond; nothing elsewhere. */
void kp_heap_trim(void);

#endif
