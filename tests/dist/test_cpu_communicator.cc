// The in-process communicator: sums in rank order with the same bits on every rank, gathers in
// rank order, and a rank that fails releases the others instead of leaving them waiting.
#include "engine/dist/cpu_communicator.h"

#include <atomic>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/dist/lockstep.h"

namespace ember {
namespace {

// Runs body(rank, comm) on one thread per rank and joins them.
template <class F>
void on_threads(std::vector<std::unique_ptr<Communicator>>& comms, F body) {
  std::vector<std::thread> ts;
  for (size_t r = 0; r < comms.size(); ++r)
    ts.emplace_back([&, r] { body(int(r), *comms[r]); });
  for (auto& t : ts) t.join();
}

TEST(CpuCommunicator, AllReduceSumsInRankOrderWithTheSameBitsEverywhere) {
  for (int world : {1, 2, 3, 4}) {
    auto comms = make_cpu_communicators(world);
    const size_t n = 1001;  // not a multiple of the world: the shares are uneven
    std::vector<std::vector<float>> bufs(size_t(world), std::vector<float>(size_t{n}));
    for (int r = 0; r < world; ++r)
      for (size_t i = 0; i < n; ++i)
        // Magnitudes far apart, so that another summation order gives other bits.
        bufs[size_t(r)][i] = (r % 2 ? 1e8f : 1.f) * float(int(i % 7) - 3) + 0.1f * float(r + 1);
    std::vector<float> expected(n);
    for (size_t i = 0; i < n; ++i) {
      float s = bufs[0][i];
      for (int r = 1; r < world; ++r) s += bufs[size_t(r)][i];
      expected[i] = s;
    }
    for (int rep = 0; rep < 3; ++rep) {  // the group serves collective after collective
      auto in = bufs;
      on_threads(comms, [&](int r, Communicator& c) {
        EXPECT_EQ(c.rank(), r);
        EXPECT_EQ(c.world(), world);
        c.all_reduce_sum(in[size_t(r)].data(), DType::F32, n);
      });
      for (int r = 0; r < world; ++r)
        EXPECT_EQ(0, std::memcmp(in[size_t(r)].data(), expected.data(), n * 4))
            << "world " << world << " rank " << r;
    }
  }
}

TEST(CpuCommunicator, AllReduceOfBf16RoundsTheFp32SumOnce) {
  auto comms = make_cpu_communicators(3);
  const float vals[3] = {1.0f, 1.0f / 256, 1.0f / 256};  // bf16 has 8 bits of mantissa
  std::vector<std::vector<uint16_t>> b(3, std::vector<uint16_t>(5));
  for (int r = 0; r < 3; ++r)
    for (auto& x : b[size_t(r)]) x = f32_to_bf16(vals[r]);
  on_threads(comms, [&](int r, Communicator& c) {
    c.all_reduce_sum(b[size_t(r)].data(), DType::BF16, 5);
  });
  // 1 + 2^-8 + 2^-8 = 1 + 2^-7 exactly in bf16; summing in bf16 step by step would give 1.
  for (int r = 0; r < 3; ++r)
    for (uint16_t x : b[size_t(r)]) EXPECT_EQ(bf16_to_f32(x), 1.0f + 1.0f / 128);
}

TEST(CpuCommunicator, AllGatherConcatenatesInRankOrder) {
  auto comms = make_cpu_communicators(3);
  std::vector<std::vector<int32_t>> out(3, std::vector<int32_t>(6, -1));
  on_threads(comms, [&](int r, Communicator& c) {
    const int32_t mine[2] = {10 * r, 10 * r + 1};
    c.all_gather(mine, out[size_t(r)].data(), sizeof(mine));
  });
  for (int r = 0; r < 3; ++r) EXPECT_EQ(out[size_t(r)], (std::vector<int32_t>{0, 1, 10, 11, 20, 21}));
}

TEST(CpuCommunicator, RejectsOtherDtypes) {
  auto comms = make_cpu_communicators(1);
  int32_t x = 1;
  EXPECT_THROW(comms[0]->all_reduce_sum(&x, DType::I32, 1), Error);
}

// Rank 1 fails before its all_reduce while ranks 0 and 2 wait in it: the step ends on every
// rank with rank 1's error, nothing hangs, and the group serves the next step.
TEST(Lockstep, ARankThatThrowsStopsTheStepAndTheNextStepRuns) {
  auto comms = make_cpu_communicators(3);
  Lockstep threads(3, {}, [&] {
    for (auto& c : comms) c->abort();
  });
  std::atomic<int> released{0};
  try {
    threads.run([&](int r) {
      if (r == 1) throw Error("rank 1: out of memory");
      float x = 1;
      try {
        comms[size_t(r)]->all_reduce_sum(&x, DType::F32, 1);
      } catch (const Error&) {
        ++released;
        throw;
      }
    });
    ADD_FAILURE() << "the failed step returned";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank 1: out of memory");
  }
  EXPECT_EQ(released.load(), 2);
  for (auto& c : comms) c->recover();
  std::vector<float> x(3);
  threads.run([&](int r) {
    x[size_t(r)] = float(r + 1);
    comms[size_t(r)]->all_reduce_sum(&x[size_t(r)], DType::F32, 1);
  });
  EXPECT_EQ(x, (std::vector<float>{6, 6, 6}));
}

TEST(Lockstep, AnInitFailureFailsEveryJob) {
  Lockstep threads(2, [](int r) {
    if (r == 1) throw Error("rank 1: no device");
  }, {});
  EXPECT_THROW(threads.run([](int) {}), Error);
  EXPECT_THROW(threads.run([](int) {}), Error);
}

}  // namespace
}  // namespace ember
