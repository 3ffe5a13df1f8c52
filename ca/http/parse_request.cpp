// Request bytes -> Request, as a listener reads them: Beast's parser under the listener's limits,
// then the target split and the header names lower-cased. The session (server.cpp) parses
// asynchronously from a socket and shares the second half; parse_request() does the whole of it
// on bytes in memory, so a fuzzer can drive the real parser and router with no socket.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>

#include "ca/http/http.hpp"

namespace sigil::http {

namespace bhttp = boost::beast::http;

void set_target(Request& req, std::string_view target) {
  req.target = std::string(target);
  const auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query.clear();
  if (q == std::string::npos) return;
  std::string_view qs = std::string_view(req.target).substr(q + 1);
  while (!qs.empty()) {
    const auto amp = qs.find('&');
    const std::string_view kv = qs.substr(0, amp);
    const auto eq = kv.find('=');
    req.query[percent_decode(kv.substr(0, eq), true)] =
        eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    qs = qs.substr(amp + 1);
  }
}

void add_header(Request& req, std::string_view name, std::string_view value) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  req.headers.emplace_back(std::move(lower), std::string(value));
}

ParsedRequest parse_request(std::string_view bytes, const Limits& limits) {
  ParsedRequest out;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(limits.max_body);
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header, UINT32_MAX)));
  parser.eager(true);
  boost::beast::error_code ec;
  while (!parser.is_done()) {
    const std::string_view rest = bytes.substr(out.consumed);
    if (rest.empty()) return out;  // incomplete
    const std::size_t n = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    out.consumed += n;
    // The parser wants more than all there is (Beast's contract: the next put() must offer the
    // unconsumed bytes plus new ones). A listener would wait for more, then time out.
    if (ec == bhttp::error::need_more) return out;
    if (ec == bhttp::error::body_limit) {
      out.status = 413;
      return out;
    }
    if (ec == bhttp::error::header_limit) {
      out.status = 431;
      return out;
    }
    if (ec) {
      out.status = 400;
      return out;
    }
    if (n == 0) return out;
  }
  auto msg = parser.release();
  Request req;
  req.method = std::string(msg.method_string());
  set_target(req, msg.target());
  for (const auto& f : msg) add_header(req, f.name_string(), f.value());
  req.body = std::move(msg.body());
  out.keep_alive = msg.keep_alive();
  out.request = std::move(req);
  return out;
}

}  // namespace sigil::http
