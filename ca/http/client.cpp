#include "ca/http/client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

#include "ca/crypto/handles.hpp"

namespace sigil::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct Client::Impl {
  bool tls = true;
  std::string host, port;
  ClientOptions options;
  asio::io_context ioc;
  std::optional<asio::ssl::context> ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  std::optional<beast::tcp_stream> plain_stream;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls_stream) : *plain_stream; }

  Status connect() {
    tls_stream.reset();
    plain_stream.reset();
    buffer.clear();
    boost::system::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return make_error(Errc::io, "cannot resolve " + host + ": " + ec.message());
    if (tls) {
      tls_stream.emplace(ioc, *ctx);
      SSL* ssl = tls_stream->native_handle();
      SSL_set_tlsext_host_name(ssl, host.c_str());
      SSL_set1_host(ssl, host.c_str());  // hostname verification (IP literals too)
    } else {
      plain_stream.emplace(ioc);
    }
    lowest().expires_after(options.timeout);
    lowest().connect(endpoints, ec);
    if (ec) return make_error(Errc::io, "cannot connect to " + host + ":" + port + ": " + ec.message());
    beast::error_code ignored;
    lowest().socket().set_option(asio::ip::tcp::no_delay(true), ignored);  // whole writes; no Nagle wait
    if (tls) {
      tls_stream->handshake(asio::ssl::stream_base::client, ec);
      if (ec)
        return make_error(Errc::unauthorized, "TLS handshake with " + host + ":" + port + " failed: " + ec.message());
    }
    return {};
  }

  template <class Stream>
  Result<Response> exchange(Stream& s, bhttp::request<bhttp::string_body>& req) {
    boost::system::error_code ec;
    lowest().expires_after(options.timeout);
    bhttp::write(s, req, ec);
    if (ec) return make_error(Errc::io, "write: " + ec.message());
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    bhttp::read(s, buffer, parser, ec);
    if (ec) return make_error(Errc::io, "read: " + ec.message());
    auto msg = parser.release();
    Response r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    if (!msg.keep_alive()) {
      tls_stream.reset();
      plain_stream.reset();
    }
    return r;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const std::string& base_url, ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  std::string rest;
  if (base_url.rfind("https://", 0) == 0) {
    rest = base_url.substr(8);
  } else if (base_url.rfind("http://", 0) == 0) {
    impl->tls = false;
    rest = base_url.substr(7);
  } else {
    return make_error(Errc::invalid_argument, "the server URL must start with https:// or http://");
  }
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return make_error(Errc::invalid_argument, "bad server URL " + base_url);
    impl->host = rest.substr(1, close - 1);
    impl->port = close + 2 <= rest.size() ? rest.substr(close + 2) : "";
  } else {
    const auto colon = rest.rfind(':');
    impl->host = rest.substr(0, colon);
    impl->port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  if (impl->port.empty()) impl->port = impl->tls ? "443" : "80";
  impl->options = std::move(options);
  if (impl->tls) {
    impl->ctx.emplace(asio::ssl::context::tls_client);
    SSL_CTX* c = impl->ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    boost::system::error_code ec;
    if (impl->options.ca_pem.empty())
      return make_error(Errc::invalid_argument, "no CA certificate to verify the server with");
    impl->ctx->add_certificate_authority(asio::buffer(impl->options.ca_pem), ec);
    if (ec)
      return make_error(Errc::invalid_argument, "cannot read the CA certificate: " + crypto::drain_openssl_errors());
    impl->ctx->set_verify_mode(asio::ssl::verify_peer);
    if (!impl->options.cert_pem.empty()) {
      impl->ctx->use_certificate_chain(asio::buffer(impl->options.cert_pem), ec);
      if (!ec) impl->ctx->use_private_key(asio::buffer(impl->options.key_pem), asio::ssl::context::pem, ec);
      if (ec)
        return make_error(Errc::invalid_argument,
                          "cannot use the client certificate or key: " + crypto::drain_openssl_errors());
    }
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(c, alpn, sizeof alpn);
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Response> Client::request(const std::string& method, const std::string& target, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  // RFC 9110 §7.2: the port too unless it is the scheme's default (servers build URLs from it).
  const bool default_port = impl_->port == (impl_->tls ? "443" : "80");
  const std::string host = impl_->host.find(':') != std::string::npos ? "[" + impl_->host + "]" : impl_->host;
  req.set(bhttp::field::host, default_port ? host : host + ":" + impl_->port);
  req.set(bhttp::field::user_agent, "sigil");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !(impl_->tls ? impl_->tls_stream.has_value() : impl_->plain_stream.has_value());
    if (fresh) SIGIL_TRY_STATUS(impl_->connect());
    auto r = impl_->tls ? impl_->exchange(*impl_->tls_stream, req) : impl_->exchange(*impl_->plain_stream, req);
    if (r || fresh) {
      if (!r) {
        impl_->tls_stream.reset();
        impl_->plain_stream.reset();
      }
      return r;
    }
    // A kept-alive connection the server closed meanwhile: one retry on a new one.
    impl_->tls_stream.reset();
    impl_->plain_stream.reset();
  }
  return make_error(Errc::io, "request failed");
}

}  // namespace sigil::http
