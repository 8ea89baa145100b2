#include "buddy/kv/wire/linked_transport.hpp"

#include <algorithm>
#include <cstring>

namespace buddy::kv::wire {

void LinkedTransport::Fifo::push(std::span<const std::byte> d) {
  if (count == bufs.size()) {  // full: grow, keeping the order from head
    std::rotate(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(head), bufs.end());
    head = 0;
    bufs.resize(std::max<std::size_t>(8, bufs.size() * 2));
  }
  std::vector<std::byte>& b = bufs[(head + count) % bufs.size()];
  b.assign(d.begin(), d.end());
  ++count;
}

std::size_t LinkedTransport::Fifo::pop(std::span<Datagram> out, Endpoint peer) {
  std::size_t n = 0;
  for (; n < out.size() && count > 0; ++n) {
    const std::vector<std::byte>& b = bufs[head];
    Datagram& d = out[n];
    const std::size_t len = std::min<std::size_t>(b.size(), d.capacity);
    std::memcpy(d.data, b.data(), len);
    d.size = b.size() > d.capacity ? d.capacity + 1 : static_cast<std::uint32_t>(len);
    d.peer = peer;
    head = (head + 1) % bufs.size();
    --count;
  }
  return n;
}

void LinkedTransport::deliver(std::span<const std::byte> datagram) {
  in_.push(datagram);
}

std::size_t LinkedTransport::take(std::span<Datagram> out) {
  return out_.pop(out, real_->local());
}

std::size_t LinkedTransport::recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) {
  if (in_.count > 0) return in_.pop(out, kLinkPeer);
  return real_->recv_burst(out, wait);
}

std::size_t LinkedTransport::send_burst(std::span<const Datagram> dgrams) {
  std::size_t sent = 0;
  std::size_t i = 0;
  while (i < dgrams.size()) {
    if (dgrams[i].peer == kLinkPeer) {
      out_.push({dgrams[i].data, dgrams[i].size});
      ++sent;
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < dgrams.size() && !(dgrams[j].peer == kLinkPeer)) ++j;
    const std::size_t n = real_->send_burst(dgrams.subspan(i, j - i));
    sent += n;
    if (n < j - i) return sent;  // the socket refused the rest (UDP: treated as lost)
    i = j;
  }
  return sent;
}

}  // namespace buddy::kv::wire
