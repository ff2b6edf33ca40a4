// TlsClientStream on a real libuv loop against a TLS server on a std::thread (blocking sockets
// with 10 s timeouts, so a broken test ends instead of hanging).
//
// The certificates are minted here with OpenSSL (EC P-256): a test CA, a leaf for DNS:origin.test
// and IP:127.0.0.1, and an expired leaf; the CA is written to a temp dir for ca_file. Every wait
// is a deadline on the loop, never a sleep, and every test ends with uv_loop_close() == 0
// (TearDown). Callbacks must never run inline from a call the test makes (ownerCall()).
#include "proxy/tls/tls_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "policy/ip.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/tcp_connection.h"

namespace gatehouse::tls {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// ---- certificates -----------------------------------------------------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

PkeyPtr makeKey() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx, &key) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  return PkeyPtr(key);
}

bool addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A CA when issuer == nullptr (self-signed), else a server leaf with `san`. Validity is given in
// seconds relative to now.
X509Ptr makeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, const char* san,
                 long not_before, long not_after, long serial) {
  X509Ptr cert(X509_new());
  X509* c = cert.get();
  const bool ca = issuer == nullptr;
  bool ok =
      X509_set_version(c, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(c), serial) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(c), not_before) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(c), not_after) != nullptr && X509_set_pubkey(c, key) == 1;
  X509_NAME* name = X509_get_subject_name(c);
  ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) == 1;
  ok = ok && X509_set_issuer_name(c, ca ? name : X509_get_subject_name(issuer)) == 1;
  X509* signer = ca ? c : issuer;
  if (ca) {
    ok = ok && addExtension(c, signer, NID_basic_constraints, "critical,CA:TRUE") &&
         addExtension(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         addExtension(c, signer, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && addExtension(c, signer, NID_basic_constraints, "critical,CA:FALSE") &&
         addExtension(c, signer, NID_key_usage, "critical,digitalSignature") &&
         addExtension(c, signer, NID_ext_key_usage, "serverAuth") &&
         addExtension(c, signer, NID_subject_alt_name, san) &&
         addExtension(c, signer, NID_subject_key_identifier, "hash") &&
         addExtension(c, signer, NID_authority_key_identifier, "keyid:always");
  }
  ok = ok && X509_sign(c, ca ? key : issuer_key, EVP_sha256()) > 0;
  return ok ? std::move(cert) : nullptr;
}

bool writePem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = PEM_write_X509(f, cert) == 1;
  return std::fclose(f) == 0 && ok;
}

// Minted once per test binary.
struct Pki {
  std::string dir;
  std::string ca_file;
  PkeyPtr ca_key;
  X509Ptr ca;
  PkeyPtr leaf_key;
  X509Ptr leaf;     // DNS:origin.test, IP:127.0.0.1; valid from an hour ago for a day
  X509Ptr expired;  // the same names; expired yesterday
  bool ok = false;

  Pki() {
    // A server thread writing to a socket the client closed must not kill the test binary.
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/gatehouse_tls_client_test_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir = tmpl;
    ca_file = dir + "/ca.pem";
    ca_key = makeKey();
    leaf_key = makeKey();
    if (!ca_key || !leaf_key) return;
    ca = makeCert(ca_key.get(), "gatehouse test CA", nullptr, nullptr, nullptr, -3600, 10L * 86400,
                  1);
    if (!ca) return;
    const char* san = "DNS:origin.test,IP:127.0.0.1";
    leaf = makeCert(leaf_key.get(), "origin.test", ca.get(), ca_key.get(), san, -3600, 86400, 2);
    expired = makeCert(leaf_key.get(), "origin.test", ca.get(), ca_key.get(), san, -2L * 86400,
                       -86400, 3);
    ok = leaf && expired && writePem(ca_file, ca.get()) &&
         writePem(dir + "/leaf.pem", leaf.get()) && writePem(dir + "/expired.pem", expired.get());
  }
  ~Pki() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }
};

