#include "proxy/tls/tls_client.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <system_error>
#include <utility>

#include "policy/ip.h"

namespace gatehouse::tls {

namespace {

// Plaintext is delivered from inside one loop callback at a time, so one buffer per loop thread
// serves every stream of that loop (16 KiB: one TLS record).
constexpr size_t kReadChunk = size_t{16} * 1024;
thread_local std::array<char, kReadChunk> tl_plaintext;

// SSL_write takes an int; larger writes go in slices.
constexpr size_t kWriteSlice = size_t{256} * 1024;

// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// OpenSSL's reason text for the oldest queued error, then the queue is emptied. Only the static
// reason string is used: the error's "data" part may hold peer-supplied text.
std::string takeErrorReason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
    // A failed system call (no such CA file): errno is the reason.
#ifdef ERR_SYSTEM_ERROR
  if (ERR_SYSTEM_ERROR(code)) return std::system_category().message(ERR_GET_REASON(code));
#endif
  if (ERR_GET_LIB(code) == ERR_LIB_SYS) {
    return std::system_category().message(ERR_GET_REASON(code));
  }
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr) return reason;
  return "error " + std::to_string(ERR_GET_REASON(code));
}

// "[::1]" -> "::1"; an IP literal is verified against the certificate's IP SANs.
std::string stripBrackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

// ---- TlsClientContext -------------------------------------------------------------------------

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<TlsClientContext> TlsClientContext::create(const TlsClientOptions& options,
                                                           std::string* error) {
  auto failed = [&](std::string what) -> std::shared_ptr<TlsClientContext> {
    if (error != nullptr) *error = std::move(what);
    return nullptr;
  };
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (raw == nullptr) return failed("tls: cannot create a context: " + takeErrorReason());
  // From here the context frees it.
  std::shared_ptr<TlsClientContext> context(new TlsClientContext(raw));

  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1) {
    return failed("tls: cannot require TLS 1.2: " + takeErrorReason());
  }
  // Renegotiation is refused (a HelloRequest is ignored); compression is off (CRIME).
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);

  ERR_clear_error();
  if (SSL_CTX_set_default_verify_paths(raw) != 1 && options.ca_file.empty()) {
    return failed("tls: cannot load the system trust store: " + takeErrorReason());
  }
  if (!options.ca_file.empty()) {
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(raw, options.ca_file.c_str(), nullptr) != 1) {
      return failed("tls: cannot load CA file " + options.ca_file + ": " + takeErrorReason());
    }
  }
  ERR_clear_error();
  // Returns 0 on success (unlike the rest of the API).
  if (SSL_CTX_set_alpn_protos(raw, kAlpn, sizeof kAlpn) != 0) {
    return failed("tls: cannot set ALPN: " + takeErrorReason());
  }
  ERR_clear_error();
  return context;
}

// ---- TlsClientStream --------------------------------------------------------------------------

TlsClientStream::TlsClientStream(event::Dispatcher& dispatcher,
                                 std::shared_ptr<TlsClientContext> context,
                                 std::unique_ptr<net::TcpConnection> tcp, std::string host,
                                 Callbacks* callbacks)
    : dispatcher_(dispatcher),
      context_(std::move(context)),
      tcp_(std::move(tcp)),
      host_(std::move(host)),
      callbacks_(callbacks) {
  kick_ = dispatcher_.createTimer([this] { onKick(); });
  begin();
}

void TlsClientStream::begin() {
  if (tcp_ == nullptr || tcp_->closed()) return failLater("tcp connection is not open");
  tcp_->setCallbacks(this);
  if (context_ == nullptr) return failLater("tls: no context");
  const std::string name = stripBrackets(host_);
  if (name.empty()) return failLater("tls: no host to verify");

  ERR_clear_error();
  ssl_ = SSL_new(context_->get());
  if (ssl_ == nullptr) return failLater("tls: cannot create a session: " + takeErrorReason());
  ERR_clear_error();
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (rbio_ == nullptr || wbio_ == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    return failLater("tls: out of memory");
  }
  // An empty read BIO means "wait for more", never EOF: TCP EOF is tracked separately.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_connect_state(ssl_);

  ERR_clear_error();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  if (policy::IpAddress::parse(name).has_value()) {
    // RFC 6066: no IP literal in SNI; the certificate must carry the address as an IP SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      return failLater("tls: cannot verify IP " + name);
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl_, name.c_str()) != 1 ||
        SSL_set1_host(ssl_, name.c_str()) != 1) {
      return failLater("tls: cannot verify host " + name);
    }
  }

  // The ClientHello. Nothing can have arrived yet, so this only writes.
  ERR_clear_error();
  int rc = SSL_connect(ssl_);
  if (rc != 1 && SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) {
    return failLater("tls: handshake failed: " + takeErrorReason());
  }
  ERR_clear_error();
  if (!flushOutput()) return failLater("tcp write failed");
  updateTcpReading();
}

