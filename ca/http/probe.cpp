// The validation authority's network probes: a fresh io_context per probe, one coroutine,
// every operation bounded by the probe's deadline (Beast's tcp_stream timer closes the socket
// when it passes; synchronous Beast calls would ignore it).
#include "ca/http/probe.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <exception>
#include <string_view>

#include "ca/base/error.hpp"

namespace sigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

enum class Stage { connect, handshake, exchange };

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout || ec == asio::error::timed_out; }

std::string tls_reason(const error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return r;
  }
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "the peer closed the connection";
  return ec.message();
}

ProbeError classify(const error_code& ec, Stage stage) {
  using K = ProbeError::Kind;
  ERR_clear_error();  // whatever OpenSSL queued is described by `ec` already
  if (is_timeout(ec)) {
    switch (stage) {
      case Stage::connect:
        return {K::timeout, false, "timeout during connect"};
      case Stage::handshake:
        return {K::timeout, true, "timeout during the TLS handshake"};
      case Stage::exchange:
        return {K::timeout, true, "timeout waiting for the response"};
    }
  }
  switch (stage) {
    case Stage::connect:
      return {K::connect, false, ec.message()};
    case Stage::handshake:
      return {K::tls, true, "TLS handshake failed: " + tls_reason(ec)};
    case Stage::exchange:
      break;
  }
  if (ec == bhttp::error::body_limit) return {K::too_large, true, "the response body is too large"};
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
    return {K::protocol, true, "the response is not valid HTTP (" + ec.message() + ")"};
  if (ec == asio::error::eof || ec == bhttp::error::end_of_stream || ec == asio::ssl::error::stream_truncated)
    return {K::connect, true, "the server closed the connection before a complete response"};
  if (ec.category() == asio::error::get_ssl_category()) return {K::tls, true, "TLS error: " + tls_reason(ec)};
  return {K::connect, true, ec.message()};
}

bool is_ip_literal(std::string_view s) {
  error_code ec;
  (void)asio::ip::make_address(std::string(s), ec);
  return !ec;
}

// The SNI for a Host header value: the host without brackets or port; none for IP literals.
std::string sni_from_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') return {};
  const auto colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  return is_ip_literal(host) ? std::string() : std::string(host);
}

Result<tcp::endpoint> endpoint_of(const std::string& address, int port) {
  error_code ec;
  const auto addr = asio::ip::make_address(address, ec);
  if (ec) return make_error(Errc::invalid_argument, "not an IP address: " + address);
  if (port <= 0 || port > 65535) return make_error(Errc::invalid_argument, "bad port " + std::to_string(port));
  return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

// An SSL_CTX for probing: TLS 1.2 or later, no verification (the caller judges the peer).
asio::ssl::context probe_context() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  return ctx;
}

template <class Probe>
std::chrono::steady_clock::time_point connect_deadline(const Probe& p) {
  return p.connect_deadline ? std::min(*p.connect_deadline, p.deadline) : p.deadline;
}

Bytes alpn_wire(const std::vector<std::string>& protocols) {
  Bytes wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) continue;
    wire.push_back(static_cast<std::uint8_t>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

void prepare_ssl(SSL* ssl, const std::string& sni, const std::vector<std::string>& alpn) {
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  const Bytes wire = alpn_wire(alpn);
  if (!wire.empty()) SSL_set_alpn_protos(ssl, wire.data(), static_cast<unsigned int>(wire.size()));
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const HttpProbe& p, HttpProbeResult& out) {
  error_code ec;
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, p.target, 11};
  req.set(bhttp::field::host, p.host);
  req.set(bhttp::field::user_agent, "sigil-va");
  req.set(bhttp::field::accept, "*/*");
  req.keep_alive(false);
  co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = classify(ec, Stage::exchange);
    co_return;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(p.max_header));
  parser.body_limit(p.max_body);
  co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  // A body delimited by the end of the connection, over TLS without close_notify: what
  // arrived is the body (browsers and Go's client accept it too).
  if (ec == asio::ssl::error::stream_truncated && parser.is_header_done() && !parser.chunked() &&
      !parser.content_length()) {
    ec = {};
    parser.put_eof(ec);
  }
  if (ec) {
    out.error = classify(ec, Stage::exchange);
    co_return;
  }
  auto msg = parser.release();
  out.status = static_cast<int>(msg.result_int());
  if (auto it = msg.find(bhttp::field::location); it != msg.end()) out.location = std::string(it->value());
  out.body = std::move(msg.body());
}