const Pki& pki() {
  static Pki instance;
  return instance;
}

// ---- the server -------------------------------------------------------------------------------

// What the server saw; read after join().
struct ServerLog {
  bool accepted = false;
  bool handshake_ok = false;
  std::string sni;
  std::string alpn;
  std::string received;  // application bytes (kept up to 1 MiB)
  uint64_t received_bytes = 0;
  bool upload_exact = false;
  bool go_timed_out = false;
};

// One connection, served on a thread with blocking sockets.
class TlsServer final {
 public:
  struct Options {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
    bool tls = true;  // false: the behaviour gets the raw socket (ssl == nullptr)
  };
  // Runs after the handshake succeeded (or at once when !tls). May close `fd` (set it to -1).
  using Behaviour = std::function<void(TlsServer& server, SSL* ssl, int& fd, ServerLog& log)>;

  TlsServer(Options options, Behaviour behaviour) : behaviour_(std::move(behaviour)) {
    if (options.tls) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      if (ctx_ == nullptr || SSL_CTX_use_certificate(ctx_, options.cert) != 1 ||
          SSL_CTX_use_PrivateKey(ctx_, options.key) != 1) {
        return;
      }
      SSL_CTX_set_alpn_select_cb(ctx_, &TlsServer::selectAlpn, nullptr);
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) return;
    // Small buffers, so that a server that does not read makes the client's queue grow soon.
    int small = 16 * 1024;
    setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 4) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, tls = options.tls] { serve(tls); });
  }
  ~TlsServer() {
    join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  uint16_t port() const { return port_; }
  const ServerLog& join() {
    if (thread_.joinable()) thread_.join();
    return log_;
  }

  // Set by the test, waited for by a behaviour (with a deadline).
  std::atomic<bool> go{false};
  // Set by a behaviour when it has written everything.
  std::atomic<bool> sent{false};
  std::atomic<bool> done{false};

 private:
  static int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void*) {
    static const unsigned char kOurs[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kOurs, sizeof kOurs, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }

  void serve(bool tls) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 10000) == 1) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) {
        log_.accepted = true;
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (!tls) {
          behaviour_(*this, nullptr, fd, log_);
        } else if (ctx_ != nullptr) {
          SSL* ssl = SSL_new(ctx_);
          SSL_set_fd(ssl, fd);
          if (SSL_accept(ssl) == 1) {
            log_.handshake_ok = true;
            const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            if (sni != nullptr) log_.sni = sni;
            const unsigned char* alpn = nullptr;
            unsigned int alpn_len = 0;
            SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
            if (alpn != nullptr) log_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
            behaviour_(*this, ssl, fd, log_);
          } else {
            // Whatever the client sent: a refused handshake must carry no application data.
            char buf[4096];
            while (SSL_read(ssl, buf, sizeof buf) > 0) log_.received_bytes += sizeof buf;
          }
          SSL_free(ssl);
        }
        if (fd >= 0) ::close(fd);
      }
    }
    ERR_clear_error();
    done = true;
  }

  Behaviour behaviour_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  ServerLog log_;
};

void record(ServerLog& log, const char* data, size_t n) {
  log.received_bytes += n;
  if (log.received.size() < (1U << 20)) log.received.append(data, n);
}

// Reads until close_notify, EOF or an error; answers close_notify with close_notify.
void drain(SSL* ssl, ServerLog& log) {
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      record(log, buf, static_cast<size_t>(n));
      continue;
    }
    if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) SSL_shutdown(ssl);
    return;
  }
}

bool writeAll(SSL* ssl, std::string_view data) {
  while (!data.empty()) {
    int n = SSL_write(ssl, data.data(), static_cast<int>(std::min<size_t>(data.size(), 16384)));
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Echoes every byte until close_notify (answered) or EOF.
void echo(TlsServer&, SSL* ssl, int&, ServerLog& log) {
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) SSL_shutdown(ssl);
      return;
    }
    record(log, buf, static_cast<size_t>(n));
    if (!writeAll(ssl, std::string_view(buf, static_cast<size_t>(n)))) return;
  }
}

