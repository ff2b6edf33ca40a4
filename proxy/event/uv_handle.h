// UvHandle<T>: the one way gatehouse holds a libuv handle.
//
// The uv struct lives on the heap, never inside a C++ object, because libuv keeps using it until
// the close callback runs, which is after the owner may be gone. close() is idempotent: it clears
// handle->data (so trampolines that fire late see no owner) and hands the struct to uv_close(),
// whose callback frees it. The owner can therefore be destroyed at any time, even from inside a
// callback of the same handle.
//
// Thread: the loop thread that initialised the handle.
#pragma once

#include <uv.h>

#include <utility>

namespace gatehouse::event {

template <class T>
class UvHandle final {
 public:
  UvHandle() : handle_(new T{}) {}
  ~UvHandle() { close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)),
        initialised_(std::exchange(other.initialised_, false)) {}
  // Closes the current handle (as close() does) and takes `other`'s.
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, nullptr);
      initialised_ = std::exchange(other.initialised_, false);
    }
    return *this;
  }

  T* get() const { return handle_; }
  T* operator->() const { return handle_; }
  uv_handle_t* asHandle() const { return reinterpret_cast<uv_handle_t*>(handle_); }
  uv_stream_t* asStream() const { return reinterpret_cast<uv_stream_t*>(handle_); }

  // Call after a successful uv_*_init(); until then close() just frees the struct.
  void markInitialised() { initialised_ = true; }
  bool closed() const { return handle_ == nullptr; }
  bool initialised() const { return handle_ != nullptr && initialised_; }

  // For APIs that close the handle themselves (uv_tcp_close_reset): the caller has arranged for
  // the struct to be freed by that API's close callback.
  void release() { handle_ = nullptr; }

  void close() {
    if (handle_ == nullptr) return;
    T* h = std::exchange(handle_, nullptr);
    if (!initialised_) {
      delete h;
      return;
    }
    auto* base = reinterpret_cast<uv_handle_t*>(h);
    base->data = nullptr;
    if (uv_is_closing(base) == 0) {
      uv_close(base, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    }
  }

 private:
  T* handle_;
  bool initialised_ = false;
};

}  // namespace gatehouse::event
