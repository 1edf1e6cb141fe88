#pragma once
// Host allocator tuning for training loops. Every step allocates and frees the same large activation
// buffers; glibc's defaults hand buffers above its mmap threshold back to the kernel, so each step pays
// hundreds of thousands of page faults (measured on bench/step: 544k faults per run, 17% system time).
// Keeping freed memory in the heap removes most of them.
namespace bipeft {

/// Keeps freed large blocks in the process heap (glibc: no mmap for big blocks, no trimming).
/// Returns false where the C library offers no such control. Call once, before the first big allocation.
bool keep_freed_host_memory();

}  // namespace bipeft
