#include "proxy/conn/tunnel.h"

namespace gatehouse::conn {

Tunnel::Tunnel(event::Dispatcher& dispatcher, std::unique_ptr<net::TcpConnection> client,
               std::unique_ptr<net::TcpConnection> upstream, std::chrono::milliseconds idle_timeout,
               std::function<void(const Stats&)> on_closed)
    : dispatcher_(dispatcher),
      client_(std::move(client)),
      upstream_(std::move(upstream)),
      idle_timeout_(idle_timeout),
      idle_timer_(dispatcher.createTimer([this] { finish("idle-timeout", false); })),
      on_closed_(std::move(on_closed)) {
  client_->setCallbacks(&client_side_);
  upstream_->setCallbacks(&upstream_side_);
}

Tunnel::~Tunnel() {
  if (client_) client_->setCallbacks(nullptr);
  if (upstream_) upstream_->setCallbacks(nullptr);
}

void Tunnel::start(std::string early_client_bytes) {
  if (!early_client_bytes.empty()) {
    stats_.bytes_up += early_client_bytes.size();
    upstream_->write(std::move(early_client_bytes));
  }
  client_->startReading();
  upstream_->startReading();
  touch();
}

void Tunnel::touch() {
  if (idle_timeout_.count() > 0 && !finished_) idle_timer_->enable(idle_timeout_);
}

void Tunnel::Side::onData(net::TcpConnection&, const char* data, size_t len) {
  Tunnel& t = tunnel_;
  if (t.finished_) return;
  (is_client_ ? t.stats_.bytes_up : t.stats_.bytes_down) += len;
  net::TcpConnection& peer = t.peerOf(is_client_);
  if (!peer.write(std::string_view(data, len))) {
    t.finish(is_client_ ? "upstream-error" : "client-error", true);
    return;
  }
  // Stop reading this side until the peer's queue drains (onWritable on the peer's side).
  if (peer.aboveHighWatermark()) t.selfOf(is_client_).stopReading();
  t.touch();
  if (t.meter_) t.meter(is_client_, len);
}

void Tunnel::meter(bool is_client, size_t bytes) {
  const std::chrono::nanoseconds pause = meter_(is_client, bytes);
  if (finished_ || pause.count() <= 0) return;
  const int i = is_client ? 0 : 1;
  selfOf(is_client).stopReading();
  shaped_[i] = true;
  if (!shape_timer_[i]) {
    shape_timer_[i] = dispatcher_.createTimer([this, is_client] { resumeShaped(is_client); });
  }
  // Timers have millisecond resolution: round up so the rate is never exceeded.
  shape_timer_[i]->enable(std::chrono::ceil<std::chrono::milliseconds>(pause));
}

void Tunnel::resumeShaped(bool is_client) {
  shaped_[is_client ? 0 : 1] = false;
  if (canRead(is_client)) selfOf(is_client).startReading();
}

bool Tunnel::canRead(bool is_client) const {
  if (finished_ || shaped_[is_client ? 0 : 1]) return false;
  if (is_client ? client_eof_ : upstream_eof_) return false;
  const net::TcpConnection& peer = is_client ? *upstream_ : *client_;
  return !peer.aboveHighWatermark();
}

void Tunnel::Side::onWritable(net::TcpConnection&) {
  // This side's queue drained: resume reading from the other side, unless it already ended.
  Tunnel& t = tunnel_;
  if (t.finished_) return;
  const bool other_is_client = !is_client_;
  if (t.canRead(other_is_client)) t.selfOf(other_is_client).startReading();
}

void Tunnel::Side::onEndOfStream(net::TcpConnection&) {
  Tunnel& t = tunnel_;
  if (t.finished_) return;
  (is_client_ ? t.client_eof_ : t.upstream_eof_) = true;
  t.peerOf(is_client_).shutdownWrite();  // pass the half-close on
  t.maybeDone();
}

void Tunnel::Side::onError(net::TcpConnection&, int) {
  tunnel_.finish(is_client_ ? "client-error" : "upstream-error", true);
}

void Tunnel::Side::onWriteShutdownDone(net::TcpConnection&) { tunnel_.maybeDone(); }

void Tunnel::maybeDone() {
  // Done when both sides sent FIN and both FINs were passed on after every queued byte.
  if (client_eof_ && upstream_eof_ && client_->writeShutdownDone() &&
      upstream_->writeShutdownDone()) {
    finish("closed", false);
  }
}

void Tunnel::finish(const char* end, bool reset) {
  if (finished_) return;
  finished_ = true;
  stats_.end = end;
  idle_timer_->disable();
  for (auto& timer : shape_timer_) {
    if (timer) timer->disable();
  }
  // An error on one side resets the other, so that neither peer waits for data that will never
  // come; a clean end comes only after every queued byte was written (maybeDone).
  client_->close(reset);
  upstream_->close(reset);
  auto cb = std::move(on_closed_);
  if (cb) cb(stats_);  // may destroy this
}

}  // namespace gatehouse::conn
