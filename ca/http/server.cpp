// The only Boost.Beast/Asio code that serves: listeners and sessions (the TLS engine: tls_context.cpp).
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "ca/base/duration.hpp"
#include "ca/base/log.hpp"
#include "ca/crypto/handles.hpp"
#include "ca/http/http.hpp"
#include "ca/http/tls_context.hpp"

namespace sigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using tls::SessionCache;
using tls::TlsSnapshot;

namespace {

// Metric label values never come from a request: a method outside this list, which a client
// may invent per request, is counted as "other", so the series stay bounded (Metrics never
// forgets one). Routes are labelled with their template, unknown paths with "unmatched".
std::string_view method_label(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (const auto m : kKnown)
    if (m == method) return m;
  return "other";
}

// ---------------------------------------------------------------- listeners and sessions

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void close_if_idle() = 0;
};

}  // namespace

struct Listener {
  Listener(asio::io_context& ioc, ListenerConfig c) : config(std::move(c)), acceptor(ioc) {}
  ListenerConfig config;
  tcp::acceptor acceptor;
  std::atomic<std::shared_ptr<TlsSnapshot>> tls;
  std::mutex mu;
  std::map<std::string, int> per_address;
};

struct Server::Impl {
  Impl(Metrics& m, const Clock& c, Limits l, int io, int workers_n)
      : metrics(m),
        clock(c),
        limits(l),
        io_threads(io > 0 ? io : std::max(1u, std::thread::hardware_concurrency())),
        ioc(1),
        // Handlers block on the store (a group commit's WAL sync, a PostgreSQL round trip): the
        // pool's size is how many wait at once, and how many changes one commit can batch.
        workers(static_cast<std::size_t>(workers_n > 0 ? workers_n
                                                       : std::max(16u, 4 * std::thread::hardware_concurrency()))),
        checks(static_cast<std::size_t>(std::max(1, l.client_check_threads))) {
    // One io_context per I/O thread, each run by that thread alone: a connection lives on one
    // of them (round robin at accept), so its handlers need no strand and no scheduler lock is
    // contended between I/O threads. The guards keep a context with no connection yet running.
    for (int i = 0; i < io_threads; ++i) {
      auto& ctx = i == 0 ? ioc : *extra_iocs.emplace_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(ctx.get_executor());
    }
  }
  asio::io_context& io(int i) { return i == 0 ? ioc : *extra_iocs[static_cast<std::size_t>(i - 1)]; }

  Metrics& metrics;
  const Clock& clock;
  Limits limits;
  SessionCache tls_sessions{10000, std::chrono::hours(2)};
  int io_threads;
  // Declared before the io_context: handlers it still holds when destroyed end their sessions,
  // and session_ended() needs these.
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::list<std::weak_ptr<SessionBase>> sessions;
  int active = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> checks_pending{0};  // bounds the `checks` queue
  asio::io_context ioc;                        // the first I/O thread's; the listeners' acceptors live here
  std::vector<std::unique_ptr<asio::io_context>> extra_iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::atomic<unsigned> next_io{0};
  asio::thread_pool workers;
  // TlsSettings::check_client runs here (a store lookup per handshake), apart from the handlers
  // so that slow requests never delay handshakes.
  asio::thread_pool checks;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<Listener>> listeners;
  bool stopped = false;
  std::mutex stopped_mu;
  std::condition_variable stopped_cv;

  void accept(const std::shared_ptr<Listener>& l);
  void session_started() {
    std::lock_guard lock(sessions_mu);
    ++active;
  }
  void session_ended() {
    std::lock_guard lock(sessions_mu);
    --active;
    sessions_cv.notify_all();
  }
};

