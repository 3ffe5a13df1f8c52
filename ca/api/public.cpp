// The public listener's routes (plain HTTP, for relying parties): CA certificates, OCSP, CRLs and
// the index page; and the health routes every listener serves.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ca/api/health_routes.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/ocsp.hpp"

namespace sigil::api {

using http::Request;
using http::Response;
using nlohmann::json;

namespace {
Response health_response(const ReadinessProbe& probe) {
  const Readiness r = probe ? probe() : Readiness{};
  json j = {{"status", "ok"}};
  if (!r.node.empty()) j["node"] = r.node;
  if (r.failing.empty()) return Response::json(200, j.dump());
  j["status"] = "unavailable";
  j["failing"] = r.failing;
  j["detail"] = r.detail;
  return Response::json(503, j.dump()).with("Retry-After", "2");
}
}  // namespace

void add_health_routes(http::Router& r, const ReadinessProbe& probe) {
  auto ready = [probe](const Request&) { return health_response(probe); };
  r.add({"GET", "/health", http::Auth::none, ready, "/health",
         [ready](const Request& req) { return std::optional<Response>(ready(req)); }});
  auto live = [](const Request&) { return Response::json(200, R"({"status":"ok"})"); };
  r.add({"GET", "/health/live", http::Auth::none, live, "/health/live",
         [live](const Request& req) { return std::optional<Response>(live(req)); }});
}

namespace {
// If-None-Match (RFC 9110 §13.1.2): "*" or a list of entity tags, compared weakly.
bool etag_matches(std::string_view header, std::string_view etag) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view t = header.substr(pos, end - pos);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    if (t == "*" || t == etag) return true;
    pos = end + 1;
  }
  return false;
}

// A cacheable immutable-until-next-update document, with conditional GET.
// `date_is_exact` false: another version was served with the same Last-Modified second, so an
// If-Modified-Since equal to it cannot prove the client has this one (200, not 304).
Response cacheable(const Request& req, std::string content_type, const Bytes& body, const std::string& etag,
                   TimePoint last_modified, std::optional<TimePoint> expires, TimePoint now,
                   bool date_is_exact = true) {
  const std::string lm = format_http_date(last_modified);
  std::int64_t max_age = 3600;
  if (expires) max_age = std::max<std::int64_t>(0, std::chrono::duration_cast<Seconds>(*expires - now).count());
  auto headers = [&](Response& r) {
    r.with("ETag", etag).with("Last-Modified", lm).with("Cache-Control", "public, max-age=" + std::to_string(max_age));
    if (expires) r.with("Expires", format_http_date(*expires));
  };
  bool not_modified = false;
  if (auto inm = req.header("if-none-match")) {
    not_modified = etag_matches(*inm, etag);
  } else if (auto ims = req.header("if-modified-since")) {
    auto t = parse_http_date(*ims);
    not_modified =
        t && (to_unix(last_modified) < to_unix(*t) || (date_is_exact && to_unix(last_modified) == to_unix(*t)));
  }
  Response r;
  if (not_modified) {
    r.status = 304;
  } else {
    r.status = 200;
    r.body.assign(body.begin(), body.end());
    r.with("Content-Type", std::move(content_type));
  }
  headers(r);
  return r;
}
}  // namespace