asio::awaitable<void> run_get(const HttpProbe& p, tcp::endpoint ep, HttpProbeResult& out) {
  error_code ec;
  beast::tcp_stream tcp_stream(co_await asio::this_coro::executor);
  tcp_stream.expires_at(connect_deadline(p));
  co_await tcp_stream.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = classify(ec, Stage::connect);
    co_return;
  }
  tcp_stream.expires_at(p.deadline);
  if (!p.tls) {
    co_await exchange(tcp_stream, p, out);
    co_return;
  }
  auto ctx = probe_context();
  beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), ctx);
  beast::get_lowest_layer(tls).expires_at(p.deadline);
  prepare_ssl(tls.native_handle(), sni_from_host(p.host), {"http/1.1"});
  co_await tls.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = classify(ec, Stage::handshake);
    co_return;
  }
  co_await exchange(tls, p, out);
}

asio::awaitable<void> run_tls(const TlsProbe& p, tcp::endpoint ep, TlsProbeResult& out) {
  error_code ec;
  auto ctx = probe_context();
  beast::ssl_stream<beast::tcp_stream> tls(co_await asio::this_coro::executor, ctx);
  auto& lowest = beast::get_lowest_layer(tls);
  lowest.expires_at(connect_deadline(p));
  co_await lowest.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = classify(ec, Stage::connect);
    co_return;
  }
  lowest.expires_at(p.deadline);
  SSL* ssl = tls.native_handle();
  prepare_ssl(ssl, p.sni, p.alpn);
  co_await tls.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = classify(ec, Stage::handshake);
    co_return;
  }
  const unsigned char* selected = nullptr;
  unsigned int selected_len = 0;
  SSL_get0_alpn_selected(ssl, &selected, &selected_len);
  if (selected) out.alpn.assign(reinterpret_cast<const char*>(selected), selected_len);
  out.version = SSL_get_version(ssl);
  if (X509* leaf = SSL_get0_peer_certificate(ssl)) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(leaf, &der);
    if (n > 0) out.leaf_der.assign(der, der + n);
    OPENSSL_free(der);
    if (n <= 0) out.error = ProbeError{ProbeError::Kind::tls, true, "cannot encode the peer's certificate"};
  }
  ERR_clear_error();
  // No close_notify: the handshake is all we came for; closing the socket ends it.
}

// Runs one probe coroutine to completion on a private io_context.
template <class Out>
void run(asio::awaitable<void> task, Out& out) {
  asio::io_context ioc(1);
  asio::co_spawn(ioc, std::move(task), [&out](std::exception_ptr e) {
    if (e) out.error = ProbeError{ProbeError::Kind::protocol, true, "internal error while probing"};
  });
  ioc.run();
  ERR_clear_error();  // leave this thread's OpenSSL error queue as we found it: empty
}

}  // namespace

HttpProbeResult probe_http_get(const HttpProbe& probe) {
  HttpProbeResult out;
  auto ep = endpoint_of(probe.address, probe.port);
  if (!ep) {
    out.error = ProbeError{ProbeError::Kind::connect, false, ep.error().detail};
    return out;
  }
  run(run_get(probe, *ep, out), out);
  return out;
}

TlsProbeResult probe_tls(const TlsProbe& probe) {
  TlsProbeResult out;
  auto ep = endpoint_of(probe.address, probe.port);
  if (!ep) {
    out.error = ProbeError{ProbeError::Kind::connect, false, ep.error().detail};
    return out;
  }
  run(run_tls(probe, *ep, out), out);
  return out;
}

}  // namespace sigil::http
