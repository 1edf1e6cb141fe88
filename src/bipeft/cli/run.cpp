#include "bipeft/cli/run.h"

int bipeft::cli::run(int, char**) { return 0; }