// Byte i of the large transfers; `salt` tells upload and download apart.
char patternByte(uint64_t i, unsigned salt) {
  return static_cast<char>((i * 131 + (i >> 12) + salt) & 0xff);
}

// ---- the client side --------------------------------------------------------------------------

struct Recorder final : TlsClientStream::Callbacks {
  int connected = 0;
  std::string data;
  uint64_t data_bytes = 0;
  int end_of_stream = 0;
  bool clean = false;
  int errors = 0;
  std::string error;
  int writable = 0;
  bool in_owner_call = false;
  bool inline_callback = false;
  std::function<void(TlsClientStream&)> on_connected;
  std::function<void(TlsClientStream&, const char*, size_t)> on_data;
  std::function<void(TlsClientStream&)> on_end;
  std::function<void(TlsClientStream&)> on_error;
  std::function<void(TlsClientStream&)> on_writable;

  void check() {
    if (in_owner_call) inline_callback = true;
  }
  void onTlsConnected(TlsClientStream& s) override {
    check();
    ++connected;
    if (on_connected) on_connected(s);
  }
  void onTlsData(TlsClientStream& s, const char* d, size_t len) override {
    check();
    data_bytes += len;
    if (on_data) {
      on_data(s, d, len);
    } else {
      data.append(d, len);
    }
  }
  void onTlsEndOfStream(TlsClientStream& s) override {
    check();
    ++end_of_stream;
    clean = s.cleanShutdown();
    if (on_end) on_end(s);
  }
  void onTlsError(TlsClientStream& s, std::string_view reason) override {
    check();
    ++errors;
    error = std::string(reason);
    if (on_error) on_error(s);
  }
  void onTlsWritable(TlsClientStream& s) override {
    check();
    ++writable;
    if (on_writable) on_writable(s);
  }
};

std::shared_ptr<TlsClientContext> testContext(bool with_ca = true) {
  std::string error;
  TlsClientOptions options;
  if (with_ca) options.ca_file = pki().ca_file;
  auto context = TlsClientContext::create(options, &error);
  EXPECT_NE(context, nullptr) << error;
  return context;
}

class TlsClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pki().ok) << "could not mint the test certificates"; }

  void TearDown() override {
    EXPECT_FALSE(rec_.inline_callback) << "a callback ran inline from a method call";
    timer_.reset();
    stream_.reset();
    EXPECT_EQ(dispatcher_.shutdown(), 0) << "a uv handle leaked";
    server_.reset();  // joins: the client side is closed, so the server thread ends
  }

  // Runs the loop until `done` holds or `limit` passes; a 1 ms timer keeps it from blocking.
  bool runUntil(const std::function<bool()>& done, milliseconds limit = milliseconds(10000)) {
    if (done()) return true;
    const auto end = Clock::now() + limit;
    event::TimerPtr tick;
    tick = dispatcher_.createTimer([&] {
      if (done() || Clock::now() >= end) {
        uv_stop(dispatcher_.loop());
      } else {
        tick->enable(milliseconds(1));
      }
    });
    tick->enable(milliseconds(0));
    uv_run(dispatcher_.loop(), UV_RUN_DEFAULT);
    return done();
  }
  void runFor(milliseconds d) {
    runUntil([] { return false; }, d);
  }

  void startServer(TlsServer::Behaviour behaviour, X509* cert = nullptr, bool tls = true) {
    TlsServer::Options options;
    options.cert = cert != nullptr ? cert : pki().leaf.get();
    options.key = pki().leaf_key.get();
    options.tls = tls;
    server_ = std::make_unique<TlsServer>(options, std::move(behaviour));
    ASSERT_NE(server_->port(), 0) << "the test server could not listen";
  }

  std::unique_ptr<net::TcpConnection> dial() {
    bool finished = false;
    int status = -1;
    net::SocketAddress to{*policy::IpAddress::parse("127.0.0.1"), server_->port()};
    auto conn = net::TcpConnection::connect(dispatcher_.loop(), to, [&](int s) {
      status = s;
      finished = true;
    });
    EXPECT_NE(conn, nullptr);
    if (conn == nullptr) return nullptr;
    EXPECT_TRUE(runUntil([&] { return finished; })) << "connect timed out";
    EXPECT_EQ(status, 0);
    if (!finished) conn.reset();  // its callback refers to this frame
    return conn;
  }

  // Dials the server and starts the handshake for `host`.
  void open(const std::string& host, std::shared_ptr<TlsClientContext> context = nullptr) {
    if (context == nullptr) context = testContext();
    auto tcp = dial();
    ownerCall([&] {
      stream_ = std::make_unique<TlsClientStream>(dispatcher_, std::move(context), std::move(tcp),
                                                  host, &rec_);
    });
  }

  // A call the owner makes: no callback may run inside it.
  void ownerCall(const std::function<void()>& fn) {
    rec_.in_owner_call = true;
    fn();
    rec_.in_owner_call = false;
  }

  bool serverDone(milliseconds limit = milliseconds(10000)) {
    return runUntil([&] { return server_->done.load(); }, limit);
  }

  event::UvDispatcher dispatcher_;
  Recorder rec_;
  std::unique_ptr<TlsServer> server_;
  std::unique_ptr<TlsClientStream> stream_;
  event::TimerPtr timer_;
};

// ---- contexts ---------------------------------------------------------------------------------