namespace {
std::string html_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// GET / on the public listener: what a relying party or a new operator looks for, as links
// relative to this listener (the roots, each intermediate with its CRLs, the OCSP responder).
Response public_index(const revocation::Publishers& publishers, std::size_t roots) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sigil CA</title></head><body>\n"
      "<h1>Sigil certificate authority</h1>\n<h2>Roots</h2>\n<ul>\n"
      "<li><a href=\"/ca/root.crt\">/ca/root.crt</a> (DER)</li>\n"
      "<li><a href=\"/ca/roots.pem\">/ca/roots.pem</a> (PEM, " +
      std::to_string(roots) + (roots == 1 ? " root" : " roots") + ")</li>\n</ul>\n<h2>Intermediates</h2>\n<ul>\n";
  for (const auto& a : publishers.links()) {
    h += "<li><a href=\"" + html_escape(a.ca_path) + "\">" + html_escape(a.subject) + "</a>" +
         (a.current ? " (issuing)" : " (replaced)") + ", expires " + format_rfc3339(a.not_after);
    if (a.crl_paths.empty()) h += "; CRL not published yet";
    for (const auto& p : a.crl_paths) h += "<br>CRL <a href=\"" + html_escape(p) + "\">" + html_escape(p) + "</a>";
    h += "</li>\n";
  }
  h += "</ul>\n<h2>OCSP</h2>\n<p>POST application/ocsp-request to <code>/ocsp</code>, or GET "
       "<code>/ocsp/&lt;base64 request&gt;</code> (RFC 6960, RFC 5019).</p>\n"
       "<p><a href=\"/health\">/health</a></p>\n</body></html>\n";
  Response resp = Response::text(200, std::move(h), "text/html; charset=utf-8");
  resp.with("Content-Security-Policy", "default-src 'none'").with("X-Content-Type-Options", "nosniff");
  return resp;
}
}  // namespace

