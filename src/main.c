/* kpipress command line: parses arguments, runs the stages, prints errors. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("kpipress %s\n", KP_VERSION);
        return 0;
    }
    fprintf(stderr, "kpipress: not yet wired\n");
    return 2;
}
