#include "ca/service/overview.hpp"

#include <algorithm>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/service/health.hpp"

namespace sigil::service::overview {
namespace {
using nlohmann::json;

// The chart's horizon: the console shows the first 30 or all 90 days.
constexpr int kTimelineDays = 90;

std::string name_text(crypto::ByteView der) {
  auto s = crypto::name_to_string(der);
  return s ? *s : "";
}

json ca_json(const crypto::Certificate& c, TimePoint now) {
  const auto left = std::chrono::duration_cast<Seconds>(c.tbs().not_after - now);
  return {{"subject", name_text(c.tbs().subject)},
          {"issuer", name_text(c.tbs().issuer)},
          {"serial", c.serial_hex()},
          {"not_before", format_rfc3339(c.tbs().not_before)},
          {"not_after", format_rfc3339(c.tbs().not_after)},
          {"seconds_left", left.count()},
          {"level", health::name(health::ca_expiry_level(left))}};
}

// "http://host:port" of a URL ("" when it has none).
std::string origin_of(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  return url.substr(0, url.find('/', scheme + 3));
}

Result<std::int64_t> count_audit_since(store::Store& store, const char* action, std::int64_t since) {
  store::AuditFilter f;
  f.action = action;
  f.outcome = "ok";
  f.since = since;
  return store.count_audit(f);
}

Result<json> counts(store::Store& store, std::int64_t unow) {
  using Status = store::ListFilter::Status;
  json out = json::object();
  for (auto [name, status] : {std::pair{"valid", Status::valid}, std::pair{"revoked", Status::revoked},
                              std::pair{"expired", Status::expired}}) {
    store::ListFilter f;
    f.status = status;
    f.now = unow;
    SIGIL_TRY(out[name], store.count_matching(f));
  }
  store::ListFilter soon;
  soon.status = Status::valid;
  soon.now = unow;
  soon.expiring_before = unow + health::kLeafExpiryError.count();
  SIGIL_TRY(out["expiring_7d"], store.count_matching(soon));
  return out;
}

Result<json> rates(store::Store& store, std::int64_t unow) {
  json out = json::object();
  for (auto [key, action] : {std::pair{"issued", "issue"}, std::pair{"revoked", "revoke"}}) {
    SIGIL_TRY(std::int64_t hour, count_audit_since(store, action, unow - 3600));
    SIGIL_TRY(std::int64_t day, count_audit_since(store, action, unow - 86400));
    out[key] = {{"last_hour", hour}, {"last_day", day}};
  }
  return out;
}

// Every CRL the publishers serve now, with its freshness (health::crl_level for complete ones).
json crl_freshness(revocation::Publishers& publishers, std::int64_t unow) {
  json out = json::array();
  for (const auto& l : publishers.links()) {
    for (const auto& path : l.crl_paths) {
      auto crl = publishers.find_crl(path);
      if (!crl) continue;
      const std::int64_t this_update = to_unix(crl->this_update), next_update = to_unix(crl->next_update);
      const bool delta = crl->base_number.has_value();
      json j = {{"path", path},
                {"issuer", l.subject},
                {"number", crl->number},
                {"delta", delta},
                {"entries", crl->entries},
                {"this_update", format_rfc3339(crl->this_update)},
                {"next_update", format_rfc3339(crl->next_update)},
                {"age_seconds", unow - this_update}};
      j["level"] = health::name(delta && unow < next_update ? health::Level::ok
                                                            : health::crl_level(this_update, next_update, unow));
      out.push_back(std::move(j));
    }
  }
  return out;
}

// OCSP as a relying party sees it: the responder's answer for the valid certificate expiring
// first (as `sigil status` asks the running responder), from its cache when pre-signed.
Result<json> ocsp_freshness(store::Store& store, revocation::Publishers& publishers, const issuer::Issuer& issuer,
                            TimePoint now) {
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.now = to_unix(now);
  f.limit = 1;
  SIGIL_TRY(auto page, store.list(f));
  if (page.items.empty()) return json{{"level", "ok"}, {"summary", "no valid certificate to ask about"}};
  const auto& r = page.items.front();
  const issuer::Authority* by = issuer.authority(r.issuer_id);
  if (!by) return json{{"level", "warn"}, {"summary", "the issuer of " + r.serial + " is not served"}};
  SIGIL_TRY(Bytes serial, from_hex(r.serial));
  crypto::ocsp::Request req;
  req.ids.push_back(crypto::ocsp::make_cert_id(crypto::ocsp::HashAlg::sha1, by->cert, serial));
  const revocation::OcspAnswer a = publishers.respond(crypto::ocsp::encode_request(req));
  if (!a.der || a.next_update == TimePoint{})
    return json{{"level", "warn"}, {"serial", r.serial}, {"summary", "the responder gave no response"}};
  const auto age = std::chrono::duration_cast<Seconds>(now - a.this_update);
  const bool stale = now >= a.next_update;
  return json{{"level", stale ? "error" : "ok"},
              {"serial", r.serial},
              {"this_update", format_rfc3339(a.this_update)},
              {"next_update", format_rfc3339(a.next_update)},
              {"age_seconds", age.count()},
              {"summary", std::string(stale ? "STALE: " : "") + "response " + format_duration(age) +
                              " old, valid until " + format_rfc3339(a.next_update)}};
}
}  // namespace

Result<store::AuditFilter> audit_filter(const std::map<std::string, std::string>& query, TimePoint now) {
  store::AuditFilter f;
  f.limit = kDefaultAuditLimit;
  for (const auto& [k, v] : query) {
    if (k == "since") {
      if (auto d = parse_duration(v)) {
        f.since = to_unix(now) - d->count();
      } else if (auto t = parse_rfc3339(v)) {
        f.since = to_unix(*t);
      } else {
        return make_error(Errc::invalid_argument,
                          "since must be a duration (24h) or an RFC 3339 time, not '" + v + "'");
      }
    } else if (k == "actor" || k == "action" || k == "outcome") {
      if (v.empty() || v.size() > 256) return make_error(Errc::invalid_argument, k + " must be 1 to 256 characters");
      (k == "actor" ? f.actor : k == "action" ? f.action : f.outcome) = v;
    } else if (k == "limit") {
      if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1 ||
          std::stoi(v) > 1000)
        return make_error(Errc::invalid_argument, "limit must be a number between 1 and 1000");
      f.limit = std::stoi(v);
    } else if (k == "page_token") {
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
        return make_error(Errc::invalid_argument, "malformed page token");
      f.before_id = std::stoll(v);
    } else {
      return make_error(Errc::invalid_argument, "unknown query parameter '" + k + "'");
    }
  }
  return f;
}

