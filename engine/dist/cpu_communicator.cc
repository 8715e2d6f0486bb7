#include "engine/dist/cpu_communicator.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include "engine/core/error.h"

namespace ember {

namespace {

struct Group {
  explicit Group(int n) : world(n), bufs(size_t(n)), outs(size_t(n)) {}
  const int world;
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;  // guarded by m
  // Written under m; also read without it by ranks that spin before they sleep.
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> aborted{false};
  // What each rank published for the collective in progress.
  std::vector<void*> bufs;
  std::vector<void*> outs;

  [[noreturn]] static void abandoned() {
    fail("tensor parallel: another rank failed; this step is abandoned");
  }

  void wait_all() {
    std::unique_lock lk(m);
    if (aborted) abandoned();
    const uint64_t gen = generation.load();
    if (++arrived == world) {
      arrived = 0;
      generation.store(gen + 1);
      cv.notify_all();
      return;
    }
    // A step meets here dozens of times, each a few microseconds apart: yielding a while
    // before sleeping saves a futex wake-up per barrier and costs little where ranks share
    // cores (the yield hands the core to the rank being waited for).
    lk.unlock();
    for (int i = 0; i < kSpins; ++i) {
      if (generation.load() != gen) return;
      if (aborted.load()) abandoned();
      std::this_thread::yield();
    }
    lk.lock();
    cv.wait(lk, [&] { return generation.load() != gen || aborted.load(); });
    if (generation.load() == gen) abandoned();
  }
  void abort() {
    std::lock_guard lk(m);
    aborted = true;
    cv.notify_all();
  }
  void recover() {
    std::lock_guard lk(m);
    aborted = false;
    arrived = 0;
  }
  static constexpr int kSpins = 200;
};

// Elements [b, e) of the share `rank` computes: contiguous, the last share the remainder.
void share(size_t count, int world, int rank, size_t& b, size_t& e) {
  b = count * size_t(rank) / size_t(world);
  e = count * size_t(rank + 1) / size_t(world);
}

class CpuCommunicator final : public Communicator {
 public:
  CpuCommunicator(std::shared_ptr<Group> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int world() const override { return g_->world; }

  void all_reduce_sum(void* data, DType dtype, size_t count) override {
    if (dtype != DType::F32 && dtype != DType::BF16)
      fail("tensor parallel: all_reduce of {} (F32 or BF16 only)", dtype_name(dtype));
    Group& g = *g_;
    g.bufs[size_t(rank_)] = data;
    g.wait_all();
    // Rank r reduces its share of the elements and writes the sum into every rank's buffer:
    // only rank r touches those elements, so no scratch and no further copy are needed.
    size_t b = 0, e = 0;
    share(count, g.world, rank_, b, e);
    if (dtype == DType::F32) {
      for (size_t i = b; i < e; ++i) {
        float s = static_cast<const float*>(g.bufs[0])[i];
        for (int r = 1; r < g.world; ++r) s += static_cast<const float*>(g.bufs[size_t(r)])[i];
        for (int r = 0; r < g.world; ++r) static_cast<float*>(g.bufs[size_t(r)])[i] = s;
      }
    } else {
      for (size_t i = b; i < e; ++i) {
        float s = bf16_to_f32(static_cast<const uint16_t*>(g.bufs[0])[i]);
        for (int r = 1; r < g.world; ++r)
          s += bf16_to_f32(static_cast<const uint16_t*>(g.bufs[size_t(r)])[i]);
        const uint16_t v = f32_to_bf16(s);
        for (int r = 0; r < g.world; ++r) static_cast<uint16_t*>(g.bufs[size_t(r)])[i] = v;
      }
    }
    g.wait_all();
  }

  void all_gather(const void* in, void* out, size_t bytes) override {
    Group& g = *g_;
    g.bufs[size_t(rank_)] = const_cast<void*>(in);
    g.outs[size_t(rank_)] = out;
    g.wait_all();
    for (int r = 0; r < g.world; ++r)
      if (bytes) std::memcpy(static_cast<uint8_t*>(g.outs[size_t(r)]) + bytes * size_t(rank_), in,
                             bytes);
    g.wait_all();
  }

  void abort() override { g_->abort(); }
  void recover() override { g_->recover(); }

 private:
  std::shared_ptr<Group> g_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_cpu_communicators(int world) {
  if (world < 1) fail("tensor parallel: a group of {} ranks", world);
  auto g = std::make_shared<Group>(world);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < world; ++r) out.push_back(std::make_unique<CpuCommunicator>(g, r));
  return out;
}

}  // namespace ember