TEST(TlsClientContext, MissingCaFileFailsWithOneLine) {
  std::string error;
  auto context = TlsClientContext::create({"/nonexistent/gatehouse/ca.pem"}, &error);
  EXPECT_EQ(context, nullptr);
  EXPECT_NE(error.find("/nonexistent/gatehouse/ca.pem"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(TlsClientContext, CaFileWithoutCertificateFails) {
  ASSERT_TRUE(pki().ok);
  const std::string path = pki().dir + "/not_a_cert.pem";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not a certificate\n", f);
  std::fclose(f);
  std::string error;
  EXPECT_EQ(TlsClientContext::create({path}, &error), nullptr);
  EXPECT_NE(error.find("cannot load CA file"), std::string::npos) << error;
}

TEST(TlsClientContext, SystemStoreAloneAndWithCaFile) {
  ASSERT_TRUE(pki().ok);
  std::string error;
  auto system_only = TlsClientContext::create({}, &error);
  ASSERT_NE(system_only, nullptr) << error;
  auto with_ca = TlsClientContext::create({pki().ca_file}, &error);
  ASSERT_NE(with_ca, nullptr) << error;
  EXPECT_NE(with_ca->get(), nullptr);
}

// ---- handshake and data -----------------------------------------------------------------------

TEST_F(TlsClientTest, HandshakeEchoAlpnSniAndCleanShutdown) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  bool early_write = true;
  ownerCall([&] { early_write = stream_->write("sent before the handshake"); });
  EXPECT_FALSE(early_write) << "plaintext accepted before verification";
  EXPECT_FALSE(stream_->connected());

  ASSERT_TRUE(runUntil([&] { return rec_.connected == 1 || rec_.errors > 0; })) << rec_.error;
  ASSERT_EQ(rec_.errors, 0) << rec_.error;
  EXPECT_TRUE(stream_->connected());
  EXPECT_EQ(stream_->alpn(), "http/1.1");
  EXPECT_EQ(stream_->verifyError(), "");

  bool written = false;
  ownerCall([&] { written = stream_->write("hello over tls"); });
  EXPECT_TRUE(written);
  ASSERT_TRUE(runUntil([&] { return rec_.data.size() >= 14 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.data, "hello over tls");

  ownerCall([&] { stream_->shutdown(); });
  ownerCall([&] { written = stream_->write("after shutdown"); });
  EXPECT_FALSE(written);
  ASSERT_TRUE(runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.end_of_stream, 1);
  EXPECT_TRUE(rec_.clean) << "the server answered close_notify";
  EXPECT_EQ(rec_.errors, 0) << rec_.error;

  const ServerLog& log = server_->join();
  EXPECT_TRUE(log.handshake_ok);
  EXPECT_EQ(log.sni, "origin.test");
  EXPECT_EQ(log.alpn, "http/1.1");
  EXPECT_EQ(log.received, "hello over tls") << "only what was written after onTlsConnected";
}

TEST_F(TlsClientTest, IpLiteralIsVerifiedAgainstTheIpSanWithoutSni) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("127.0.0.1"));
  ASSERT_TRUE(runUntil([&] { return rec_.connected == 1 || rec_.errors > 0; }));
  ASSERT_EQ(rec_.errors, 0) << rec_.error;
  ownerCall([&] { EXPECT_TRUE(stream_->write("ping")); });
  ASSERT_TRUE(runUntil([&] { return rec_.data.size() >= 4 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.data, "ping");
  ownerCall([&] { stream_->close(); });
  const ServerLog& log = server_->join();
  EXPECT_EQ(log.sni, "") << "RFC 6066: no IP literal in SNI";
}

// ---- verification failures --------------------------------------------------------------------

TEST_F(TlsClientTest, HostnameMismatchFailsAndNoPlaintextLeaves) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("wrong.test"));
  ownerCall([&] { EXPECT_FALSE(stream_->write("Authorization: token")); });
  rec_.on_connected = [](TlsClientStream& s) { s.write("Authorization: token"); };
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.connected > 0; }));
  EXPECT_EQ(rec_.connected, 0);
  EXPECT_EQ(rec_.errors, 1);
  EXPECT_NE(rec_.error.find("wrong.test"), std::string::npos) << rec_.error;
  EXPECT_NE(rec_.error.find("hostname mismatch"), std::string::npos) << rec_.error;
  EXPECT_EQ(stream_->verifyError(), "certificate verify failed: hostname mismatch");
  ownerCall([&] { EXPECT_FALSE(stream_->write("Authorization: token")); });
  const ServerLog& log = server_->join();
  EXPECT_FALSE(log.handshake_ok);
  EXPECT_EQ(log.received_bytes, 0U);
}

TEST_F(TlsClientTest, IpLiteralMismatchFails) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("127.0.0.2"));
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.connected > 0; }));
  EXPECT_EQ(rec_.connected, 0);
  EXPECT_NE(stream_->verifyError().find("IP address mismatch"), std::string::npos)
      << stream_->verifyError();
}

TEST_F(TlsClientTest, UntrustedCaFails) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("origin.test", testContext(/*with_ca=*/false)));
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.connected > 0; }));
  EXPECT_EQ(rec_.connected, 0);
  EXPECT_EQ(rec_.errors, 1);
  EXPECT_NE(rec_.error.find("certificate verify failed for host origin.test"), std::string::npos)
      << rec_.error;
  EXPECT_NE(stream_->verifyError(), "");
  const ServerLog& log = server_->join();
  EXPECT_FALSE(log.handshake_ok);
  EXPECT_EQ(log.received_bytes, 0U);
}

TEST_F(TlsClientTest, ExpiredCertificateFails) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo, pki().expired.get()));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.connected > 0; }));
  EXPECT_EQ(rec_.connected, 0);
  EXPECT_NE(rec_.error.find("certificate has expired"), std::string::npos) << rec_.error;
  EXPECT_EQ(stream_->verifyError(), "certificate verify failed: certificate has expired");
  EXPECT_EQ(server_->join().received_bytes, 0U);
}

