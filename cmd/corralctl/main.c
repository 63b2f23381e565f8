/* corralctl: kubectl-like client for Corral. All logic lives in cli/. */
#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv, stdout, stderr);
}
