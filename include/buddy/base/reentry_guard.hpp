// Guards a section against being entered again from inside itself (a handler that polls while
// its own buffer is being processed): the first entry holds the flag until it returns.
#pragma once

namespace buddy::base {

class reentry_guard {
 public:
  explicit reentry_guard(bool& busy) noexcept : busy_(busy), entered_(!busy) { busy_ = true; }
  ~reentry_guard() {
    if (entered_) busy_ = false;
  }
  reentry_guard(const reentry_guard&) = delete;
  reentry_guard& operator=(const reentry_guard&) = delete;

  // False when the section was already running: the caller must leave at once.
  bool entered() const noexcept { return entered_; }

 private:
  bool& busy_;
  bool entered_;
};

}  // namespace buddy::base
