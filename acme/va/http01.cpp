// http-01 (RFC 8555 §8.3): GET http://<identifier>/.well-known/acme-challenge/<token>, with
// Boulder's redirect rules (see va.hpp). Every hop is resolved and vetted like the first.
#include <algorithm>
#include <cctype>
#include <optional>

#include "acme/va/va_internal.hpp"
#include "ca/http/probe.hpp"

namespace sigil::acme::va::internal {
namespace {

constexpr std::size_t kMaxBody = 64 << 10;
constexpr std::size_t kMaxHeader = 16 << 10;

struct Url {
  std::string scheme;  // "http" | "https"
  std::string host;    // a lower-case DNS name, or an IP address in canonical text form
  bool host_is_ip = false;
  std::optional<int> port;  // as written; none: the configured port for the scheme
  std::string target;       // path and query

  // The Host header: what the URL names, IPv6 in brackets, an explicit port kept.
  std::string authority() const {
    std::string a = host_is_ip && host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return port ? a + ":" + std::to_string(*port) : a;
  }
  std::string text() const { return scheme + "://" + authority() + target; }
  int connect_port(const Config& c) const { return port ? *port : scheme == "http" ? c.http01_port : c.https_port; }
};

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(kSpace);
  return std::string(s.substr(b, e - b + 1));
}

Problem redirect_problem(std::string why) { return Problem{"connection", std::move(why)}; }

// A redirect's host: a DNS name, or the IP identifier itself (Boulder refuses IP hosts;
// RFC 8738 identifiers need their own address to stay reachable).
std::optional<Problem> set_host(Url& url, std::string_view host, const Task& task) {
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return redirect_problem("Invalid host in redirect target");
    host = host.substr(1, host.size() - 2);
  }
  if (const auto ip = ip_bytes(host)) {
    const std::string text = ip_text(*ip);
    if (task.identifier_type != "ip" || text != task.identifier)
      return redirect_problem("Invalid host in redirect target " + quote(host) +
                              ". Only domain names are supported, not IP addresses");
    url.host = text;
    url.host_is_ip = true;
    return std::nullopt;
  }
  std::string name = lower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (!is_dns_name(name)) return redirect_problem("Invalid host in redirect target " + quote(host));
  url.host = std::move(name);
  url.host_is_ip = false;
  return std::nullopt;
}

std::optional<Problem> set_port(Url& url, std::string_view port, const Config& config) {
  if (port.size() > 5 || !all_digits(port)) return redirect_problem("Invalid port in redirect target " + quote(port));
  const int p = std::stoi(std::string(port));
  if (p != 80 && p != 443 && p != config.http01_port && p != config.https_port) {
    std::string allowed = "80 and 443";
    if (config.http01_port != 80 && config.http01_port != 443) allowed += ", " + std::to_string(config.http01_port);
    if (config.https_port != 80 && config.https_port != 443 && config.https_port != config.http01_port)
      allowed += ", " + std::to_string(config.https_port);
    return redirect_problem("Invalid port in redirect target. Only ports " + allowed + " are supported, not " +
                            std::to_string(p));
  }
  url.port = p;
  return std::nullopt;
}

// Resolves a Location header against the URL that answered with it.
Checked<Url> follow(const Url& base, std::string_view location, const Context& ctx, const Task& task) {
  std::string_view loc = location;
  while (!loc.empty() && (loc.front() == ' ' || loc.front() == '\t')) loc.remove_prefix(1);
  while (!loc.empty() && (loc.back() == ' ' || loc.back() == '\t')) loc.remove_suffix(1);
  if (const auto hash = loc.find('#'); hash != std::string_view::npos) loc = loc.substr(0, hash);
  if (loc.empty()) return redirect_problem("Redirect from " + base.text() + " without a Location");
  for (const char c : loc)
    if (c <= 0x20 || c >= 0x7f)
      return redirect_problem("Invalid characters in redirect target " + quote(location, 128));

  Url next = base;
  std::string scheme_relative;
  // RFC 3986 §3.1: a scheme is a letter, then letters, digits, '+', '-', '.', then ':'.
  std::size_t i = 0;
  if (std::isalpha(static_cast<unsigned char>(loc[0]))) {
    while (i < loc.size() &&
           (std::isalnum(static_cast<unsigned char>(loc[i])) || loc[i] == '+' || loc[i] == '-' || loc[i] == '.'))
      ++i;
  }
  const bool has_scheme = i > 0 && i < loc.size() && loc[i] == ':';
  if (has_scheme) {
    next.scheme = lower(loc.substr(0, i));
    if (next.scheme != "http" && next.scheme != "https")
      return redirect_problem(
          "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are "
          "supported, not " +
          quote(next.scheme));
    loc = loc.substr(i + 1);
    if (loc.substr(0, 2) != "//") return redirect_problem("Invalid redirect target " + quote(location, 128));
  }
  if (loc.substr(0, 2) == "//") {
    loc = loc.substr(2);
    const auto end = loc.find_first_of("/?");
    const std::string_view auth = loc.substr(0, end);
    loc = end == std::string_view::npos ? std::string_view() : loc.substr(end);
    if (auth.find('@') != std::string_view::npos)
      return redirect_problem("Invalid redirect target " + quote(location, 128) + ": user information");
    std::string_view host = auth, port;
    const auto close = auth.rfind(']');
    const auto colon = auth.rfind(':');
    if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
      host = auth.substr(0, colon);
      port = auth.substr(colon + 1);
    }
    if (auto p = set_host(next, host, task)) return *p;
    next.port.reset();
    if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close))
      if (auto p = set_port(next, port, ctx.settings.config)) return *p;
    next.target = loc.empty() ? "/" : std::string(loc);
  } else if (!loc.empty() && loc.front() == '/') {
    next.target = std::string(loc);
  } else {
    // Relative to the current path: its query replaced, or its last segment.
    const std::string path = base.target.substr(0, base.target.find('?'));
    next.target = loc.front() == '?' ? path + std::string(loc) : path.substr(0, path.rfind('/') + 1) + std::string(loc);
  }
  return next;
}

