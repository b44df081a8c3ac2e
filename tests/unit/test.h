/* Common includes for cmocka unit tests (cmocka needs these before its header). */
#ifndef KP_TEST_H
#define KP_TEST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#endif
