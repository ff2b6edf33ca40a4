// Client-side TLS over a net::TcpConnection, with OpenSSL memory BIOs: the git path's upstream
// (HTTPS to github.com, a GitHub Enterprise host, or a test server).
//
// TlsClientContext is one SSL_CTX: the system trust store plus an optional extra CA file,
// SSL_VERIFY_PEER, TLS 1.2 minimum, ALPN "http/1.1", renegotiation refused. It is immutable after
// create() and shared (shared_ptr, like the config snapshots) by every worker thread.
//
// TlsClientStream runs the handshake on an already connected TCP connection, verifies the peer
// certificate for `host` (DNS name, or the IP address when `host` is an IP literal; SNI only for
// names) and then carries plaintext both ways. No plaintext byte is written before the handshake
// completed and verification passed: write() returns false until onTlsConnected() has run. This
// is what lets the git path write a token only to the configured host.
//
// Backpressure: write() encrypts at once and queues the records on the TCP connection, so the
// stream holds no plaintext of its own; the watermarks and queuedBytes() are the TCP write
// queue's (ciphertext bytes). stopReading() stops delivering plaintext and stops reading TCP;
// startReading() resumes, delivering anything already received from the loop, never inline.
//
// Errors are short fixed texts ("certificate verify failed for host x: hostname mismatch",
// "tls protocol error: wrong version number", "tcp error: connection reset by peer"): OpenSSL's
// reason strings and our own host, never bytes the peer supplied.
//
// Lifetime (STYLE "libuv lifetime"): the stream owns the TCP connection and may be destroyed at
// any time, also inside any of its callbacks. Callbacks never run inline from a method call
// (the constructor included): they run from TCP callbacks or from a zero-delay timer of the
// dispatcher. After onTlsError(), or after close(), no callback runs any more.
//
// Threading: the loop thread of `dispatcher`, which must be the loop of the TCP connection.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/event/dispatcher.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::tls {

struct TlsClientOptions {
  // "" = the system trust store only; otherwise this PEM file is trusted in addition to it.
  std::string ca_file;
};

// One SSL_CTX. Any thread: create() once (main thread, start or reload), then get() from every
// worker; OpenSSL allows SSL_new() on a shared, no longer modified SSL_CTX from many threads.
class TlsClientContext final {
 public:
  // nullptr and *error (one line, no secrets) if the context cannot be built, e.g. the CA file
  // does not exist or holds no certificate.
  static std::shared_ptr<TlsClientContext> create(const TlsClientOptions& options,
                                                  std::string* error);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsClientContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class TlsClientStream final : private net::TcpConnection::Callbacks {
 public:
  // Every callback runs on the loop thread and may destroy the stream.
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // The handshake completed and the certificate was verified for the host: write() works.
    virtual void onTlsConnected(TlsClientStream& stream) = 0;
    // Plaintext from the peer; `data` is only valid during the call.
    virtual void onTlsData(TlsClientStream& stream, const char* data, size_t len) = 0;
    // The peer finished sending: close_notify (cleanShutdown() true) or a TCP FIN without one
    // (false; a truncation the caller must judge, e.g. by Content-Length; libuv also reports a
    // reset that arrives together with data as a FIN). Runs at most once, only after
    // onTlsConnected() and after every byte before it was delivered. Writing may go on until
    // shutdown() or close().
    virtual void onTlsEndOfStream(TlsClientStream& stream) = 0;
    // Handshake or verification failure, TCP error or reset, protocol error: the stream is
    // unusable (its TCP connection is already closed). Runs at most once.
    virtual void onTlsError(TlsClientStream& stream, std::string_view reason) = 0;
    // The TCP write queue fell to the low watermark after having reached the high one.
    virtual void onTlsWritable(TlsClientStream& stream) = 0;
  };

  // `tcp` must be connected, on `dispatcher`'s loop; the stream takes it over (its callbacks
  // included) and starts the handshake at once. Plaintext is delivered as soon as it arrives
  // unless stopReading() was called. A failure to even start (no connection, an empty host) is
  // reported by onTlsError() from the loop.
  TlsClientStream(event::Dispatcher& dispatcher, std::shared_ptr<TlsClientContext> context,
                  std::unique_ptr<net::TcpConnection> tcp, std::string host, Callbacks* callbacks);
  ~TlsClientStream() override;
  TlsClientStream(const TlsClientStream&) = delete;
  TlsClientStream& operator=(const TlsClientStream&) = delete;

  // Encrypts and queues `plaintext`. false (nothing written) before onTlsConnected(), after
  // shutdown(), close() or an error; a failure here is also reported by onTlsError() from the
  // loop.
  bool write(std::string_view plaintext);
  // The TCP write queue (ciphertext), for backpressure: stop writing while above the high
  // watermark, onTlsWritable() fires when it drains to the low one.
  size_t queuedBytes() const;
  bool aboveHighWatermark() const;
  void setWatermarks(size_t low, size_t high);

  // Backpressure on the plaintext delivered. The handshake itself goes on while stopped.
  void startReading();
  void stopReading();
  bool reading() const { return reading_; }

  // Sends close_notify after the queued bytes, then the TCP FIN. Reading goes on (the peer's
  // answer and its close_notify still arrive). Before onTlsConnected() it is close().
  void shutdown();
  // Closes now; queued bytes may be lost. No callback runs afterwards.
  void close();

  bool connected() const { return state_ == State::kOpen; }
  bool cleanShutdown() const { return clean_shutdown_; }
  const std::string& host() const { return host_; }
  // The negotiated ALPN protocol ("http/1.1"), "" if the server chose none.
  std::string alpn() const;
  // "certificate verify failed: hostname mismatch" after a verification failure, else "".
  const std::string& verifyError() const { return verify_error_; }

 private:
  enum class State { kHandshaking, kOpen, kFailed, kClosed };

  // net::TcpConnection::Callbacks
  void onData(net::TcpConnection& conn, const char* data, size_t len) override;
  void onEndOfStream(net::TcpConnection& conn) override;
  void onError(net::TcpConnection& conn, int uv_status) override;
  void onWritable(net::TcpConnection& conn) override;

  // The constructor's work: set up the session, send the ClientHello.
  void begin();
  // Each returns false when the stream was destroyed, failed or closed meanwhile.
  bool advanceHandshake();
  bool deliverPlaintext();
  void process();
  void onKick();
  bool flushOutput();
  void updateTcpReading();
  // Closes the TCP connection and runs onTlsError() (last thing: it may destroy the stream).
  void fail(const std::string& reason);
  // The same from a method the owner called: the callback runs from the loop.
  void failLater(std::string reason);

  event::Dispatcher& dispatcher_;
  std::shared_ptr<TlsClientContext> context_;
  std::unique_ptr<net::TcpConnection> tcp_;
  std::string host_;
  Callbacks* callbacks_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_: ciphertext from the peer
  BIO* wbio_ = nullptr;  // owned by ssl_: ciphertext to the peer
  event::TimerPtr kick_;
  // Expires when the stream is destroyed: checked after every callback.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  State state_ = State::kHandshaking;
  std::string pending_error_;  // for failLater()
  std::string verify_error_;
  bool reading_ = true;
  bool shutdown_sent_ = false;
  bool tcp_eof_ = false;
  bool end_delivered_ = false;
  bool clean_shutdown_ = false;
};

}  // namespace gatehouse::tls
