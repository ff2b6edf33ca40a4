// The event loop of one worker thread, and what runs on it.
//
// Threading: every method except post() is called on the loop thread. Callbacks never run
// inline: a timer or posted function runs from the loop, exactly once, and never after its
// Timer was destroyed or disabled.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "proxy/event/uv_handle.h"

namespace gatehouse::event {

using MonotonicTime = std::chrono::steady_clock::time_point;

// Objects whose destruction must wait until the current callback has returned.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

class Timer {
 public:
  virtual ~Timer() = default;
  // (Re)arms the timer; the callback runs once, `delay` from now, on the loop thread.
  virtual void enable(std::chrono::milliseconds delay) = 0;
  virtual void disable() = 0;
  virtual bool enabled() const = 0;
};
using TimerPtr = std::unique_ptr<Timer>;

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual uv_loop_t* loop() = 0;
  virtual TimerPtr createTimer(std::function<void()> callback) = 0;
  // Destroys `object` after the current loop iteration's callbacks have returned.
  virtual void deferredDelete(std::unique_ptr<DeferredDeletable> object) = 0;
  // Any thread: runs `fn` on the loop thread, soon. Functions posted after exit() are dropped.
  virtual void post(std::function<void()> fn) = 0;
  virtual MonotonicTime now() const = 0;
};

// The libuv implementation: owns its uv_loop_t.
class UvDispatcher final : public Dispatcher {
 public:
  UvDispatcher();
  ~UvDispatcher() override;
  UvDispatcher(const UvDispatcher&) = delete;
  UvDispatcher& operator=(const UvDispatcher&) = delete;

  uv_loop_t* loop() override { return loop_.get(); }
  TimerPtr createTimer(std::function<void()> callback) override;
  void deferredDelete(std::unique_ptr<DeferredDeletable> object) override;
  void post(std::function<void()> fn) override;
  MonotonicTime now() const override { return std::chrono::steady_clock::now(); }

  // Runs until exit() is called (or nothing is left to do when `until_idle`).
  void run();
  void runUntilIdle();
  // Loop thread: stops run() after the current iteration.
  void exit();
  // Closes the dispatcher's own handles and runs the loop until every handle is closed; returns
  // uv_loop_close()'s result (0 = no handle leaked).
  int shutdown();

 private:
  static void onAsync(uv_async_t* handle) noexcept;
  static void onDeleteCheck(uv_check_t* handle) noexcept;
  static void onDeleteIdle(uv_idle_t* handle) noexcept;
  void drainPosted();
  void drainDeferred();

  std::unique_ptr<uv_loop_t> loop_;
  UvHandle<uv_async_t> async_;
  UvHandle<uv_check_t> delete_check_;
  // Started while objects wait for deletion: the loop then polls without blocking and the check
  // handle deletes them in this iteration — no eventfd write and read per deletion.
  UvHandle<uv_idle_t> delete_idle_;
  bool delete_idle_started_ = false;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  bool exiting_ = false;         // guarded by posted_mutex_
  bool exit_requested_ = false;  // loop thread
  std::vector<std::unique_ptr<DeferredDeletable>> deferred_;
};

}  // namespace gatehouse::event
