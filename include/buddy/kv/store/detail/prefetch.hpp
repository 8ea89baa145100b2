// Software prefetch that the optimiser cannot drop. GCC 12 at -O3 deleted whole loops made only
// of __builtin_prefetch calls (the batch's "prefetch the items" stage), so the x86-64 and AArch64
// forms are volatile asm; other targets fall back to the builtin.
#pragma once

namespace buddy::kv::detail {

inline void prefetch(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

}  // namespace buddy::kv::detail