namespace {

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Server::Impl& server, std::shared_ptr<Listener> listener, std::string remote, Stream stream,
          std::shared_ptr<TlsSnapshot> tls)
      : server_(server),
        listener_(std::move(listener)),
        remote_(std::move(remote)),
        stream_(std::move(stream)),
        tls_(std::move(tls)),
        started_(server_.clock.now()) {
    server_.session_started();
  }
  ~Session() override {
    {
      std::lock_guard lock(listener_->mu);
      if (--listener_->per_address[remote_] <= 0) listener_->per_address.erase(remote_);
    }
    server_.session_ended();
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

  void close_if_idle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  // The metric reason of a full handshake refused by check_client, as when it ran inside
  // OpenSSL's verification (X509_V_ERR_CERT_REVOKED).
  static constexpr const char* kRevoked = "certificate revoked";

  void begin() {
    beast::get_lowest_layer(stream_).expires_after(server_.limits.request_timeout);
    if constexpr (kTls) {
      // Client certificates are judged by the server's clock, as resumed sessions are.
      X509_VERIFY_PARAM_set_time(SSL_get0_param(stream_.native_handle()),
                                 std::chrono::system_clock::to_time_t(server_.clock.now()));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
    } else {
      read();
    }
  }

  void on_handshake(beast::error_code ec) {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      if (ec) {
        const std::string reason = tls::verify_failure_reason(ssl, ec);
        server_.metrics.add("sigil_tls_handshake_failures_total",
                            {{"listener", listener_->config.name}, {"reason", reason}});
        log::write(log::Level::info, "tls handshake refused",
                   {{"listener", listener_->config.name}, {"remote", remote_}, {"reason", reason}});
        return;
      }
      if (X509* peer = SSL_get0_peer_certificate(ssl)) {
        unsigned char* der = nullptr;
        const int n = i2d_X509(peer, &der);
        if (n > 0) {
          auto cert = crypto::Certificate::from_der(Bytes(der, der + n));
          if (cert) peer_ = std::make_shared<const crypto::Certificate>(std::move(*cert));
        }
        OPENSSL_free(der);
      }
      const bool resumed = SSL_session_reused(ssl) == 1;
      // A resumed session skips chain verification: the check runs for it too, so a certificate
      // revoked since the ticket was issued is refused all the same.
      if (tls_->settings.check_client && SSL_get0_peer_certificate(ssl)) return check_client(resumed);
      handshake_accepted(resumed);
    } else {
      read();
    }
  }

  // The handshake verified the chain, validity and EKU; the listener's own check (revocation
  // against the store: hard-fail) may block, so it runs on the check pool, and nothing of the
  // client's is read until it has said yes. TLS 1.3 has finished the handshake by then: a
  // refusal resets the connection (no TLS alert can follow a finished handshake).
  void check_client(bool resumed) {
    if (!peer_) return refuse_client(resumed, "unreadable client certificate", kRevoked);
    if (server_.checks_pending.fetch_add(1) >= server_.limits.client_check_queue) {
      server_.checks_pending.fetch_sub(1);
      return refuse_client(resumed, "client check queue full", "client check queue full");
    }
    check_timer_.emplace(stream_.get_executor());
    check_timer_->expires_after(server_.limits.client_check_timeout);
    check_timer_->async_wait([self = this->shared_from_this(), resumed](beast::error_code ec) {
      if (ec || self->checked_) return;
      self->checked_ = true;
      self->refuse_client(resumed, "client check timed out", "client check timed out");
    });
    asio::post(server_.checks, [self = this->shared_from_this(), resumed] {
      Status verdict = tls::run_client_check(self->tls_->settings.check_client, *self->peer_);
      self->server_.checks_pending.fetch_sub(1);
      asio::post(self->stream_.get_executor(),
                 [self, result = std::move(verdict), resumed] { self->on_client_checked(result, resumed); });
    });
  }

  void on_client_checked(const Status& s, bool resumed) {
    if (checked_) return;  // timed out meanwhile: already refused
    checked_ = true;
    check_timer_->cancel();
    if (!s && s.error().code == Errc::unavailable) {
      // The store could not answer (a database failover): no verdict on the certificate, so
      // nothing is served, but the client learns to retry: every request on this connection
      // gets 503 with Retry-After, then the connection closes (see on_read).
      unverified_ = true;
      server_.metrics.add("sigil_tls_handshake_failures_total",
                          {{"listener", listener_->config.name}, {"reason", "client check unavailable"}});
      log::warn("client certificate not checked: store unavailable",
                {{"listener", listener_->config.name}, {"remote", remote_}, {"reason", s.error().detail}});
      return read();
    }
    if (!s) return refuse_client(resumed, s.error().detail, kRevoked);
    handshake_accepted(resumed);
  }

  // Counted and logged as the refusals inside the handshake always were; `reason` labels the
  // metric of a full handshake, the detail that of a resumed one.
  void refuse_client(bool resumed, const std::string& detail, const std::string& reason) {
    const std::string& name = listener_->config.name;
    if (resumed) {
      server_.metrics.add("sigil_tls_handshake_failures_total",
                          {{"listener", name}, {"reason", "resumed session: " + detail}});
      log::write(log::Level::info, "tls resumption refused",
                 {{"listener", name}, {"remote", remote_}, {"reason", detail}});
    } else {
      log::warn("client certificate refused", {{"listener", name}, {"remote", remote_}, {"reason", detail}});
      server_.metrics.add("sigil_tls_handshake_failures_total", {{"listener", name}, {"reason", reason}});
      log::write(log::Level::info, "tls handshake refused",
                 {{"listener", name}, {"remote", remote_}, {"reason", reason}});
    }
    reset();
  }

  // Closes without reading what the client may have sent already (its request) and without a
  // close_notify it could take for an orderly end: with linger 0 the close is a TCP reset.
  void reset() {
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }

  void handshake_accepted(bool resumed) {
    server_.metrics.add("sigil_tls_handshakes_total",
                        {{"listener", listener_->config.name}, {"resumed", resumed ? "yes" : "no"}});
    read();
  }

  void read() {
    if (server_.stopping) return shutdown();
    parser_.emplace();
    parser_->body_limit(server_.limits.max_body);
    parser_->header_limit(static_cast<std::uint32_t>(server_.limits.max_header));
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(server_.limits.request_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    idle_ = false;
    head_ = false;  // what the previous request was does not frame this answer (fail() below)
    version_ = 11;
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset || ec == asio::error::eof) {
      return shutdown();
    }
    if (ec == bhttp::error::body_limit) return fail(413, "request body too large");
    if (ec == bhttp::error::header_limit) return fail(431, "request header fields too large");
    if (ec) return fail(400, "malformed HTTP request");
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    auto req = std::make_shared<Request>();
    req->method = std::string(msg.method_string());
    set_target(*req, msg.target());
    for (const auto& f : msg) add_header(*req, f.name_string(), f.value());
    req->body = std::move(msg.body());
    req->remote_address = remote_;
    req->listener = listener_->config.name;
    req->peer = peer_;
    head_ = msg.method() == bhttp::verb::head;
    version_ = msg.version();
    if (unverified_) {
      keep_alive_ = false;
      server_.metrics.add("sigil_http_requests_total", {{"listener", listener_->config.name},
                                                        {"route", "unverified"},
                                                        {"method", std::string(method_label(req->method))},
                                                        {"status", "503"}});
      return write(Response::problem(make_error(Errc::unavailable, "client certificate could not be checked")));
    }
    const auto started = std::chrono::steady_clock::now();
    bool path_matched = false;
    const Route* r = listener_->config.router->match(req->method, req->path, req->params, path_matched);
    const std::string route = r ? r->name : "unmatched";
    // The fast path: a non-blocking handler answers on this I/O thread (e.g. a pre-signed
    // OCSP response); anything else goes to the worker pool.
    if (r && r->fast && r->auth == Auth::none) {
      if (auto resp = r->fast(*req)) {
        count(route, req->method, resp->status, started);
        return write(std::move(*resp));
      }
    }
    // Handlers may block (store, signing): they run on the worker pool, never on I/O threads.
    asio::post(server_.workers, [self = this->shared_from_this(), req, started, r, path_matched, route] {
      Response resp = self->listener_->config.router->dispatch(*req, r, path_matched);
      self->count(route, req->method, resp.status, started);
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable { self->write(std::move(resp)); });
    });
  }

  void count(const std::string& route, const std::string& method, int status,
             std::chrono::steady_clock::time_point started) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string code = std::to_string(status);
    server_.metrics.add("sigil_http_requests_total", {{"listener", listener_->config.name},
                                                      {"route", route},
                                                      {"method", std::string(method_label(method))},
                                                      {"status", code}});
    server_.metrics.observe("sigil_http_request_duration_seconds",
                            {{"listener", listener_->config.name}, {"route", route}, {"status", code}}, secs);
  }

  void fail(int status, std::string_view detail) {
    keep_alive_ = false;
    server_.metrics.add("sigil_http_requests_total", {{"listener", listener_->config.name},
                                                      {"route", "unparsed"},
                                                      {"method", "-"},
                                                      {"status", std::to_string(status)}});
    write(Response::problem(status, "about:blank", detail));
  }

  // The response as one contiguous buffer (head, and a body up to kInlineBody): one TLS record
  // and one send for a typical answer; a larger body follows as a second buffer, uncopied.
  void write(Response r) {
    static constexpr std::size_t kInlineBody = 64 << 10;
    const bool keep = keep_alive_ && !server_.stopping && !too_old();
    const bool body = serialize_head(wbuf_, r, version_ == 10 ? 10 : 11, keep, http_date());
    if (!head_ && body) {
      if (r.body.size() <= kInlineBody)
        wbuf_ += r.body;
      else
        wbody_ = std::move(r.body);
    }
    beast::get_lowest_layer(stream_).expires_after(server_.limits.request_timeout);
    const std::array<asio::const_buffer, 2> bufs{asio::buffer(wbuf_), asio::buffer(wbody_)};
    asio::async_write(stream_, bufs, [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
      // A kept-alive connection keeps no large buffer between its responses (a big CRL once).
      std::string().swap(self->wbody_);
      if (self->wbuf_.capacity() > (16 << 10)) std::string().swap(self->wbuf_);
      if (ec || !keep) return self->shutdown();
      self->read();
    });
  }

  // The Date field (RFC 9110 §6.6.1), formatted once per second per thread.
  std::string_view http_date() const {
    thread_local std::int64_t second = -1;
    thread_local std::string text;
    const std::int64_t now = to_unix(server_.clock.now());
    if (now != second) {
      text = format_http_date(from_unix(now));
      second = now;
    }
    return text;
  }

  // Past the listener's max_connection_age the connection ends after the current response: a
  // client certificate revoked meanwhile is refused at the next handshake.
  bool too_old() const {
    const auto max_age = listener_->config.max_connection_age;
    return max_age > std::chrono::seconds(0) && server_.clock.now() - started_ >= max_age;
  }

  void shutdown() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.socket().close(ignored);
    }
  }

  Server::Impl& server_;
  std::shared_ptr<Listener> listener_;
  std::string remote_;
  Stream stream_;
  std::shared_ptr<TlsSnapshot> tls_;  // keeps the SSL_CTX this connection was made with
  TimePoint started_;                 // by the server's clock, for max_connection_age
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<const crypto::Certificate> peer_;
  std::optional<asio::steady_timer> check_timer_;  // bounds check_client
  bool checked_ = false;                           // check_client answered or timed out
  bool unverified_ = false;                        // the check could not reach the store: 503 only
  bool keep_alive_ = false;
  bool head_ = false;
  bool idle_ = false;
  unsigned version_ = 11;
  std::string wbuf_;   // the response being written: head and (most) body
  std::string wbody_;  // a large body, written after wbuf_
};

