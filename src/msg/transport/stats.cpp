#include "buddy/msg/transport/stats.hpp"

#include <cstdio>

namespace buddy::msg {

stats& stats::operator+=(const stats& o) {
  base::add_fields(*this, o);
  return *this;
}

std::string stats::format(const std::string& label) const {
  char buf[1024];
  const double avg = buffers_flushed
                         ? static_cast<double>(bytes_flushed) / static_cast<double>(buffers_flushed)
                         : 0.0;
  std::snprintf(
      buf, sizeof buf,
      "buddy::msg stats (%s)\n"
      "  messages  sent %llu (%llu B)  executed %llu (%llu B)  relayed %llu (%llu B)\n"
      "  buffers   flushed to MPI %llu (avg %.0f B)  local %llu  received %llu  "
      "large %llu\n"
      "  waits     backpressure %llu  barriers %llu  termination rounds %llu\n"
      "  time      handlers %.3f s  communication %.3f s\n",
      label.c_str(), static_cast<unsigned long long>(msgs_sent),
      static_cast<unsigned long long>(bytes_sent), static_cast<unsigned long long>(msgs_executed),
      static_cast<unsigned long long>(bytes_executed),
      static_cast<unsigned long long>(msgs_relayed), static_cast<unsigned long long>(bytes_relayed),
      static_cast<unsigned long long>(buffers_flushed), avg,
      static_cast<unsigned long long>(buffers_local),
      static_cast<unsigned long long>(buffers_received),
      static_cast<unsigned long long>(large_sends),
      static_cast<unsigned long long>(backpressure_waits),
      static_cast<unsigned long long>(barriers),
      static_cast<unsigned long long>(termination_rounds), handler_s, comm_s);
  return buf;
}

}  // namespace buddy::msg
