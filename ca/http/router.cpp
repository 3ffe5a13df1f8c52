#include <algorithm>
#include <nlohmann/json.hpp>

#include "ca/base/log.hpp"
#include "ca/http/http.hpp"

namespace sigil::http {

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", std::move(content_type));
  return r;
}

Response Response::problem(int status, std::string_view type, std::string_view detail) {
  nlohmann::json j = {{"type", type}, {"status", status}, {"detail", detail}};
  Response r;
  r.status = status;
  r.body = j.dump();
  r.headers.emplace_back("Content-Type", "application/problem+json");
  return r;
}

Response Response::problem(const Error& e) {
  const ErrorInfo& i = info(e.code);
  if (i.http_status >= 500) {
    // Internal detail (SQL, OpenSSL's queue) goes to the log, never to the client.
    log::error("request failed", {{"code", std::string(i.name)}, {"detail", e.detail}});
    if (e.code == Errc::unavailable) {
      // A database failover: nothing was written; the client retries shortly (RFC 9110 §10.2.3).
      return problem(i.http_status, i.problem_type, "temporarily unavailable, retry shortly").with("Retry-After", "2");
    }
    return problem(i.http_status, i.problem_type, "internal error");
  }
  return problem(i.http_status, i.problem_type, e.detail);
}

namespace {
// Splits "/a/b/c" into segments; "" for the root.
std::vector<std::string_view> segments(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t start = 1;
  if (p.empty() || p[0] != '/') return out;
  while (start <= p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    out.push_back(p.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
}  // namespace

void Router::add(Route r) {
  if (r.name.empty()) r.name = r.pattern;
  Pattern p;
  for (const auto seg : segments(r.pattern)) p.segments.emplace_back(seg);
  const auto& last = p.segments.empty() ? std::string() : p.segments.back();
  p.rest = last.size() > 3 && last.front() == '{' && last.substr(last.size() - 2) == "*}";
  patterns_.push_back(std::move(p));
  routes_.push_back(std::move(r));
}

void Router::authenticate(Auth::Kind kind, Authenticator a) { authenticators_[kind] = std::move(a); }

namespace {
bool is_param(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }
}  // namespace

const Route* Router::match(std::string_view method, std::string_view path, std::map<std::string, std::string>& params,
                           bool& path_matched) const {
  const auto segs = segments(path);
  path_matched = false;
  for (std::size_t k = 0; k < routes_.size(); ++k) {
    const Route& r = routes_[k];
    const auto& pat = patterns_[k].segments;
    const bool rest = patterns_[k].rest;
    if (rest ? segs.size() < pat.size() : pat.size() != segs.size()) continue;
    // Literal segments first: most routes fail there, before any parameter is decoded.
    bool ok = true;
    for (std::size_t i = 0; ok && i < pat.size(); ++i) {
      if (rest && i + 1 == pat.size()) break;
      ok = is_param(pat[i]) ? !segs[i].empty() : pat[i] == segs[i];
    }
    if (!ok) continue;
    std::map<std::string, std::string> got;
    for (std::size_t i = 0; i < pat.size(); ++i) {
      if (rest && i + 1 == pat.size()) {
        // "{name*}": the remaining segments, '/' kept (base64 in OCSP GET paths has slashes).
        std::string joined;
        for (std::size_t j = i; j < segs.size(); ++j) joined += (j > i ? "/" : "") + std::string(segs[j]);
        if (joined.empty()) {
          ok = false;
          break;
        }
        got[pat[i].substr(1, pat[i].size() - 3)] = percent_decode(joined, false);
      } else if (is_param(pat[i])) {
        got[pat[i].substr(1, pat[i].size() - 2)] = percent_decode(segs[i], false);
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (r.method != method && !(method == "HEAD" && r.method == "GET")) continue;
    params = std::move(got);
    return &r;
  }
  return nullptr;
}

Response Router::dispatch(Request& req) const {
  bool path_matched = false;
  const Route* r = match(req.method, req.path, req.params, path_matched);
  return dispatch(req, r, path_matched);
}

Response Router::dispatch(Request& req, const Route* r, bool path_matched) const {
  if (!r) {
    if (path_matched) return Response::problem(405, "about:blank", "method not allowed");
    return Response::problem(404, "about:blank", "no such resource");
  }
  req.principal.reset();
  if (r->auth.kind == Auth::Kind::none) return r->handler(req);
  // Without a certificate there is nobody to authenticate: the transport's answer, whoever
  // registered the authenticator.
  if (r->auth.kind == Auth::Kind::client_cert && !req.peer)
    return Response::problem(401, "urn:ietf:params:acme:error:unauthorized", "a client certificate is required");
  auto a = authenticators_.find(r->auth.kind);
  if (a == authenticators_.end()) {
    log::error("route without an authenticator", {{"route", r->name}});
    return Response::problem(500, "about:blank", "internal error");
  }
  auto out = a->second(req, *r);
  if (auto* refused = std::get_if<Response>(&out)) return std::move(*refused);
  auto& principal = std::get<std::shared_ptr<const Principal>>(out);
  if (!principal) {
    log::error("authenticator returned no principal", {{"route", r->name}});
    return Response::problem(500, "about:blank", "internal error");
  }
  req.principal = std::move(principal);
  return r->handler(req);
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace sigil::http