Result<tcp::endpoint> parse_endpoint(const std::string& address) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return make_error(Errc::invalid_argument, "invalid listen address '" + address + "'");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos)
      return make_error(Errc::invalid_argument, "invalid listen address '" + address + "' (HOST:PORT)");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::invalid_argument, "listen address must be an IP address: '" + address + "'");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    return make_error(Errc::invalid_argument, "invalid port in '" + address + "'");
  return tcp::endpoint(ip, static_cast<unsigned short>(std::stoi(port)));
}

std::string format_endpoint(const tcp::endpoint& e) {
  const auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

}  // namespace

void Server::Impl::accept(const std::shared_ptr<Listener>& l) {
  l->acceptor.async_accept([this, l](beast::error_code ec, tcp::socket accepted) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) return;
      log::warn("accept failed", {{"listener", l->config.name}, {"error", ec.message()}});
      return accept(l);
    }
    if (stopping) return;
    beast::error_code ignored;
    // The connection moves to the next I/O thread's context (round robin): its descriptor is
    // registered there, so everything it does runs on that one thread. Accepting straight into
    // another context would leave, at shutdown, a pending accept in this context holding a
    // socket of one destroyed before it.
    asio::io_context& target = io(static_cast<int>(next_io.fetch_add(1) % static_cast<unsigned>(io_threads)));
    tcp::socket socket(target);
    if (&target == &ioc) {
      socket = std::move(accepted);
    } else {
      const auto protocol = l->acceptor.local_endpoint(ignored).protocol();
      const auto fd = accepted.release(ec);
      if (!ec) socket.assign(protocol, fd, ec);
      if (ec) {
        if (fd >= 0 && !socket.is_open()) ::close(fd);
        log::warn("accept failed", {{"listener", l->config.name}, {"error", ec.message()}});
        return accept(l);
      }
    }
    const auto ep = socket.remote_endpoint(ignored);
    const std::string remote = ep.address().to_string();
    // Responses and handshake flights are written whole: Nagle would hold a flight's tail back
    // for the peer's delayed ACK (~40 ms per round trip).
    socket.set_option(tcp::no_delay(true), ignored);
    {
      std::lock_guard lock(l->mu);
      int& n = l->per_address[remote];
      if (n >= limits.max_connections_per_address) {
        metrics.add("sigil_connections_refused_total", {{"listener", l->config.name}, {"reason", "per_address_limit"}});
        socket.close(ignored);
        if (n == 0) l->per_address.erase(remote);
        return accept(l);
      }
      ++n;
    }
    std::shared_ptr<SessionBase> s;
    if (l->config.tls == TlsMode::none) {
      auto ps =
          std::make_shared<Session<beast::tcp_stream>>(*this, l, remote, beast::tcp_stream(std::move(socket)), nullptr);
      ps->start();
      s = ps;
    } else {
      std::shared_ptr<TlsSnapshot> snap = l->tls.load();
      auto ts = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, l, remote, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), snap->ctx),
          snap);
      ts->start();
      s = ts;
    }
    {
      std::lock_guard lock(sessions_mu);
      sessions.remove_if([](const std::weak_ptr<SessionBase>& w) { return w.expired(); });
      sessions.push_back(s);
    }
    accept(l);
  });
}

