// libFuzzer: the HTTP request path as a listener runs it, minus the socket: bytes -> Beast's
// parser under the listener's limits (http::parse_request, shared with the sessions) -> the
// router, over a table with the shapes of the real ones (ca/api, acme/wfe): fixed paths,
// "{param}" segments, a "{rest*}" tail, client-certificate routes. Pipelined requests are parsed
// one after the other, as a keep-alive session would. Properties: a failed parse is one of the
// listener's answers (400/413/431); a client-certificate route never runs without a peer; a
// parameter is never empty; a handler sees only a matched method.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/http/http.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

namespace {

http::Router make_router() {
  http::Router r;
  auto echo = [](const http::Request& req) {
    for (const auto& [k, v] : req.params) SIGIL_FUZZ_ASSERT(!k.empty() && !v.empty());
    return http::Response::json(200, std::to_string(req.params.size()));
  };
  auto cert = [echo](const http::Request& req) {
    SIGIL_FUZZ_ASSERT(req.peer != nullptr);  // the router refuses before the handler runs
    return echo(req);
  };
  using http::Auth;
  r.add({"GET", "/health", Auth::none, echo, ""});
  r.add({"POST", "/api/v1/certificates", Auth::client_cert, cert, ""});
  r.add({"GET", "/api/v1/certificates/{serial}", Auth::client_cert, cert, ""});
  r.add({"POST", "/api/v1/certificates/{serial}/revoke", Auth::client_cert, cert, ""});
  r.add({"GET", "/api/v1/renewal-info/{serial}", Auth::none, echo, ""});
  r.add({"POST", "/api/v1/acme/eab/{kid}/revoke", Auth::client_cert, cert, ""});
  r.add({"GET", "/ca/{file}", Auth::none, echo, ""});
  r.add({"GET", "/ocsp/{request*}", Auth::none, echo, ""});
  r.add({"POST", "/ocsp", Auth::none, echo, ""});
  r.add({"GET", "/crl/{dir}/{file}", Auth::none, echo, ""});
  r.add({"POST", "/acme/order/{id}/finalize", Auth::none, echo, ""});
  r.add({"POST", "/acme/chall/{authz}/{type}", Auth::none, echo, ""});
  r.add({"GET", "/acme/renewal-info/{id}", Auth::none, echo, ""});
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const http::Router router = make_router();
  http::Limits limits;
  limits.max_header = 4096;  // small, so the limits are reached within -max_len
  limits.max_body = 2048;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < 16 && !rest.empty(); ++i) {  // a keep-alive session's pipelined requests
    auto parsed = http::parse_request(rest, limits);
    SIGIL_FUZZ_ASSERT(parsed.consumed <= rest.size());
    if (!parsed.request) {
      SIGIL_FUZZ_ASSERT(parsed.status == 0 || parsed.status == 400 || parsed.status == 413 || parsed.status == 431);
      break;
    }
    SIGIL_FUZZ_ASSERT(parsed.consumed > 0);
    http::Request& req = *parsed.request;
    SIGIL_FUZZ_ASSERT(req.body.size() <= limits.max_body);
    SIGIL_FUZZ_ASSERT(req.path.size() <= req.target.size());
    for (const auto& [name, value] : req.headers)
      for (char c : name) SIGIL_FUZZ_ASSERT(!(c >= 'A' && c <= 'Z'));
    const http::Response resp = router.dispatch(req);
    SIGIL_FUZZ_ASSERT(resp.status == 200 || resp.status == 401 || resp.status == 404 || resp.status == 405);
    // The response head as a listener writes it, with the request's fields echoed into it: one
    // blank line, at its end, and every line break a CRLF (no field can split the response).
    http::Response echo = resp;
    for (const auto& [name, value] : req.headers) echo.with(name, value);
    // And raw input as a field name and value (the parser never lets CR, LF or NUL through).
    const std::string_view raw(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 64));
    echo.with(std::string(raw.substr(0, raw.size() / 2)), std::string(raw.substr(raw.size() / 2)));
    std::string head;
    http::serialize_head(head, echo, 11, parsed.keep_alive, "");
    SIGIL_FUZZ_ASSERT(head.size() >= 4 && head.find("\r\n\r\n") == head.size() - 4);
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (head[i] == '\r') SIGIL_FUZZ_ASSERT(i + 1 < head.size() && head[i + 1] == '\n');
      if (head[i] == '\n') SIGIL_FUZZ_ASSERT(i > 0 && head[i - 1] == '\r');
      SIGIL_FUZZ_ASSERT(head[i] != '\0');
    }
    if (!parsed.keep_alive) break;
    rest.remove_prefix(parsed.consumed);
  }
  return 0;
}