TEST_F(TlsClientTest, NotTlsFailsWithoutEchoingPeerBytes) {
  ASSERT_NO_FATAL_FAILURE(startServer(
      [](TlsServer&, SSL*, int& fd, ServerLog&) {
        const char reply[] = "HTTP/1.1 400 Bad Request\r\nX-Evil: injected\r\n\r\n";
        (void)!::write(fd, reply, sizeof reply - 1);
        char buf[4096];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
      },
      nullptr, /*tls=*/false));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.connected > 0; }));
  EXPECT_EQ(rec_.connected, 0);
  EXPECT_EQ(rec_.errors, 1);
  EXPECT_NE(rec_.error.find("tls handshake failed"), std::string::npos) << rec_.error;
  EXPECT_EQ(rec_.error.find("HTTP"), std::string::npos) << rec_.error;
  EXPECT_EQ(rec_.error.find("injected"), std::string::npos) << rec_.error;
}

TEST_F(TlsClientTest, StartWithoutConnectionReportsErrorFromTheLoop) {
  ownerCall([&] {
    stream_ = std::make_unique<TlsClientStream>(dispatcher_, testContext(), nullptr, "origin.test",
                                                &rec_);
  });
  EXPECT_EQ(rec_.errors, 0) << "not inline";
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0; }));
  EXPECT_EQ(rec_.errors, 1);
  ownerCall([&] { EXPECT_FALSE(stream_->write("x")); });
}

// ---- end of stream and errors -----------------------------------------------------------------

TEST_F(TlsClientTest, CloseNotifyIsACleanEndOfStream) {
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer&, SSL* ssl, int&, ServerLog& log) {
    writeAll(ssl, "bye");
    SSL_shutdown(ssl);
    drain(ssl, log);
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  ASSERT_TRUE(runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.connected, 1);
  EXPECT_EQ(rec_.data, "bye");
  EXPECT_EQ(rec_.end_of_stream, 1);
  EXPECT_TRUE(rec_.clean);
  EXPECT_EQ(rec_.errors, 0) << rec_.error;
  // Writing after the peer's close_notify still works (TLS half-close), then our own.
  ownerCall([&] { EXPECT_TRUE(stream_->write("late")); });
  ownerCall([&] { stream_->shutdown(); });
  ASSERT_TRUE(serverDone());
  EXPECT_EQ(server_->join().received, "late");
}

TEST_F(TlsClientTest, FinWithoutCloseNotifyIsAnUncleanEndOfStream) {
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer&, SSL* ssl, int& fd, ServerLog& log) {
    writeAll(ssl, "truncated?");
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) log.received_bytes += 1;
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  ASSERT_TRUE(runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.data, "truncated?");
  EXPECT_EQ(rec_.end_of_stream, 1);
  EXPECT_FALSE(rec_.clean);
  EXPECT_EQ(rec_.errors, 0) << rec_.error;
}

// The reset comes only after the client read everything: libuv reports a RST that arrives
// together with data as EOF (its POLLHUP shortcut after a partial read), which the stream can
// only pass on as an unclean end of stream.
TEST_F(TlsClientTest, ResetIsAnError) {
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer&, SSL* ssl, int& fd, ServerLog& log) {
    char buf[16];
    while (log.received.size() < 4) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return;
      record(log, buf, static_cast<size_t>(n));
    }
    if (!writeAll(ssl, "pong")) return;
    while (log.received.size() < 7) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return;
      record(log, buf, static_cast<size_t>(n));
    }
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
    fd = -1;
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  rec_.on_connected = [](TlsClientStream& s) { s.write("ping"); };
  rec_.on_data = [&](TlsClientStream& s, const char* d, size_t len) {
    rec_.data.append(d, len);
    if (rec_.data == "pong") s.write("ack");
  };
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0 || rec_.end_of_stream > 0; }));
  EXPECT_EQ(rec_.errors, 1);
  EXPECT_EQ(rec_.end_of_stream, 0);
  EXPECT_EQ(rec_.error, "tcp error: connection reset by peer");
  ownerCall([&] { EXPECT_FALSE(stream_->write("x")); });
  EXPECT_EQ(server_->join().received, "pingack");
}