namespace {
const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}
}  // namespace

Server::Server(Metrics& metrics, Limits limits, int io_threads, int worker_threads)
    : Server(metrics, system_clock(), limits, io_threads, worker_threads) {}

Server::Server(Metrics& metrics, const Clock& clock, Limits limits, int io_threads, int worker_threads)
    : impl_(std::make_unique<Impl>(metrics, clock, limits, io_threads, worker_threads)) {
  metrics.describe("sigil_http_requests_total", "counter", "HTTP requests by listener, route, method and status");
  metrics.describe("sigil_http_request_duration_seconds", "histogram",
                   "Request handling time by listener, route and status");
  metrics.describe("sigil_tls_handshake_failures_total", "counter", "Refused TLS handshakes by listener and reason");
  metrics.describe("sigil_tls_handshakes_total", "counter", "Completed TLS handshakes");
  metrics.describe("sigil_connections_refused_total", "counter",
                   "Connections refused before TLS, by listener and reason");
}

Server::~Server() {
  stop(std::chrono::milliseconds(0));
  wait();
}

Result<std::string> Server::listen(const ListenerConfig& config, std::optional<TlsSettings> tls) {
  SIGIL_TRY(tcp::endpoint ep, parse_endpoint(config.address));
  auto l = std::make_shared<Listener>(impl_->ioc, config);
  if (config.tls != TlsMode::none) {
    if (!tls) return make_error(Errc::invalid_argument, "listener " + config.name + " needs TLS settings");
    SIGIL_TRY(auto snap, tls::build_snapshot(config.name, config.tls, std::move(*tls), impl_->clock, impl_->metrics,
                                             impl_->tls_sessions));
    l->tls.store(std::move(snap));
  }
  boost::system::error_code ec;
  l->acceptor.open(ep.protocol(), ec);
  if (!ec) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) l->acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) l->acceptor.bind(ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::io, "cannot listen on " + config.address + " (" + config.name + "): " + ec.message());
  const std::string bound = format_endpoint(l->acceptor.local_endpoint());
  impl_->listeners.push_back(std::move(l));
  return bound;
}

