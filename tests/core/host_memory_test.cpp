#include "bipeft/core/host_memory.h"

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

namespace bipeft {
namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates, touches and frees a 16 MiB block; returns the page faults that took.
long faults_for_block() {
  constexpr size_t kBytes = 16u << 20;
  const long before = minor_faults();
  auto* p = static_cast<char*>(std::malloc(kBytes));
  std::memset(p, 1, kBytes);
  volatile char sink = p[kBytes - 1];
  (void)sink;
  std::free(p);
  return minor_faults() - before;
}

#if defined(__GLIBC__)
TEST(HostMemory, FreedLargeBlocksAreReusedWithoutPageFaults) {
  ASSERT_TRUE(keep_freed_host_memory());
  faults_for_block();                    // first use maps the pages
  const long again = faults_for_block();  // the same block again: from the heap, already mapped
  // 16 MiB is 4096 pages; with glibc's defaults each reuse faults all of them in again.
  EXPECT_LT(again, 256) << "a freed 16 MiB block was returned to the kernel";
}
#endif

}  // namespace
}  // namespace bipeft
