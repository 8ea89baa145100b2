#include "buddy/kv/serving/processing_engine.hpp"

#include <chrono>
#include <stdexcept>

namespace buddy::kv::serving {

using namespace queue;

ProcessingEngine::ProcessingEngine(Store& store, std::vector<std::uint32_t> owned,
                                   WriteWindowConfig windows)
    : store_(store),
      owned_(std::move(owned)),
      local_(store.partition_count(), -1),
      windows_(windows) {
  if (owned_.empty()) throw std::invalid_argument("a processing engine needs a partition");
  for (std::size_t i = 0; i < owned_.size(); ++i) {
    if (owned_[i] >= local_.size() || !store.holds(owned_[i]) || local_[owned_[i]] != -1) {
      throw std::invalid_argument("bad or repeated partition for a processing engine");
    }
    local_[owned_[i]] = static_cast<std::int32_t>(i);
  }
}

void ProcessingEngine::run(Partition& p, std::span<const kv::Request> reqs,
                           std::span<const std::uint32_t> index, std::span<PeResult> out,
                           ValueArena& arena) {
  p.execute(reqs, [&](std::size_t i, kv::Status st, std::string_view value) {
    PeResult& r = out[index.empty() ? i : index[i]];
    r.status = queue::to_wire(st);
    if (st == kv::Status::ok && !value.empty()) {
      r.value_off = arena.append(value);
      r.value_len = static_cast<std::uint32_t>(value.size());
    } else {
      r.value_len = 0;
    }
  });
}

void ProcessingEngine::execute(std::span<const kv::Request> reqs, std::span<PeResult> out,
                               ValueArena& arena) {
  bool sequenced = false;
  for (const auto& q : reqs) sequenced |= q.client != 0;
  if (!sequenced) {
    execute_all(reqs, out, arena);
    return;
  }
  windows_.begin_batch(std::chrono::steady_clock::now());
  marked_.clear();
  dups_.clear();
  keep_.clear();
  for (std::uint32_t i = 0; i < reqs.size(); ++i) {
    const kv::Request& q = reqs[i];
    if (q.client == 0 || q.op == kv::Op::get) {
      keep_.push_back(i);
      continue;
    }
    const auto c = windows_.check(q.client, q.seq, q.hash);
    switch (c.verdict) {
      case WriteWindows::Verdict::apply:
        marked_.push_back({c.entry, i});
        keep_.push_back(i);
        break;
      case WriteWindows::Verdict::unprotected:
        keep_.push_back(i);
        break;
      case WriteWindows::Verdict::replay:
      case WriteWindows::Verdict::superseded:
      case WriteWindows::Verdict::too_old:
        out[i] = PeResult{c.status, 0, 0};
        replayed_ += c.verdict == WriteWindows::Verdict::replay;
        superseded_ += c.verdict == WriteWindows::Verdict::superseded;
        break;
      case WriteWindows::Verdict::in_batch:
        for (const Marked& m : marked_) {
          if (m.entry == c.entry) dups_.emplace_back(i, m.index);
        }
        break;
    }
  }
  if (keep_.size() == reqs.size()) {
    execute_all(reqs, out, arena);
  } else if (!keep_.empty()) {
    kept_.clear();
    for (std::uint32_t i : keep_) kept_.push_back(reqs[i]);
    kept_out_.assign(kept_.size(), PeResult{});
    execute_all(kept_, kept_out_, arena);
    for (std::size_t k = 0; k < keep_.size(); ++k) out[keep_[k]] = kept_out_[k];
  }
  for (const Marked& m : marked_) WriteWindows::finish(m.entry, out[m.index].status);
  for (const auto& [copy, applied] : dups_) {
    out[copy] = PeResult{out[applied].status, 0, 0};
    ++replayed_;
  }
}

void ProcessingEngine::execute_all(std::span<const kv::Request> reqs, std::span<PeResult> out,
                                   ValueArena& arena) {
  if (reqs.empty()) return;
  if (owned_.size() == 1) {
    bool all_mine = true;
    for (const auto& q : reqs) all_mine &= store_.partition_of(q.hash) == owned_[0];
    if (all_mine) {
      run(store_.partition(owned_[0]), reqs, {}, out, arena);
      return;
    }
  }
  // Counting sort by local partition, stable, so each partition sees its requests in order. A
  // request of a partition this engine does not own (a CE on the other side of a queue pair must
  // not send one) is answered wrong_partition and never touches the store.
  const std::size_t parts = owned_.size();
  starts_.assign(parts + 1, 0);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const std::int32_t l = local_[store_.partition_of(reqs[i].hash)];
    if (l < 0) {
      out[i] = PeResult{wire::Status::wrong_partition, 0, 0};
      continue;
    }
    ++starts_[static_cast<std::size_t>(l) + 1];
  }
  for (std::size_t i = 1; i <= parts; ++i) starts_[i] += starts_[i - 1];
  grouped_.resize(reqs.size());
  order_.resize(reqs.size());
  fill_.assign(starts_.begin(), starts_.end() - 1);
  for (std::uint32_t i = 0; i < reqs.size(); ++i) {
    const std::int32_t l = local_[store_.partition_of(reqs[i].hash)];
    if (l < 0) continue;
    const auto slot = fill_[static_cast<std::size_t>(l)]++;
    grouped_[slot] = reqs[i];
    order_[slot] = i;
  }
  for (std::size_t l = 0; l < parts; ++l) {
    const std::size_t b = starts_[l], e = starts_[l + 1];
    if (b == e) continue;
    run(store_.partition(owned_[l]), std::span(grouped_).subspan(b, e - b),
        std::span<const std::uint32_t>(order_).subspan(b, e - b), out, arena);
  }
}

std::size_t serve_batch(ProcessingEngine& pe, queue::KvPeEnd& q, std::size_t max,
                        std::vector<PeResult>& results, ValueArena& arena) {
  const auto reqs = q.consume(max);
  if (!reqs.empty()) {
    results.assign(reqs.size(), PeResult{});
    arena.clear();
    pe.execute(reqs, results, arena);
    q.respond_n(results.size(), [&](std::size_t i) {
      const PeResult& r = results[i];
      return queue::KvAnswer{
          r.status, r.value_len == 0 ? std::string_view{} : arena.view(r.value_off, r.value_len)};
    });
  }
  q.publish();
  return reqs.size();
}

}  // namespace buddy::kv::serving
