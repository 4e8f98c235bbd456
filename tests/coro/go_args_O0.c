/* go_args.c again, at -O0. */
#define GO_ARGS_O0 1
#include "go_args.c"
