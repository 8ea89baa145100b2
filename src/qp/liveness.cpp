#include "buddy/qp/liveness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "buddy/base/clock.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/error.hpp"

namespace buddy::qp {

namespace {

// What liveness needs of /proc/<pid>/stat: field 3 (state) and field 22 (start time).
struct ProcStat {
  bool ok = false;
  char state = 0;
  std::uint64_t start_time = 0;
};

ProcStat read_proc_stat(std::int64_t pid) noexcept {
  // "<pid>/stat" relative to an fd of /proc, not "/proc/<pid>/stat": an emulator running this
  // process (qemu-user: an aarch64 engine on an x86 host, docs/dpu.md) answers the absolute path
  // of its own pid with a stat of its making whose start time is not the kernel's, and the peer
  // on the other ISA, reading the kernel's, would take this process for a reused pid.
  char path[32];
  std::snprintf(path, sizeof path, "%lld/stat", static_cast<long long>(pid));
  const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return {};
  const int fd = ::openat(dir, path, O_RDONLY | O_CLOEXEC);
  ::close(dir);
  if (fd < 0) return {};
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return {};
  buf[n] = '\0';
  // Field 2 is the command in parentheses and may hold spaces and parentheses itself: the fields
  // that follow start after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return {};
  ++p;
  ProcStat st;
  for (int field = 3; *p != '\0'; ++field) {
    while (*p == ' ') ++p;
    if (*p == '\0') break;
    const char* tok = p;
    while (*p != ' ' && *p != '\0') ++p;
    if (field == 3) st.state = *tok;
    if (field == 22) {
      char* end = nullptr;
      st.start_time = std::strtoull(tok, &end, 10);
      st.ok = end == p;
      return st;
    }
  }
  return {};
}

std::chrono::nanoseconds age_since(std::uint64_t then) noexcept {
  const std::uint64_t now = base::monotonic_ns();
  return std::chrono::nanoseconds(now > then ? now - then : 0);
}

}  // namespace

const char* to_string(Side s) noexcept {
  return s == Side::creator ? "creator" : "attacher";
}

const char* to_string(ProcessState s) noexcept {
  switch (s) {
    case ProcessState::alive:
      return "alive";
    case ProcessState::gone:
      return "gone";
    case ProcessState::pid_reused:
      return "pid reused";
  }
  return "unknown";
}

std::uint64_t process_start_time(std::int64_t pid) noexcept {
  const ProcStat st = read_proc_stat(pid);
  return st.ok ? st.start_time : 0;
}

Holder this_process() noexcept {
  const std::int64_t pid = ::getpid();
  return {pid, process_start_time(pid)};
}

ProcessState check_process(const Holder& h) noexcept {
  if (h.pid <= 0) return ProcessState::gone;
  if (::kill(static_cast<pid_t>(h.pid), 0) != 0 && errno == ESRCH) return ProcessState::gone;
  const ProcStat st = read_proc_stat(h.pid);
  if (!st.ok) {
    // It exited between the two looks, or there is no /proc to ask (then the pid must do).
    return read_proc_stat(::getpid()).ok ? ProcessState::gone : ProcessState::alive;
  }
  if (st.state == 'Z' || st.state == 'X') return ProcessState::gone;
  if (h.start_time != 0 && st.start_time != h.start_time) return ProcessState::pid_reused;
  return ProcessState::alive;
}

Holder holder_of(const LivenessRecord& r) noexcept {
  for (;;) {
    const std::int64_t pid = r.pid.load(std::memory_order_acquire);
    if (pid <= 0) return {};
    const std::uint64_t start = r.start_time.load(std::memory_order_acquire);
    // The start time belongs to that pid only if no claim replaced it in between.
    if (r.pid.load(std::memory_order_acquire) == pid) return {pid, start};
  }
}

bool holder_alive(const LivenessRecord& r) noexcept {
  const std::int64_t pid = r.pid.load(std::memory_order_acquire);
  if (pid < 0) return check_process({-pid, 0}) == ProcessState::alive;  // claiming right now
  const Holder h = holder_of(r);
  return h.pid != 0 && check_process(h) == ProcessState::alive;
}

std::chrono::nanoseconds heartbeat_age(const LivenessRecord& r) noexcept {
  return age_since(r.heartbeat_ns.load(std::memory_order_acquire));
}

void beat(LivenessRecord& r, std::uint64_t monotonic_ns) noexcept {
  r.heartbeat_ns.store(monotonic_ns, std::memory_order_release);
}

AttachClaim::AttachClaim(AttachClaim&& o) noexcept
    : mine_(std::exchange(o.mine_, nullptr)),
      peer_(std::exchange(o.peer_, nullptr)),
      pid_(std::exchange(o.pid_, 0)),
      replaced_(o.replaced_) {}

AttachClaim& AttachClaim::operator=(AttachClaim&& o) noexcept {
  if (this != &o) {
    release();
    mine_ = std::exchange(o.mine_, nullptr);
    peer_ = std::exchange(o.peer_, nullptr);
    pid_ = std::exchange(o.pid_, 0);
    replaced_ = o.replaced_;
  }
  return *this;
}

AttachClaim AttachClaim::take(LivenessRecord& mine, const LivenessRecord& creator,
                              const std::string& segment) {
  const Holder me = this_process();
  // A claim in progress (pid < 0) completes within microseconds unless its process died in it.
  Backoff backoff(BackoffConfig{64, 16, 10, 1000});
  const std::uint64_t deadline = base::monotonic_ns() + 100'000'000ull;
  for (;;) {
    const std::int64_t seen = mine.pid.load(std::memory_order_acquire);
    Replaced replaced;
    if (seen != 0) {
      const std::int64_t pid = seen < 0 ? -seen : seen;
      const Holder h = seen < 0 ? Holder{pid, 0} : holder_of(mine);
      if (h.pid != pid) continue;  // replaced meanwhile: look again
      const ProcessState st = check_process(h);
      if (st == ProcessState::alive) {
        if (seen < 0 && base::monotonic_ns() < deadline) {
          backoff.pause();
          continue;
        }
        throw AlreadyAttached("segment '" + segment + "' is already attached by pid " +
                              std::to_string(pid) + (seen < 0 ? " (claiming it)" : "") +
                              ", which is alive; one attacher at a time");
      }
      replaced = {pid, st == ProcessState::pid_reused};
    }
    // Only one of several claimants replaces what they all saw; the others look again.
    std::int64_t expected = seen;
    if (!mine.pid.compare_exchange_strong(expected, -me.pid, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
      backoff.pause();
      continue;
    }
    mine.start_time.store(me.start_time, std::memory_order_release);
    mine.heartbeat_ns.store(base::monotonic_ns(), std::memory_order_release);
    mine.pid.store(me.pid, std::memory_order_release);
    return AttachClaim(&mine, &creator, me.pid, replaced);
  }
}

void AttachClaim::beat() noexcept {
  beat(base::monotonic_ns());
}

void AttachClaim::beat(std::uint64_t monotonic_ns) noexcept {
  if (mine_ != nullptr) qp::beat(*mine_, monotonic_ns);
}

bool AttachClaim::peer_alive() const noexcept {
  return peer_ != nullptr && holder_alive(*peer_);
}

std::chrono::nanoseconds AttachClaim::peer_heartbeat_age() const noexcept {
  return peer_ != nullptr ? heartbeat_age(*peer_) : std::chrono::nanoseconds::max();
}

void AttachClaim::release() noexcept {
  if (mine_ == nullptr) return;
  std::int64_t expected = pid_;
  // Only if it is still ours: a process that took us for dead may hold it now.
  mine_->pid.compare_exchange_strong(expected, 0, std::memory_order_acq_rel,
                                     std::memory_order_relaxed);
  mine_ = nullptr;
  peer_ = nullptr;
  pid_ = 0;
}

}  // namespace buddy::qp