Result<json> audit(store::AuditReader& log, const std::map<std::string, std::string>& query, TimePoint now) {
  SIGIL_TRY(store::AuditFilter f, audit_filter(query, now));
  SIGIL_TRY(store::AuditPage page, log.audit_page(f));
  json items = json::array();
  for (const auto& r : page.items)
    items.push_back({{"id", r.id},
                     {"at", format_rfc3339(from_unix(r.entry.at))},
                     {"actor", r.entry.actor},
                     {"action", r.entry.action},
                     {"target", r.entry.target},
                     {"outcome", r.entry.outcome},
                     {"detail", r.entry.detail}});
  json out = {{"items", std::move(items)}};
  if (page.next_before_id != 0) out["next_page_token"] = std::to_string(page.next_before_id);
  return out;
}

json hierarchy(const std::vector<Bytes>& roots, const issuer::Issuer& issuer,
               const std::vector<revocation::Publishers::Links>& links, TimePoint now) {
  json out = {{"roots", json::array()}, {"intermediates", json::array()}};
  for (std::size_t i = 0; i < roots.size(); ++i) {
    auto c = crypto::Certificate::from_der(roots[i]);
    if (!c) continue;  // the public listener serves it as loaded; nothing to show of a bad one
    json j = ca_json(*c, now);
    j["path"] = i == 0 ? "/ca/root.crt" : "/ca/roots.pem";
    out["roots"].push_back(std::move(j));
  }
  for (const issuer::Authority* a : issuer.authorities()) {
    json j = ca_json(a->cert, now);
    const std::string base = origin_of(a->urls.ca_issuers);
    j["id"] = a->id;
    j["current"] = a->id == issuer.id();
    j["ca_url"] = a->urls.ca_issuers;
    j["ocsp_url"] = a->urls.ocsp;
    j["crl_urls"] = json::array();
    for (const auto& l : links)
      if (base + l.ca_path == a->urls.ca_issuers)
        for (const auto& p : l.crl_paths) j["crl_urls"].push_back(base + p);
    out["intermediates"].push_back(std::move(j));
  }
  // The issuing one first, then the replaced ones, newest first.
  auto& in = out["intermediates"];
  std::stable_sort(in.begin(), in.end(), [](const json& x, const json& y) {
    if (x["current"] != y["current"]) return x["current"].get<bool>();
    return x["not_after"].get<std::string>() > y["not_after"].get<std::string>();
  });
  return out;
}

Result<json> stats(store::Store& store, revocation::Publishers& publishers, const issuer::Issuer& issuer,
                   TimePoint now) {
  const std::int64_t unow = to_unix(now);
  json out = {{"now", format_rfc3339(now)}};
  SIGIL_TRY(out["certificates"], counts(store, unow));
  SIGIL_TRY(out["rates"], rates(store, unow));
  SIGIL_TRY(auto days, store.expiring_per_day(unow, kTimelineDays));
  out["expiring_per_day"] = days;
  out["crls"] = crl_freshness(publishers, unow);
  SIGIL_TRY(out["ocsp"], ocsp_freshness(store, publishers, issuer, now));
  return out;
}

api::Overview sources(store::Store& store, revocation::Publishers& publishers, const issuer::Issuer& issuer,
                      const std::vector<Bytes>& roots, const Clock& clock) {
  // Pointers to the runtime's parts, which outlive its listeners and so every call.
  api::Overview o;
  o.hierarchy = [r = &roots, i = &issuer, p = &publishers, c = &clock]() -> Result<json> {
    return hierarchy(*r, *i, p->links(), c->now());
  };
  o.stats = [s = &store, p = &publishers, i = &issuer, c = &clock]() { return stats(*s, *p, *i, c->now()); };
  o.audit = [s = &store, c = &clock](const std::map<std::string, std::string>& query) {
    return audit(*s, query, c->now());
  };
  return o;
}

}  // namespace sigil::service::overview