TEST_F(TlsClientTest, StopReadingHoldsDataAndStartReadingDeliversFromTheLoop) {
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer& server, SSL* ssl, int&, ServerLog& log) {
    writeAll(ssl, "held back");
    SSL_shutdown(ssl);
    server.sent = true;
    drain(ssl, log);
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  rec_.on_connected = [](TlsClientStream& s) { s.stopReading(); };
  ASSERT_TRUE(runUntil([&] { return rec_.connected > 0 || rec_.errors > 0; }));
  ASSERT_TRUE(runUntil([&] { return server_->sent.load(); }));
  runFor(milliseconds(50));
  EXPECT_EQ(rec_.data_bytes, 0U);
  EXPECT_EQ(rec_.end_of_stream, 0);
  ownerCall([&] { stream_->startReading(); });
  ASSERT_TRUE(runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }));
  EXPECT_EQ(rec_.data, "held back");
  EXPECT_TRUE(rec_.clean);
}

// ---- large transfers with backpressure --------------------------------------------------------

TEST_F(TlsClientTest, FourMiBEachWayWithBackpressure) {
  constexpr uint64_t kSize = uint64_t{4} * 1024 * 1024;
  constexpr unsigned kUp = 1;
  constexpr unsigned kDown = 7;
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer& server, SSL* ssl, int&, ServerLog& log) {
    // Read nothing until the client saw its queue above the high watermark.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!server.go.load() && Clock::now() < deadline) std::this_thread::yield();
    log.go_timed_out = !server.go.load();
    bool exact = true;
    char buf[16384];
    while (log.received_bytes < kSize) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        exact = exact && buf[i] == patternByte(log.received_bytes + static_cast<uint64_t>(i), kUp);
      }
      log.received_bytes += static_cast<uint64_t>(n);
    }
    log.upload_exact = exact && log.received_bytes == kSize;
    std::string chunk;
    for (uint64_t off = 0; off < kSize; off += 16384) {
      chunk.clear();
      for (uint64_t i = off; i < off + 16384 && i < kSize; ++i) chunk += patternByte(i, kDown);
      if (!writeAll(ssl, chunk)) return;
    }
    SSL_shutdown(ssl);
    drain(ssl, log);
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  ownerCall([&] { stream_->setWatermarks(size_t{16} * 1024, size_t{64} * 1024); });

  uint64_t uploaded = 0;
  bool saw_high = false;
  std::string slice;
  auto pump = [&](TlsClientStream& s) {
    while (uploaded < kSize && !s.aboveHighWatermark()) {
      slice.clear();
      for (uint64_t i = uploaded; i < uploaded + 16384 && i < kSize; ++i) {
        slice += patternByte(i, kUp);
      }
      ASSERT_TRUE(s.write(slice));
      uploaded += slice.size();
    }
    if (s.aboveHighWatermark() && !saw_high) {
      saw_high = true;
      server_->go = true;
    }
  };
  rec_.on_connected = pump;
  rec_.on_writable = pump;

  uint64_t downloaded = 0;
  uint64_t mismatches = 0;
  int pauses = 0;
  constexpr uint64_t kPauseEvery = uint64_t{256} * 1024;
  timer_ = dispatcher_.createTimer([&] { ownerCall([&] { stream_->startReading(); }); });
  rec_.on_data = [&](TlsClientStream& s, const char* d, size_t len) {
    for (size_t i = 0; i < len; ++i) mismatches += d[i] != patternByte(downloaded + i, kDown);
    const uint64_t before = downloaded;
    downloaded += len;
    // Pause every 256 KiB, in the middle of a TCP read, and resume from a timer.
    if (before / kPauseEvery != downloaded / kPauseEvery) {
      ++pauses;
      s.stopReading();
      timer_->enable(milliseconds(1));
    }
  };

  ASSERT_TRUE(
      runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }, milliseconds(30000)))
      << "uploaded " << uploaded << " downloaded " << downloaded;
  EXPECT_EQ(rec_.errors, 0) << rec_.error;
  EXPECT_TRUE(rec_.clean);
  EXPECT_EQ(uploaded, kSize);
  EXPECT_TRUE(saw_high) << "the TCP queue never reached the high watermark";
  EXPECT_GE(rec_.writable, 1);
  EXPECT_EQ(downloaded, kSize);
  EXPECT_EQ(mismatches, 0U);
  EXPECT_GE(pauses, 10);
  ownerCall([&] { stream_->shutdown(); });
  ASSERT_TRUE(serverDone());
  const ServerLog& log = server_->join();
  EXPECT_FALSE(log.go_timed_out);
  EXPECT_TRUE(log.upload_exact) << log.received_bytes << " bytes received";
}