std::shared_ptr<const http::Router> public_router(PublicDeps& d) {
  auto r = std::make_shared<http::Router>();
  add_health_routes(*r, d.readiness);
  r->add(
      {"GET", "/", http::Auth::none, [&d](const Request&) { return public_index(d.publishers, d.roots.size()); }, "/"});
  const auto started = d.clock.now();
  auto etag_of = [](const Bytes& der) { return "\"" + to_hex(crypto::sha256(der)).substr(0, 16) + "\""; };
  if (d.roots.empty()) throw std::invalid_argument("public_router: no root");
  std::string roots_pem;
  for (const Bytes& root : d.roots) roots_pem += pem_encode("CERTIFICATE", root);
  auto roots_pem_bytes = std::make_shared<const Bytes>(roots_pem.begin(), roots_pem.end());
  r->add({"GET", "/ca/{file}", http::Auth::none,
          [&d, roots_pem_bytes, etag_of, started](const Request& req) {
            const std::string& file = req.params.at("file");
            if (auto der = d.publishers.ca_certificate("/ca/" + file))
              return cacheable(req, "application/pkix-cert", *der, etag_of(*der), started, std::nullopt, d.clock.now());
            if (file == "root.crt")
              return cacheable(req, "application/pkix-cert", d.roots.front(), etag_of(d.roots.front()), started,
                               std::nullopt, d.clock.now());
            if (file == "roots.pem")
              return cacheable(req, "application/x-pem-file", *roots_pem_bytes, etag_of(*roots_pem_bytes), started,
                               std::nullopt, d.clock.now());
            return Response::problem(404, "about:blank", "no such CA certificate");
          },
          "/ca/{file}"});
  // OCSP (RFC 6960 Appendix A, RFC 5019): POST application/ocsp-request, or GET with the
  // base64 request in the path. Pre-signed answers are served on the I/O thread.
  auto ocsp_response = [&d](const revocation::OcspAnswer& a) {
    Response resp;
    resp.status = 200;
    resp.body.assign(a.der->begin(), a.der->end());
    resp.with("Content-Type", "application/ocsp-response");
    if (a.cacheable) {
      const auto max_age =
          std::max<std::int64_t>(0, std::chrono::duration_cast<Seconds>(a.next_update - d.clock.now()).count());
      resp.with("Cache-Control", "max-age=" + std::to_string(max_age) + ", public, no-transform, must-revalidate")
          .with("Last-Modified", format_http_date(a.this_update))
          .with("Expires", format_http_date(a.next_update))
          .with("ETag", a.etag);
    }
    return resp;
  };
  constexpr std::size_t kMaxOcspRequest = 4096;
  auto decode_get = [](const Request& req) -> std::optional<Bytes> {
    std::string b64 = req.params.at("request");
    if (b64.size() > kMaxOcspRequest * 2) return std::nullopt;
    auto der = base64_decode(b64);
    if (!der) return std::nullopt;
    return *der;
  };
  auto malformed = [](int status) {
    Response resp;
    resp.status = status;
    const Bytes body = crypto::ocsp::error_response(crypto::ocsp::ResponseStatus::malformed_request);
    resp.body.assign(body.begin(), body.end());
    resp.with("Content-Type", "application/ocsp-response");
    return resp;
  };
  http::Route get{"GET", "/ocsp/{request*}", http::Auth::none,
                  [&d, decode_get, ocsp_response, malformed](const Request& req) {
                    auto der = decode_get(req);
                    if (!der) return malformed(400);
                    return ocsp_response(d.publishers.respond(*der));
                  },
                  "/ocsp/{request}"};
  get.fast = [&d, decode_get, ocsp_response](const Request& req) -> std::optional<Response> {
    auto der = decode_get(req);
    if (!der) return std::nullopt;
    auto a = d.publishers.respond_cached(*der);
    if (!a) return std::nullopt;
    Response resp = ocsp_response(*a);
    // A 304 carries the same caching headers as the 200 would (RFC 9110 §15.4.5).
    if (auto inm = req.header("if-none-match"); inm && etag_matches(*inm, a->etag)) {
      resp.status = 304;
      resp.body.clear();
    }
    return resp;
  };
  r->add(std::move(get));
  r->add({"POST", "/ocsp", http::Auth::none,
          [&d, ocsp_response, malformed](const Request& req) {
            auto ct = req.header("content-type");
            if (!ct || ct->find("application/ocsp-request") == std::string_view::npos)
              return Response::problem(415, "about:blank", "Content-Type must be application/ocsp-request");
            if (req.body.size() > kMaxOcspRequest) return malformed(413);
            return ocsp_response(d.publishers.respond(as_bytes(req.body)));
          },
          "/ocsp"});
  // Each intermediate's CRLs (ca/revocation: /crl/<id>.crl, and with shards /crl/<id>/<k>.crl, each
  // with its -delta.crl), as the leaves' CDP and FreshestCRL name them. A CRL's number is its
  // ETag: unique per URL (a shard's complete and delta CRLs share one sequence, at two URLs).
  auto intermediate_crl = [&d](const Request& req, const std::string& path) -> std::optional<Response> {
    bool primary = false;
    auto crl = d.publishers.find_crl(path, &primary);
    if (!crl) {
      if (primary) return Response::problem(503, "about:blank", "the CRL is not ready yet");
      return std::nullopt;
    }
    return cacheable(req, "application/pkix-crl", crl->der, "\"" + std::to_string(crl->number) + "\"", crl->this_update,
                     crl->next_update, d.clock.now(), !crl->same_second_as_previous);
  };
  r->add({"GET", "/crl/{dir}/{file}", http::Auth::none,
          [intermediate_crl](const Request& req) {
            auto resp = intermediate_crl(req, "/crl/" + req.params.at("dir") + "/" + req.params.at("file"));
            return resp ? std::move(*resp) : Response::problem(404, "about:blank", "no such CRL");
          },
          "/crl/{dir}/{file}"});
  r->add({"GET", "/crl/{file}", http::Auth::none,
          [&d, intermediate_crl](const Request& req) {
            const std::string& file = req.params.at("file");
            if (auto resp = intermediate_crl(req, "/crl/" + file)) return std::move(*resp);
            if (file == "root.crl") {
              auto der = d.root_crl ? d.root_crl() : std::nullopt;
              if (!der) return Response::problem(404, "about:blank", "no root CRL installed (sigil root crl --out)");
              auto parsed = crypto::parse_crl_summary(*der);
              const std::string etag = "\"" + to_hex(crypto::sha256(*der)).substr(0, 16) + "\"";
              return cacheable(req, "application/pkix-crl", *der, etag, parsed ? parsed->this_update : d.clock.now(),
                               parsed ? std::optional<TimePoint>(parsed->next_update) : std::nullopt, d.clock.now());
            }
            return Response::problem(404, "about:blank", "no such CRL");
          },
          "/crl/{file}"});
  return r;
}

}  // namespace sigil::api
