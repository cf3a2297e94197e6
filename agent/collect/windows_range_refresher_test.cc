// The range refresher with fake readers: one that hangs like a stuck WMI provider, one that
// answers. Runs on every OS (the refresher is OS-neutral).
#include "collect/windows_range_refresher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace portwatch::agent::win {
namespace {

using std::chrono::milliseconds;

TEST(RangeRefresher, AHungReadNeverBlocksASampleOrAStop) {
  // Shared with the reader, which outlives this test's frame while it hangs.
  auto release = std::make_shared<std::promise<void>>();
  auto entered = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::future<void> in_read = entered->get_future();
  auto refresher = std::make_unique<RangeRefresher>(
      [released, entered] {
        entered->set_value();  // called once: it does not return until released
        released.wait();
        DynamicPorts d;
        d.source = "wmi";
        return d;
      },
      milliseconds(1));
  in_read.wait();  // the read is in progress and hangs
  EXPECT_FALSE(refresher->Latest().has_value()) << "a sample gets no range, and does not wait";
  EXPECT_FALSE(refresher->WaitForFirst(milliseconds(20)));
  EXPECT_EQ(refresher->reads(), 0u);
  refresher->Stop();  // returns although the read still hangs
  refresher.reset();  // and the owner can go
  release->set_value();  // the stuck read ends later; its result is dropped
}

TEST(RangeRefresher, ReadsAtOnceThenAgainEveryInterval) {
  struct Shared {
    std::atomic<int> calls{0};
    std::promise<void> third;
  };
  auto shared = std::make_shared<Shared>();
  std::future<void> third = shared->third.get_future();
  RangeRefresher refresher(
      [shared] {
        const int n = ++shared->calls;
        if (n == 3) shared->third.set_value();
        DynamicPorts d;
        d.source = "netsh";
        d.tcp = {49152, static_cast<uint16_t>(65535 - n)};
        return d;
      },
      milliseconds(1));
  ASSERT_TRUE(refresher.WaitForFirst(milliseconds(10000)));
  ASSERT_TRUE(refresher.Latest().has_value());
  EXPECT_EQ(refresher.Latest()->source, "netsh");
  ASSERT_EQ(third.wait_for(milliseconds(10000)), std::future_status::ready)
      << "the range is read again every interval";
  EXPECT_GE(refresher.reads(), 2u);
  refresher.Stop();
  refresher.Stop();  // idempotent
}

}  // namespace
}  // namespace portwatch::agent::win
