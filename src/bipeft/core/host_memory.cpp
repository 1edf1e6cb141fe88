#include "bipeft/core/host_memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace bipeft {

bool keep_freed_host_memory() {
#if defined(__GLIBC__)
  // Blocks up to 32 MiB (glibc's largest allowed threshold) come from the heap, the heap is never
  // trimmed, and it grows in 256 MiB steps.
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, -1) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 256 << 20) == 1 && ok;
  return ok;
#else
  return false;
#endif
}

}  // namespace bipeft