TlsClientStream::~TlsClientStream() {
  alive_.reset();
  kick_.reset();
  if (tcp_ != nullptr) tcp_->close();
  // Frees both BIOs too.
  if (ssl_ != nullptr) SSL_free(ssl_);
}

std::string TlsClientStream::alpn() const {
  if (ssl_ == nullptr || state_ != State::kOpen) return "";
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  // OpenSSL refuses a protocol we did not offer, so this is one of ours, not arbitrary bytes.
  return data == nullptr ? "" : std::string(reinterpret_cast<const char*>(data), len);
}

size_t TlsClientStream::queuedBytes() const {
  return tcp_ != nullptr && !tcp_->closed() ? tcp_->queuedBytes() : 0;
}

bool TlsClientStream::aboveHighWatermark() const {
  return tcp_ != nullptr && !tcp_->closed() && tcp_->aboveHighWatermark();
}

void TlsClientStream::setWatermarks(size_t low, size_t high) {
  if (tcp_ != nullptr) tcp_->setWatermarks(low, high);
}

bool TlsClientStream::write(std::string_view plaintext) {
  if (state_ != State::kOpen || shutdown_sent_) return false;
  if (plaintext.empty()) return true;
  while (!plaintext.empty()) {
    const size_t slice = std::min(plaintext.size(), kWriteSlice);
    ERR_clear_error();
    int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(slice));
    if (n <= 0) {
      // A memory BIO never blocks, so anything but success is fatal.
      failLater("tls: write failed: " + takeErrorReason());
      return false;
    }
    plaintext.remove_prefix(static_cast<size_t>(n));
  }
  if (!flushOutput()) {
    failLater("tcp write failed");
    return false;
  }
  return true;
}

void TlsClientStream::startReading() {
  if (reading_) return;
  reading_ = true;
  if (state_ != State::kOpen) return;
  updateTcpReading();
  // Plaintext, a record or an end of stream may already be waiting: deliver it from the loop.
  kick_->enable(std::chrono::milliseconds(0));
}

void TlsClientStream::stopReading() {
  if (!reading_) return;
  reading_ = false;
  updateTcpReading();
}

void TlsClientStream::shutdown() {
  if (state_ == State::kHandshaking) return close();
  if (state_ != State::kOpen || shutdown_sent_) return;
  shutdown_sent_ = true;
  ERR_clear_error();
  // 0 = close_notify sent, the peer's not yet received: fine, reading goes on.
  if (SSL_shutdown(ssl_) < 0) {
    failLater("tls: shutdown failed: " + takeErrorReason());
    return;
  }
  ERR_clear_error();
  if (!flushOutput()) {
    failLater("tcp write failed");
    return;
  }
  tcp_->shutdownWrite();
}

void TlsClientStream::close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  pending_error_.clear();
  if (kick_ != nullptr) kick_->disable();
  if (tcp_ != nullptr) tcp_->close();
}

// Moves every ciphertext byte OpenSSL produced to the TCP write queue.
bool TlsClientStream::flushOutput() {
  if (wbio_ == nullptr) return true;
  const size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return true;
  std::string out(pending, '\0');
  int n = BIO_read(wbio_, out.data(), static_cast<int>(out.size()));
  if (n <= 0) return false;
  out.resize(static_cast<size_t>(n));
  if (tcp_ == nullptr || tcp_->writeShutdown()) return true;  // after our FIN: nothing to say
  return tcp_->write(std::move(out));
}

void TlsClientStream::updateTcpReading() {
  if (tcp_ == nullptr || tcp_->closed()) return;
  const bool want = state_ == State::kHandshaking ||
                    (state_ == State::kOpen && reading_ && !tcp_eof_ && !end_delivered_);
  if (want) {
    tcp_->startReading();
  } else {
    tcp_->stopReading();
  }
}

void TlsClientStream::onData(net::TcpConnection&, const char* data, size_t len) {
  if (state_ != State::kHandshaking && state_ != State::kOpen) return;
  ERR_clear_error();
  // A memory BIO takes everything (it grows); at most one TCP read is buffered at a time,
  // because TCP reading stops while plaintext delivery is stopped.
  if (BIO_write(rbio_, data, static_cast<int>(len)) != static_cast<int>(len)) {
    return fail("tls: out of memory");
  }
  process();
}