Status Server::update_tls(const std::string& listener, const TlsSettings& tls) {
  for (auto& l : impl_->listeners) {
    if (l->config.name != listener) continue;
    SIGIL_TRY(auto snap,
              tls::build_snapshot(listener, l->config.tls, tls, impl_->clock, impl_->metrics, impl_->tls_sessions));
    l->tls.store(std::move(snap));
    return {};
  }
  return make_error(Errc::not_found, "no TLS listener named " + listener);
}

void Server::start() {
  for (auto& l : impl_->listeners) impl_->accept(l);
  for (int i = 0; i < impl_->io_threads; ++i) impl_->threads.emplace_back([this, i] { impl_->io(i).run(); });
}

void Server::stop(std::chrono::milliseconds drain) {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->ioc, [this] {
    for (auto& l : impl_->listeners) {
      boost::system::error_code ignored;
      l->acceptor.close(ignored);
    }
  });
  // The sessions are taken out under the lock and told to close outside it: a reference taken
  // here may be a session's last, and its destructor takes the lock (session_ended).
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard lock(impl_->sessions_mu);
    for (auto& w : impl_->sessions)
      if (auto s = w.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->close_if_idle();
  open.clear();
  std::unique_lock lock(impl_->sessions_mu);
  impl_->sessions_cv.wait_for(lock, drain, [this] { return impl_->active == 0; });
  lock.unlock();
  for (int i = 0; i < impl_->io_threads; ++i) impl_->io(i).stop();
  impl_->workers.join();
  // Checks still queued are for connections that will never be served.
  impl_->checks.stop();
  impl_->checks.join();
  std::lock_guard slock(impl_->stopped_mu);
  impl_->stopped = true;
  impl_->stopped_cv.notify_all();
}

void Server::wait() {
  {
    std::unique_lock lock(impl_->stopped_mu);
    impl_->stopped_cv.wait(lock, [this] { return impl_->stopped; });
  }
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

}  // namespace sigil::http