// ---- destruction inside callbacks -------------------------------------------------------------

TEST_F(TlsClientTest, DestroyInsideOnTlsData) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  // 256 KiB echoed back: one TCP read holds several records, so more data follows the callback.
  rec_.on_connected = [](TlsClientStream& s) { s.write(std::string(size_t{256} * 1024, 'x')); };
  int calls = 0;
  rec_.on_data = [&](TlsClientStream&, const char*, size_t) {
    ++calls;
    stream_.reset();
  };
  ASSERT_TRUE(runUntil([&] { return calls > 0 || rec_.errors > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stream_, nullptr);
  ASSERT_TRUE(serverDone()) << "the server saw the connection close";
  runFor(milliseconds(10));
  EXPECT_EQ(calls, 1);
}

TEST_F(TlsClientTest, DestroyInsideOnTlsConnected) {
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer&, SSL* ssl, int&, ServerLog& log) {
    writeAll(ssl, "data right after the handshake");
    drain(ssl, log);
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  rec_.on_connected = [&](TlsClientStream&) { stream_.reset(); };
  ASSERT_TRUE(runUntil([&] { return rec_.connected > 0 || rec_.errors > 0; }));
  EXPECT_EQ(stream_, nullptr);
  ASSERT_TRUE(serverDone());
  runFor(milliseconds(10));
  EXPECT_EQ(rec_.data_bytes, 0U);
  EXPECT_EQ(server_->join().received_bytes, 0U);
}

TEST_F(TlsClientTest, DestroyInsideOnTlsErrorAndOnTlsEndOfStream) {
  ASSERT_NO_FATAL_FAILURE(startServer(echo));
  ASSERT_NO_FATAL_FAILURE(open("wrong.test"));
  rec_.on_error = [&](TlsClientStream&) { stream_.reset(); };
  ASSERT_TRUE(runUntil([&] { return rec_.errors > 0; }));
  EXPECT_EQ(stream_, nullptr);
  ASSERT_TRUE(serverDone());

  rec_ = Recorder();
  ASSERT_NO_FATAL_FAILURE(startServer([](TlsServer&, SSL* ssl, int&, ServerLog& log) {
    writeAll(ssl, "bye");
    SSL_shutdown(ssl);
    drain(ssl, log);
  }));
  ASSERT_NO_FATAL_FAILURE(open("origin.test"));
  rec_.on_end = [&](TlsClientStream&) { stream_.reset(); };
  ASSERT_TRUE(runUntil([&] { return rec_.end_of_stream > 0 || rec_.errors > 0; }));
  EXPECT_EQ(stream_, nullptr);
  EXPECT_EQ(rec_.data, "bye");
  ASSERT_TRUE(serverDone());
}

}  // namespace
}  // namespace gatehouse::tls