struct Fetched {
  http::HttpProbeResult response;
  std::string address;
};

Problem fetch_problem(const http::ProbeError& e, const Url& url, const std::string& address, int port) {
  const std::string where =
      "Fetching " + url.text() + " (" + address + ":" + std::to_string(port) + ", " + address_class(address) + "): ";
  using K = http::ProbeError::Kind;
  switch (e.kind) {
    case K::tls:
      return Problem{"tls", where + e.detail};
    case K::too_large:
      return Problem{"incorrectResponse", where + "the response is larger than " + std::to_string(kMaxBody) + " bytes"};
    case K::timeout:
      return Problem{"connection",
                     where + e.detail + (e.connected ? "" : " (likely a firewall problem, or nothing listening)")};
    case K::connect:
    case K::protocol:
      break;
  }
  return Problem{"connection", where + e.detail};
}

Checked<Fetched> fetch(Context& ctx, const Url& url) {
  auto addresses = addresses_to_try(ctx, url.host, url.host_is_ip);
  if (!addresses) return addresses.problem();
  const int port = url.connect_port(ctx.settings.config);
  for (std::size_t i = 0; i < addresses->size(); ++i) {
    const std::string& address = (*addresses)[i];
    const bool more = i + 1 < addresses->size();
    ctx.addresses_tried.push_back(address);
    http::HttpProbe probe;
    probe.address = address;
    probe.port = port;
    probe.tls = url.scheme == "https";
    probe.host = url.authority();
    probe.target = url.target;
    probe.max_body = kMaxBody;
    probe.max_header = kMaxHeader;
    probe.deadline = ctx.deadline;
    probe.connect_deadline = connect_deadline(ctx.deadline, more);
    auto r = http::probe_http_get(probe);
    if (r.error && !r.error->connected && more) continue;  // the next address (IPv4 after IPv6)
    if (r.error) return fetch_problem(*r.error, url, address, port);
    return Fetched{std::move(r), address};
  }
  return Problem{"connection", "No address to fetch " + url.text() + " from"};
}

}  // namespace

std::optional<Problem> validate_http01(Context& ctx, const Task& task) {
  Url url{"http", task.identifier, task.identifier_type == "ip", std::nullopt,
          "/.well-known/acme-challenge/" + task.token};
  const std::string first = url.text();
  std::vector<std::string> visited{first};
  const int max_redirects = ctx.settings.config.max_redirects;
  for (int redirects = 0;;) {
    auto fetched = fetch(ctx, url);
    if (!fetched) return fetched.problem();
    const auto& r = fetched->response;
    const std::string from = url.text() + " [" + fetched->address + ", " + address_class(fetched->address) + "]";
    if (is_redirect(r.status)) {
      if (redirects == max_redirects)
        return Problem{"connection", "Too many redirects fetching " + first + " (at most " +
                                         std::to_string(max_redirects) + " are followed)"};
      auto next = follow(url, r.location, ctx, task);
      if (!next) return next.problem();
      if (std::find(visited.begin(), visited.end(), next->text()) != visited.end())
        return Problem{"connection", "Redirect loop detected at " + next->text()};
      visited.push_back(next->text());
      url = std::move(*next);
      ++redirects;
      continue;
    }
    if (r.status != 200)
      return Problem{"unauthorized", "Invalid response from " + from + ": " + std::to_string(r.status)};
    const std::string body = trim(r.body);
    if (body == task.key_authorization) return std::nullopt;
    // The length only, never the bytes: the body may come from a host the client pointed us
    // at, and the error is shown to that client.
    return Problem{"unauthorized",
                   "The key authorization file from the server did not match this challenge. Expected " +
                       quote(task.key_authorization, 256) + " (got " + std::to_string(body.size()) +
                       " other bytes) from " + from};
  }
}

}  // namespace sigil::acme::va::internal
