// The dispatcher: timers, cross-thread post, deferred delete, and no leaked handle at the end.
#include "proxy/event/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace gatehouse::event {
namespace {

TEST(Dispatcher, TimerFiresOnceAndNotAfterDisable) {
  UvDispatcher d;
  int fired = 0;
  int disabled_fired = 0;
  TimerPtr t = d.createTimer([&] {
    ++fired;
    d.exit();
  });
  TimerPtr never = d.createTimer([&] { ++disabled_fired; });
  never->enable(std::chrono::milliseconds(1));
  never->disable();
  EXPECT_FALSE(never->enabled());
  t->enable(std::chrono::milliseconds(5));
  EXPECT_TRUE(t->enabled());
  d.run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(disabled_fired, 0);
  t.reset();
  never.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(Dispatcher, DestroyingATimerInsideItsCallbackIsSafe) {
  UvDispatcher d;
  TimerPtr t;
  int fired = 0;
  t = d.createTimer([&] {
    ++fired;
    t.reset();  // the owner goes away inside the callback
    d.exit();
  });
  t->enable(std::chrono::milliseconds(0));
  d.run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(d.shutdown(), 0);
}

TEST(Dispatcher, PostFromAnotherThreadRunsOnTheLoop) {
  UvDispatcher d;
  std::atomic<int> ran{0};
  std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id ran_on;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) {
      d.post([&] {
        ran_on = std::this_thread::get_id();
        if (++ran == 100) d.exit();
      });
    }
  });
  d.run();
  other.join();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(ran_on, loop_thread);
  EXPECT_EQ(d.shutdown(), 0);
}

struct Tracked : DeferredDeletable {
  explicit Tracked(bool& destroyed) : destroyed_(destroyed) {}
  ~Tracked() override { destroyed_ = true; }
  bool& destroyed_;
};

TEST(Dispatcher, DeferredDeleteWaitsForTheCurrentCallback) {
  UvDispatcher d;
  bool destroyed = false;
  bool destroyed_inside = true;
  TimerPtr t = d.createTimer([&] {
    d.deferredDelete(std::make_unique<Tracked>(destroyed));
    destroyed_inside = destroyed;  // still alive while the callback runs
    d.post([&] { d.exit(); });
  });
  t->enable(std::chrono::milliseconds(0));
  d.run();
  EXPECT_FALSE(destroyed_inside);
  EXPECT_TRUE(destroyed);
  t.reset();
  EXPECT_EQ(d.shutdown(), 0);
}

}  // namespace
}  // namespace gatehouse::event
