#include "ca/service/health.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/http/client.hpp"
#include "ca/policy/policy.hpp"
#include "ca/service/server_identity.hpp"

namespace sigil::service::health {
namespace {
using nlohmann::json;

std::string days(Seconds s) {
  const auto d = s.count() / 86400;
  return d >= 2 ? std::to_string(d) + " days" : format_duration(s);
}

Finding ca_expiry(const std::string& check, const crypto::Certificate& c, TimePoint now) {
  const auto left = std::chrono::duration_cast<Seconds>(c.tbs().not_after - now);
  Finding f{check, ca_expiry_level(left), "", {}};
  f.summary = left.count() <= 0 ? "EXPIRED at " + format_rfc3339(c.tbs().not_after)
                                : "expires " + format_rfc3339(c.tbs().not_after) + " (in " + days(left) + ")";
  f.data = {
      {"not_after", format_rfc3339(c.tbs().not_after)}, {"seconds_left", left.count()}, {"serial", c.serial_hex()}};
  return f;
}

// The home's admin client certificate: a warning once its renewal window opens (`sigil admin
// renew` would renew it now), an error within kLeafExpiryError of its expiry or after it.
Finding admin_expiry(const fs::path& file, TimePoint now) {
  Finding f{"admin_certificate", Level::ok, "", {}};
  auto cert = load_certificate(file);
  if (!cert) {
    f.level = Level::warn;
    f.summary = cert.error().detail;
    return f;
  }
  const TimePoint not_after = cert->tbs().not_after;
  const auto window = policy::renewal_window(cert->tbs().not_before, not_after);
  const auto left = std::chrono::duration_cast<Seconds>(not_after - now);
  f.level = left < kLeafExpiryError ? Level::error : now >= window.start ? Level::warn : Level::ok;
  f.summary =
      cert->serial_hex() + (left.count() <= 0 ? ", EXPIRED at " + format_rfc3339(not_after)
                                              : ", expires " + format_rfc3339(not_after) + " (in " + days(left) + ")");
  if (f.level != Level::ok) f.summary += ": run sigil admin renew";
  f.data = {{"serial", cert->serial_hex()},
            {"not_after", format_rfc3339(not_after)},
            {"seconds_left", left.count()},
            {"renew_after", format_rfc3339(window.start)}};
  return f;
}

// Every valid certificate matching `f`, page by page, up to `max_pages`.
Status for_each_valid(store::Store& store, store::ListFilter f, int max_pages,
                      const std::function<void(store::CertificateRecord&)>& fn) {
  for (int page = 0; page < max_pages; ++page) {
    SIGIL_TRY(auto p, store.list(f));
    for (auto& r : p.items) fn(r);
    if (p.next_page_token.empty()) break;
    f.page_token = p.next_page_token;
  }
  return {};
}

// The server's own certificate: the newest one `sigil serve` issued itself. It renews in its
// renewal window; past the window's end something is wrong.
Result<Finding> server_certificate(const StoreContext& ctx, std::int64_t unow) {
  const Seconds ttl = ctx.config.tls.server_cert_ttl;
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.profile = "server";
  f.now = unow;
  f.expiring_before = unow + ttl.count() + 3600;
  // Only serve's own: the database skips the other certificates expiring as soon (thousands in a
  // large store) without reading them out.
  f.requester = kServeRequester;
  f.limit = 1000;
  std::optional<store::CertificateRecord> newest;
  SIGIL_TRY_STATUS(for_each_valid(*ctx.store, f, 20, [&](store::CertificateRecord& r) {
    if (!newest || r.created_at > newest->created_at) newest = std::move(r);
  }));
  Finding s{"server_certificate", Level::ok, "", {}};
  if (!newest) {
    s.level = Level::warn;
    s.summary = "none valid (is sigil serve running?)";
    return s;
  }
  const Seconds left(newest->not_after - unow);
  s.summary = newest->serial + ", expires " + format_rfc3339(from_unix(newest->not_after)) + " (in " +
              format_duration(left) + ")";
  s.data = {{"serial", newest->serial}, {"not_after", format_rfc3339(from_unix(newest->not_after))}};
  if (from_unix(unow) > server_renewal_window(from_unix(newest->not_after), ttl).end) s.level = Level::warn;
  return s;
}

// One complete CRL: missing, expired, or not rebuilt at half its validity.
struct CrlState {
  Level level = Level::ok;
  std::string summary;
  json data = json::object();
};
CrlState crl_state(const std::optional<store::CrlRecord>& crl, std::int64_t unow) {
  CrlState c;
  if (!crl) return {Level::error, "none published (sigil serve publishes it)", json::object()};
  const Seconds age(unow - crl->this_update);
  c.data = json{{"number", crl->number},
                {"this_update", format_rfc3339(from_unix(crl->this_update))},
                {"next_update", format_rfc3339(from_unix(crl->next_update))},
                {"age_seconds", age.count()}};
  c.summary = "number " + std::to_string(crl->number) + ", " + format_duration(age) + " old, next update " +
              format_rfc3339(from_unix(crl->next_update));
  c.level = crl_level(crl->this_update, crl->next_update, unow);
  if (c.level == Level::error)
    c.summary += " (EXPIRED)";
  else if (c.level == Level::warn)
    c.summary += " (not rebuilt at half its validity: is sigil serve running?)";
  return c;
}

// The complete CRL of every shard that must exist (shard 0, and each shard an unexpired
// certificate names) of every issuer still answering: the current intermediate and the archived
// ones that have not expired. The finding's data is the current issuer's shard 0 CRL, with
// every CRL checked under "crls"; the summary names each one that needs attention.
Result<Finding> crls(const StoreContext& ctx, const crypto::Certificate& current, std::int64_t unow) {
  std::vector<std::string> issuers{issuer::issuer_id(current)};
  for (const auto& a : archived_intermediates(ctx.home, from_unix(unow))) {
    const std::string id = issuer::issuer_id(a.cert);
    if (std::find(issuers.begin(), issuers.end(), id) == issuers.end()) issuers.push_back(id);
  }
  Finding c{"crl", Level::ok, "", {}};
  json all = json::array();
  for (const auto& id : issuers) {
    std::vector<int> shards{0};
    SIGIL_TRY(auto in_use, ctx.store->crl_shards(id, unow));
    for (int k : in_use)
      if (k != 0) shards.push_back(k);
    for (int k : shards) {
      SIGIL_TRY(auto crl, ctx.store->latest_crl(id, k, false));
      CrlState s = crl_state(crl, unow);
      const bool primary = id == issuers.front() && k == 0;
      if (primary) {
        c.summary = s.summary;
        c.data = s.data;
      } else if (s.level != Level::ok) {
        c.summary += "\n    issuer " + id.substr(0, 16) + " shard " + std::to_string(k) + ": " + s.summary;
      }
      c.level = std::max(c.level, s.level);
      json entry = s.data;
      entry["issuer"] = id;
      entry["shard"] = k;
      entry["level"] = name(s.level);
      all.push_back(std::move(entry));
    }
  }
  c.data["crls"] = std::move(all);
  return c;
}

// OCSP freshness: ask the running responder about the intermediate's newest certificate.
Result<Finding> ocsp(const StoreContext& ctx, const crypto::Certificate& inter, TimePoint now) {
  Finding o{"ocsp", Level::ok, "", {}};
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.now = to_unix(now);
  f.limit = 1;
  SIGIL_TRY(auto p, ctx.store->list(f));
  if (p.items.empty()) {
    o.summary = "no valid certificate to ask about";
    return o;
  }
  auto client = http::Client::create("http://" + ctx.config.listeners.public_, {});
  if (!client) {
    o.level = Level::warn;
    o.summary = client.error().detail;
    return o;
  }
  SIGIL_TRY(Bytes serial, from_hex(p.items.front().serial));
  crypto::ocsp::Request req;
  req.ids.push_back(crypto::ocsp::make_cert_id(crypto::ocsp::HashAlg::sha1, inter, serial));
  const Bytes der = crypto::ocsp::encode_request(req);
  auto resp =
      (*client)->request("POST", "/ocsp", std::string(as_chars(der)), {{"Content-Type", "application/ocsp-request"}});
  auto parsed = resp && resp->status == 200
                    ? crypto::ocsp::parse_response(as_bytes(resp->body))
                    : Result<crypto::ocsp::ParsedResponse>(
                          make_error(Errc::io, resp ? "HTTP " + std::to_string(resp->status) : resp.error().detail));
  if (!parsed || parsed->responses.empty()) {
    o.level = Level::warn;
    o.summary = "the responder at " + ctx.config.listeners.public_ +
                " did not answer: " + (parsed ? std::string("no response") : parsed.error().detail);
    return o;
  }
  const auto& r = parsed->responses.front();
  const auto age = std::chrono::duration_cast<Seconds>(now - r.this_update);
  o.data = {{"this_update", format_rfc3339(r.this_update)},
            {"next_update", format_rfc3339(r.next_update)},
            {"age_seconds", age.count()}};
  o.summary = "answering; response " + format_duration(age) + " old, valid until " + format_rfc3339(r.next_update);
  if (r.next_update != TimePoint{} && now >= r.next_update) {
    o.level = Level::error;
    o.summary += " (STALE)";
  }
  return o;
}

std::int64_t size_of(const fs::path& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

Result<Finding> database(const StoreContext& ctx) {
  if (ctx.store->engine() == store::Engine::postgresql) {
    // No file to measure: whether the database answers, and what it holds.
    auto rows = ctx.store->count();
    if (!rows)
      return Finding{"database",
                     Level::error,
                     "postgresql, NOT reachable: " + rows.error().detail,
                     {{"engine", "postgresql"}, {"reachable", false}}};
    return Finding{"database",
                   Level::ok,
                   "postgresql, reachable, " + std::to_string(*rows) + " certificates",
                   {{"engine", "postgresql"}, {"reachable", true}, {"certificates", *rows}}};
  }
  const fs::path db = ctx.home.database(ctx.config);
  const std::int64_t bytes = size_of(db) + size_of(db.string() + "-wal");
  SIGIL_TRY(std::int64_t rows, ctx.store->count());
  return Finding{"database",
                 Level::ok,
                 std::to_string(bytes / 1024) + " KiB, " + std::to_string(rows) + " certificates",
                 {{"bytes", bytes}, {"certificates", rows}, {"path", db.string()}}};
}

// The `sigil serve` nodes with a heartbeat in the store within kNodesShown, by id; one silent
// for more than kNodeStale is stale (stopped, or cut off from the database). Never a problem by
// itself: nodes come and go, and the server certificate finding says when none serves.
Result<Finding> nodes(const StoreContext& ctx, std::int64_t unow) {
  SIGIL_TRY(const auto seen, ctx.store->nodes(unow - kNodesShown.count()));
  Finding f{"nodes", Level::ok, "", {}};
  json list = json::array();
  int stale = 0;
  std::string lines;
  for (const auto& n : seen) {
    const std::int64_t age = std::max<std::int64_t>(0, unow - n.last_seen);
    const bool silent = age > kNodeStale.count();
    stale += silent ? 1 : 0;
    json urls = json::array();
    for (std::size_t pos = 0; pos < n.urls.size();) {
      std::size_t end = n.urls.find(' ', pos);
      if (end == std::string::npos) end = n.urls.size();
      if (end > pos) urls.push_back(n.urls.substr(pos, end - pos));
      pos = end + 1;
    }
    list.push_back({{"id", n.id},
                    {"hostname", n.hostname},
                    {"urls", urls},
                    {"version", n.version},
                    {"started_at", format_rfc3339(from_unix(n.started_at))},
                    {"last_seen", format_rfc3339(from_unix(n.last_seen))},
                    {"age_seconds", age},
                    {"stale", silent}});
    lines += "\n    " + n.id + " " + n.hostname + " " + n.version + " " + n.urls + " (seen " + std::to_string(age) +
             "s ago" + (silent ? ", STALE" : "") + ")";
  }
  const std::size_t serving = seen.size() - static_cast<std::size_t>(stale);
  f.summary = seen.empty()
                  ? "none seen in the last " + format_duration(kNodesShown)
                  : std::to_string(serving) + " serving" + (stale ? ", " + std::to_string(stale) + " stale" : "");
  f.summary += lines;
  f.data = {{"nodes", list}, {"serving", serving}, {"stale", stale}};
  return f;
}

// Certificates expiring within kLeafExpiryError (a count and the first five; never a problem).
Result<Finding> expiring(const StoreContext& ctx, std::int64_t unow) {
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.now = unow;
  f.expiring_before = unow + kLeafExpiryError.count();
  // Counted in the database, and only the first five read: a large store has tens of thousands.
  SIGIL_TRY(const std::int64_t count, ctx.store->count_matching(f));
  f.limit = 5;
  json first = json::array();
  SIGIL_TRY_STATUS(for_each_valid(*ctx.store, f, 1, [&](const store::CertificateRecord& r) {
    first.push_back(
        {{"serial", r.serial}, {"subject", r.subject}, {"not_after", format_rfc3339(from_unix(r.not_after))}});
  }));
  std::string summary = std::to_string(count) + " valid certificate(s)";
  for (const auto& e : first)
    summary += "\n    " + e["serial"].get<std::string>() + " " + e["not_after"].get<std::string>();
  return Finding{"expiring_within_7d", Level::ok, summary, {{"count", count}, {"first", first}}};
}

// The identifiers a certificate names, in one canonical order.
std::vector<std::string> names_of(const store::CertificateRecord& r) {
  std::vector<std::string> n = r.sans;
  std::sort(n.begin(), n.end());
  return n;
}

// A valid certificate newer than `r` (it expires later) naming exactly what `r` names.
Result<bool> renewed(store::Store& store, const store::CertificateRecord& r, std::int64_t unow) {
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.now = unow;
  f.name = r.sans.front();
  f.limit = 1000;
  const auto names = names_of(r);
  bool found = false;
  SIGIL_TRY_STATUS(for_each_valid(store, f, 10, [&](const store::CertificateRecord& c) {
    if (!found && c.serial != r.serial && c.not_after > r.not_after && names_of(c) == names) found = true;
  }));
  return found;
}

// The intermediate's key signs and the signature verifies: a key file that went missing, or a
// token that is gone, locked or refuses the PIN is an error here (as /health's "signer" is).
Finding signer(const StoreContext& ctx, const crypto::Certificate& inter) {
  const bool token = key_in_token(ctx.home.ca_key());
  Finding f{"signer", Level::ok, "", {{"key", token ? "pkcs11" : "file"}}};
  auto key = load_signer_for(ctx.home.ca_key(), inter);
  Status works = key ? Status{} : Status{key.error()};
  if (key) {
    static constexpr std::string_view kProbe = "sigil status probe";
    const crypto::ByteView msg(reinterpret_cast<const std::uint8_t*>(kProbe.data()), kProbe.size());
    auto sig = (*key)->sign(msg);
    works = sig ? crypto::verify_signature((*key)->public_key(), (*key)->signature_algorithm(), msg, *sig)
                : Status{sig.error()};
  }
  if (works) {
    f.summary = std::string("the intermediate's key signs (") + (token ? "PKCS#11 token" : "key file") + ")";
  } else {
    f.level = Level::error;
    f.summary = "the intermediate's key cannot sign: " + works.error().detail;
    f.data["error"] = works.error().detail;
  }
  return f;
}

}  // namespace

Result<Unrenewed> unrenewed(store::Store& store, TimePoint now) {
  const std::int64_t unow = to_unix(now);
  store::ListFilter f;
  f.status = store::ListFilter::Status::valid;
  f.now = unow;
  f.expiring_before = unow + policy::kHardMaxTtl.count() / 4 + 1;
  f.limit = 1000;
  std::vector<store::CertificateRecord> overdue;
  SIGIL_TRY_STATUS(for_each_valid(store, f, 1000, [&](store::CertificateRecord& r) {
    if (!r.sans.empty() && now >= policy::renewal_window(from_unix(r.not_before), from_unix(r.not_after)).end)
      overdue.push_back(std::move(r));
  }));
  Unrenewed u;
  for (const auto& r : overdue) {
    SIGIL_TRY(bool done, renewed(store, r, unow));
    if (done) continue;
    ++u.overdue;
    if (r.not_after - unow < kLeafExpiryError.count()) ++u.expiring;
  }
  return u;
}

const char* name(Level l) { return l == Level::ok ? "ok" : l == Level::warn ? "warn" : "error"; }

Level ca_expiry_level(Seconds left) {
  return left < kCaExpiryError ? Level::error : left < kCaExpiryWarn ? Level::warn : Level::ok;
}

Level crl_level(std::int64_t this_update, std::int64_t next_update, std::int64_t now) {
  if (now >= next_update) return Level::error;
  const Seconds validity(next_update - this_update);
  return Seconds(now - this_update) > validity / 2 + Seconds(600) ? Level::warn : Level::ok;
}

Level Report::worst() const {
  Level w = Level::ok;
  for (const auto& f : findings) w = std::max(w, f.level);
  return w;
}

Result<Report> collect(const StoreContext& ctx, TimePoint now) {
  const std::int64_t unow = to_unix(now);
  Report r;
  auto& out = r.findings;
  SIGIL_TRY(crypto::Certificate inter, load_certificate(ctx.home.ca_cert()));
  SIGIL_TRY(crypto::Certificate root, load_certificate(ctx.home.root_cert()));
  out.push_back(ca_expiry("intermediate", inter, now));
  out.push_back(signer(ctx, inter));
  out.push_back(ca_expiry("root", root, now));
  out.push_back(admin_expiry(ctx.home.admin_cert(), now));
  SIGIL_TRY(Finding server, server_certificate(ctx, unow));
  out.push_back(std::move(server));
  SIGIL_TRY(Finding crl, crls(ctx, inter, unow));
  out.push_back(std::move(crl));
  SIGIL_TRY(Finding responder, ocsp(ctx, inter, now));
  out.push_back(std::move(responder));
  SIGIL_TRY(Finding db, database(ctx));
  out.push_back(std::move(db));
  SIGIL_TRY(Finding serving, nodes(ctx, unow));
  out.push_back(std::move(serving));
  SIGIL_TRY(Finding soon, expiring(ctx, unow));
  out.push_back(std::move(soon));
  return r;
}

}  // namespace sigil::service::health
