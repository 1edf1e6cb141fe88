#include "bipeft/cli/run.h"

int main(int argc, char** argv) { return bipeft::cli::run(argc, argv); }
