// Request bytes -> Request, as a listener reads them: Beast's parser under the listener's limits,
// then the target split and the header names lower-cased. The session (server.cpp) parses
// asynchronously from a socket and shares the second half; parse_request() does the whole of it
// on bytes in memory, so a fuzzer can drive the real parser and router with no socket.
// The other direction too: serialize_head() is a response's status line and fields as written.
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

namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "";  // RFC 9112 §4: the reason phrase may be empty
  }
}

// A field a handler set that would split the response (CR, LF, NUL) is not written.
bool writable(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

// RFC 9110 §5.1: a field name is a token.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

}  // namespace

bool has_body(int status) { return !(status < 200 || status == 204 || status == 304); }

int final_status(int status) { return status >= 200 && status <= 599 ? status : 500; }

bool serialize_head(std::string& out, const Response& r, unsigned version, bool keep_alive, std::string_view date) {
  out.clear();
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const int status = final_status(r.status);
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  bool has_cache = false, has_date = false;
  for (const auto& [k, v] : r.headers) {
    // Framing is the listener's: a handler's own Content-Length, Transfer-Encoding or Connection is dropped.
    if (!is_token(k) || !writable(v) || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection"))
      continue;
    has_cache = has_cache || iequals(k, "cache-control");
    has_date = has_date || iequals(k, "date");
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";  // a repeated name (Link) stays repeated
  }
  if (!has_cache) out += "Cache-Control: no-store\r\n";
  if (!has_date && !date.empty()) {
    out += "Date: ";
    out += date;
    out += "\r\n";
  }
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  if (has_body(status)) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  return has_body(status);
}

}  // namespace sigil::http
