#include "proxy/event/dispatcher.h"

#include <cstdio>
#include <cstdlib>

namespace gatehouse::event {

namespace {

class UvTimer final : public Timer {
 public:
  UvTimer(uv_loop_t* loop, std::function<void()> callback)
      : callback_(std::make_shared<std::function<void()>>(std::move(callback))) {
    if (uv_timer_init(loop, timer_.get()) == 0) {
      timer_.markInitialised();
      timer_->data = this;
    }
  }
  ~UvTimer() override { timer_.close(); }

  void enable(std::chrono::milliseconds delay) override {
    if (timer_.closed()) return;
    uv_timer_start(timer_.get(), &UvTimer::onTimer, static_cast<uint64_t>(delay.count()), 0);
  }
  void disable() override {
    if (!timer_.closed()) uv_timer_stop(timer_.get());
  }
  bool enabled() const override { return !timer_.closed() && uv_is_active(timer_.asHandle()) != 0; }

 private:
  static void onTimer(uv_timer_t* handle) noexcept {
    auto* self = static_cast<UvTimer*>(handle->data);
    if (self == nullptr) return;
    // The callback may destroy the timer (its owner going away): keep the callable, and what it
    // captured, alive until it returns. Nothing of self is used afterwards.
    std::shared_ptr<std::function<void()>> callback = self->callback_;
    (*callback)();
  }

  UvHandle<uv_timer_t> timer_;
  std::shared_ptr<std::function<void()>> callback_;
};

}  // namespace

UvDispatcher::UvDispatcher() : loop_(std::make_unique<uv_loop_t>()) {
  if (uv_loop_init(loop_.get()) != 0) {
    std::fprintf(stderr, "gatehouse: uv_loop_init failed\n");
    std::abort();  // no loop, no worker: nothing sensible to continue with
  }
  if (uv_async_init(loop_.get(), async_.get(), &UvDispatcher::onAsync) == 0) {
    async_.markInitialised();
    async_->data = this;
    // The async handle must not keep run() alive on its own.
    uv_unref(async_.asHandle());
  }
  if (uv_check_init(loop_.get(), delete_check_.get()) == 0) {
    delete_check_.markInitialised();
    delete_check_->data = this;
    uv_check_start(delete_check_.get(), &UvDispatcher::onDeleteCheck);
    uv_unref(delete_check_.asHandle());
  }
  if (uv_idle_init(loop_.get(), delete_idle_.get()) == 0) {
    delete_idle_.markInitialised();
    delete_idle_->data = this;
    uv_unref(delete_idle_.asHandle());
  }
}

UvDispatcher::~UvDispatcher() { shutdown(); }

TimerPtr UvDispatcher::createTimer(std::function<void()> callback) {
  return std::make_unique<UvTimer>(loop_.get(), std::move(callback));
}

void UvDispatcher::deferredDelete(std::unique_ptr<DeferredDeletable> object) {
  if (object == nullptr) return;
  deferred_.push_back(std::move(object));
  // Make sure the loop runs another iteration even if nothing else is pending: an active idle
  // handle makes the next poll return at once (on the loop thread, no syscall).
  if (!delete_idle_started_ && !delete_idle_.closed()) {
    uv_idle_start(delete_idle_.get(), &UvDispatcher::onDeleteIdle);
    delete_idle_started_ = true;
  }
}

void UvDispatcher::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (exiting_) return;
    posted_.push_back(std::move(fn));
  }
  if (!async_.closed()) uv_async_send(async_.get());
}

void UvDispatcher::onAsync(uv_async_t* handle) noexcept {
  auto* self = static_cast<UvDispatcher*>(handle->data);
  if (self == nullptr) return;
  self->drainPosted();
  self->drainDeferred();
}

void UvDispatcher::onDeleteCheck(uv_check_t* handle) noexcept {
  auto* self = static_cast<UvDispatcher*>(handle->data);
  if (self != nullptr) self->drainDeferred();
}

void UvDispatcher::onDeleteIdle(uv_idle_t* handle) noexcept {
  auto* self = static_cast<UvDispatcher*>(handle->data);
  if (self != nullptr) self->drainDeferred();
}

void UvDispatcher::drainPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void UvDispatcher::drainDeferred() {
  // Destructors may defer more objects; loop until none are left.
  while (!deferred_.empty()) {
    std::vector<std::unique_ptr<DeferredDeletable>> batch;
    batch.swap(deferred_);
    batch.clear();
  }
  if (delete_idle_started_ && !delete_idle_.closed()) {
    uv_idle_stop(delete_idle_.get());
    delete_idle_started_ = false;
  }
}

void UvDispatcher::run() {
  exit_requested_ = false;
  while (!exit_requested_) {
    // Keep running even when only unref'd handles remain, until exit() is called.
    uv_ref(async_.asHandle());
    uv_run(loop_.get(), UV_RUN_ONCE);
    drainDeferred();
  }
  uv_unref(async_.asHandle());
}

void UvDispatcher::runUntilIdle() {
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  drainPosted();
  drainDeferred();
}

void UvDispatcher::exit() {
  exit_requested_ = true;
  uv_stop(loop_.get());
  if (!async_.closed()) uv_async_send(async_.get());
}

int UvDispatcher::shutdown() {
  if (loop_ == nullptr) return 0;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    exiting_ = true;
    posted_.clear();
  }
  drainDeferred();
  async_.close();
  delete_check_.close();
  delete_idle_.close();
  // Let every close callback run (handles closed by their owners included). Bounded, so that a
  // handle somebody forgot to close fails loudly instead of hanging the process.
  for (int i = 0; i < 1000 && uv_loop_alive(loop_.get()) != 0; ++i) {
    uv_run(loop_.get(), UV_RUN_NOWAIT);
  }
  int rc = uv_loop_close(loop_.get());
  if (rc != 0) {
    uv_walk(
        loop_.get(),
        [](uv_handle_t* h, void*) {
          std::fprintf(stderr, "gatehouse: handle of type %s still open at shutdown\n",
                       uv_handle_type_name(uv_handle_get_type(h)));
          if (uv_is_closing(h) == 0) uv_close(h, nullptr);
        },
        nullptr);
    for (int i = 0; i < 1000 && uv_loop_alive(loop_.get()) != 0; ++i) {
      uv_run(loop_.get(), UV_RUN_NOWAIT);
    }
    // The leaked structs belong to their (leaking) owners; the loop itself can go.
    if (uv_loop_close(loop_.get()) != 0) (void)loop_.release();
    return rc;
  }
  loop_.reset();
  return rc;
}

}  // namespace gatehouse::event
