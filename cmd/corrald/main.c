/* corrald: placeholder until its issue lands; prints usage. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: corrald [options]\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "corrald: not implemented yet (try --help)\n");
    return 2;
}