void TlsClientStream::onEndOfStream(net::TcpConnection&) {
  tcp_eof_ = true;
  if (state_ == State::kHandshaking) return fail("connection closed during the tls handshake");
  if (state_ != State::kOpen) return;
  process();
}

void TlsClientStream::onError(net::TcpConnection&, int uv_status) {
  if (state_ != State::kHandshaking && state_ != State::kOpen) return;
  fail(std::string("tcp error: ") + uv_strerror(uv_status));
}

void TlsClientStream::onWritable(net::TcpConnection&) {
  if (state_ != State::kOpen) return;
  callbacks_->onTlsWritable(*this);
}

void TlsClientStream::onKick() {
  if (!pending_error_.empty()) {
    std::string reason = std::move(pending_error_);
    pending_error_.clear();
    callbacks_->onTlsError(*this, reason);
    return;
  }
  if (state_ == State::kOpen) process();
}

void TlsClientStream::process() {
  if (state_ == State::kHandshaking && !advanceHandshake()) return;
  if (state_ == State::kOpen) deliverPlaintext();
}

bool TlsClientStream::advanceHandshake() {
  ERR_clear_error();
  int rc = SSL_connect(ssl_);
  int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
  // Send what the handshake produced, an alert included.
  std::string reason = err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL ? takeErrorReason() : "";
  ERR_clear_error();
  if (!flushOutput()) {
    fail("tcp write failed");
    return false;
  }
  if (err == SSL_ERROR_WANT_READ) return false;  // more handshake bytes to come

  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    const char* what = X509_verify_cert_error_string(verify);
    verify_error_ = std::string("certificate verify failed: ") + what;
    fail("certificate verify failed for host " + host_ + ": " + what);
    return false;
  }
  if (err != SSL_ERROR_NONE) {
    fail("tls handshake failed: " + (reason.empty() ? std::string("unexpected end") : reason));
    return false;
  }
  // Belt and braces: SSL_VERIFY_PEER already fails a handshake without a verified certificate.
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509* peer = SSL_get1_peer_certificate(ssl_);
#else
  X509* peer = SSL_get_peer_certificate(ssl_);
#endif
  if (peer == nullptr) {
    verify_error_ = "certificate verify failed: no certificate";
    fail("certificate verify failed for host " + host_ + ": no certificate");
    return false;
  }
  X509_free(peer);

  state_ = State::kOpen;
  updateTcpReading();
  std::weak_ptr<char> alive = alive_;
  callbacks_->onTlsConnected(*this);
  return !alive.expired() && state_ == State::kOpen;
}

bool TlsClientStream::deliverPlaintext() {
  std::weak_ptr<char> alive = alive_;
  while (state_ == State::kOpen && reading_ && !end_delivered_) {
    ERR_clear_error();
    int n = SSL_read(ssl_, tl_plaintext.data(), static_cast<int>(tl_plaintext.size()));
    if (n > 0) {
      callbacks_->onTlsData(*this, tl_plaintext.data(), static_cast<size_t>(n));
      if (alive.expired()) return false;
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    std::string reason = err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL ? takeErrorReason() : "";
    ERR_clear_error();
    // SSL_read may have produced records of its own (an alert, a KeyUpdate answer).
    if (!flushOutput()) {
      fail("tcp write failed");
      return false;
    }
    if (err == SSL_ERROR_WANT_READ) {
      // Everything buffered was consumed (a TLS 1.3 session ticket yields no data at all).
      if (!tcp_eof_) return true;
      end_delivered_ = true;  // FIN without close_notify: what is left is a truncated record
      updateTcpReading();
      callbacks_->onTlsEndOfStream(*this);
      return false;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      end_delivered_ = true;
      clean_shutdown_ = true;
      updateTcpReading();
      callbacks_->onTlsEndOfStream(*this);
      return false;
    }
    fail("tls protocol error: " + (reason.empty() ? std::string("unexpected end") : reason));
    return false;
  }
  return state_ == State::kOpen;
}

void TlsClientStream::fail(const std::string& reason) {
  if (state_ == State::kFailed || state_ == State::kClosed) return;
  state_ = State::kFailed;
  if (kick_ != nullptr) kick_->disable();
  if (tcp_ != nullptr) tcp_->close();
  callbacks_->onTlsError(*this, reason);
}

void TlsClientStream::failLater(std::string reason) {
  if (state_ == State::kFailed || state_ == State::kClosed) return;
  state_ = State::kFailed;
  pending_error_ = std::move(reason);
  if (tcp_ != nullptr) tcp_->close();
  if (kick_ != nullptr) kick_->enable(std::chrono::milliseconds(0));
}

}  // namespace gatehouse::tls
