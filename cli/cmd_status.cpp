// sigil status: what an operator (or a pager) needs to know, from the home, the store and the
// running server's public listener. Exit 0 when nothing needs action, 1 when something does
// (an error finding), so cron or a monitoring check can page on it.
#include <sys/stat.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/http/client.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/policy/policy.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

enum class Level { ok, warn, error };
const char* name(Level l) { return l == Level::ok ? "ok" : l == Level::warn ? "warn" : "error"; }

struct Finding {
  std::string check;
  Level level = Level::ok;
  std::string summary;
  json data = json::object();
};

std::string days(Seconds s) {
  const auto d = s.count() / 86400;
  return d >= 2 ? std::to_string(d) + " days" : format_duration(s);
}

// A CA certificate's remaining life: warn from 90 days, error from 30 (issue: the operator has
// a month to roll a new intermediate through every trust store).
Finding ca_expiry(const std::string& check, const crypto::Certificate& c, TimePoint now) {
  const auto left = std::chrono::duration_cast<Seconds>(c.tbs().not_after - now);
  Finding f{check, Level::ok, "", {}};
  f.level = left < Seconds(30 * 86400) ? Level::error : left < Seconds(90 * 86400) ? Level::warn : Level::ok;
  f.summary = left.count() <= 0 ? "EXPIRED at " + format_rfc3339(c.tbs().not_after)
                                : "expires " + format_rfc3339(c.tbs().not_after) + " (in " + days(left) + ")";
  f.data = {
      {"not_after", format_rfc3339(c.tbs().not_after)}, {"seconds_left", left.count()}, {"serial", c.serial_hex()}};
  return f;
}

// The home's admin client certificate: a warning once its renewal window opens (`sigil admin
// renew` would renew it now), an error within 7 days of its expiry or after it.
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
  f.level = left < Seconds(7 * 86400) ? Level::error : now >= window.start ? Level::warn : Level::ok;
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

std::int64_t size_of(const fs::path& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

Status run_status(const Globals& g, Level& worst) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  const TimePoint now = ctx->clock.now();
  const std::int64_t unow = to_unix(now);
  std::vector<Finding> out;

  SIGIL_TRY(crypto::Certificate inter, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(crypto::Certificate root, load_certificate(ctx->home.root_cert()));
  out.push_back(ca_expiry("intermediate", inter, now));
  out.push_back(ca_expiry("root", root, now));
  out.push_back(admin_expiry(ctx->home.admin_cert(), now));
  const std::string issuer_id = issuer::issuer_id(inter);

  // The server's own certificate: the newest one `sigil serve` issued itself.
  {
    store::ListFilter f;
    f.status = store::ListFilter::Status::valid;
    f.profile = "server";
    f.now = unow;
    f.expiring_before = unow + ctx->config.tls.server_cert_ttl.count() + 3600;
    f.limit = 1000;
    std::optional<store::CertificateRecord> newest;
    for (int page = 0; page < 20; ++page) {
      SIGIL_TRY(auto p, ctx->store->list(f));
      for (auto& r : p.items)
        if (r.requester == "sigil-serve" && (!newest || r.created_at > newest->created_at)) newest = std::move(r);
      if (p.next_page_token.empty()) break;
      f.page_token = p.next_page_token;
    }
    Finding s{"server_certificate", Level::ok, "", {}};
    if (!newest) {
      s.level = Level::warn;
      s.summary = "none valid (is sigil serve running?)";
    } else {
      const Seconds left(newest->not_after - unow);
      s.summary = newest->serial + ", expires " + format_rfc3339(from_unix(newest->not_after)) + " (in " +
                  format_duration(left) + ")";
      s.data = {{"serial", newest->serial}, {"not_after", format_rfc3339(from_unix(newest->not_after))}};
      // It renews at two thirds of its TTL; past three quarters something is wrong.
      if (left < ctx->config.tls.server_cert_ttl / 4) s.level = Level::warn;
    }
    out.push_back(std::move(s));
  }

  // The last CRL: its number and age; stale when its rebuild at half-validity did not happen.
  {
    Finding c{"crl", Level::ok, "", {}};
    SIGIL_TRY(auto crl, ctx->store->latest_crl(issuer_id, 0, false));  // the complete CRL (shard 0)
    if (!crl) {
      c.level = Level::error;
      c.summary = "none published (sigil serve publishes it)";
    } else {
      const Seconds age(unow - crl->this_update);
      c.data = json{{"number", crl->number},
                    {"this_update", format_rfc3339(from_unix(crl->this_update))},
                    {"next_update", format_rfc3339(from_unix(crl->next_update))},
                    {"age_seconds", age.count()}};
      c.summary = "number " + std::to_string(crl->number) + ", " + format_duration(age) + " old, next update " +
                  format_rfc3339(from_unix(crl->next_update));
      const Seconds validity(crl->next_update - crl->this_update);
      if (unow >= crl->next_update) {
        c.level = Level::error;
        c.summary += " (EXPIRED)";
      } else if (age > validity / 2 + Seconds(600)) {
        c.level = Level::warn;
        c.summary += " (not rebuilt at half its validity: is sigil serve running?)";
      }
    }
    out.push_back(std::move(c));
  }

  // OCSP freshness: ask the running responder about the intermediate's newest certificate.
  {
    Finding o{"ocsp", Level::ok, "", {}};
    store::ListFilter f;
    f.status = store::ListFilter::Status::valid;
    f.now = unow;
    f.limit = 1;
    SIGIL_TRY(auto p, ctx->store->list(f));
    auto client = http::Client::create("http://" + ctx->config.listeners.public_, {});
    if (p.items.empty()) {
      o.summary = "no valid certificate to ask about";
    } else if (!client) {
      o.level = Level::warn;
      o.summary = client.error().detail;
    } else {
      SIGIL_TRY(Bytes serial, from_hex(p.items.front().serial));
      crypto::ocsp::Request req;
      req.ids.push_back(crypto::ocsp::make_cert_id(crypto::ocsp::HashAlg::sha1, inter, serial));
      const Bytes der = crypto::ocsp::encode_request(req);
      auto resp = (*client)->request("POST", "/ocsp", std::string(as_chars(der)),
                                     {{"Content-Type", "application/ocsp-request"}});
      auto parsed = resp && resp->status == 200
                        ? crypto::ocsp::parse_response(as_bytes(resp->body))
                        : Result<crypto::ocsp::ParsedResponse>(make_error(
                              Errc::io, resp ? "HTTP " + std::to_string(resp->status) : resp.error().detail));
      if (!parsed || parsed->responses.empty()) {
        o.level = Level::warn;
        o.summary = "the responder at " + ctx->config.listeners.public_ +
                    " did not answer: " + (parsed ? std::string("no response") : parsed.error().detail);
      } else {
        const auto& r = parsed->responses.front();
        const auto age = std::chrono::duration_cast<Seconds>(now - r.this_update);
        o.data = {{"this_update", format_rfc3339(r.this_update)},
                  {"next_update", format_rfc3339(r.next_update)},
                  {"age_seconds", age.count()}};
        o.summary =
            "answering; response " + format_duration(age) + " old, valid until " + format_rfc3339(r.next_update);
        if (r.next_update != TimePoint{} && now >= r.next_update) {
          o.level = Level::error;
          o.summary += " (STALE)";
        }
      }
    }
    out.push_back(std::move(o));
  }

  // Database size, and certificates expiring within 7 days.
  {
    const fs::path db = ctx->home.database(ctx->config);
    const std::int64_t bytes = size_of(db) + size_of(db.string() + "-wal");
    SIGIL_TRY(std::int64_t rows, ctx->store->count());
    out.push_back({"database",
                   Level::ok,
                   std::to_string(bytes / 1024) + " KiB, " + std::to_string(rows) + " certificates",
                   {{"bytes", bytes}, {"certificates", rows}, {"path", db.string()}}});
    store::ListFilter f;
    f.status = store::ListFilter::Status::valid;
    f.now = unow;
    f.expiring_before = unow + 7 * 86400;
    f.limit = 1000;
    std::int64_t count = 0;
    json first = json::array();
    for (int page = 0; page < 1000; ++page) {
      SIGIL_TRY(auto p, ctx->store->list(f));
      for (const auto& r : p.items) {
        if (first.size() < 5)
          first.push_back(
              {{"serial", r.serial}, {"subject", r.subject}, {"not_after", format_rfc3339(from_unix(r.not_after))}});
        ++count;
      }
      if (p.next_page_token.empty()) break;
      f.page_token = p.next_page_token;
    }
    std::string summary = std::to_string(count) + " valid certificate(s)";
    for (const auto& e : first)
      summary += "\n    " + e["serial"].get<std::string>() + " " + e["not_after"].get<std::string>();
    out.push_back({"expiring_within_7d", Level::ok, summary, {{"count", count}, {"first", first}}});
  }

  for (const auto& f : out) worst = std::max(worst, f.level);
  if (g.json) {
    json j = {{"status", name(worst)}, {"checks", json::object()}};
    for (const auto& f : out) {
      json d = f.data;
      d["level"] = name(f.level);
      d["summary"] = f.summary;
      j["checks"][f.check] = d;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& f : out)
      std::cout << (f.level == Level::ok     ? "  ok   "
                    : f.level == Level::warn ? "  WARN "
                                             : "  ERROR")
                << "  " << f.check << ": " << f.summary << "\n";
    std::cout << (worst == Level::error ? "needs action\n" : worst == Level::warn ? "ok, with warnings\n" : "ok\n");
  }
  return {};
}

}  // namespace

void add_status(CLI::App& app, Globals& g) {
  CLI::App* c = app.add_subcommand("status", "Health of the CA: expiries, CRL, OCSP, database, expiring certificates");
  c->footer(
      "Errors (exit 1): the intermediate or root expires within 30 days; the admin certificate\n"
      "(HOME/admin/admin.crt) expires within 7 days or has expired; no CRL or an expired one; a stale OCSP\n"
      "response. Warnings (exit 0): a CA expiring within 90 days; the admin certificate inside its renewal\n"
      "window (two thirds of its life: run `sigil admin renew`) or unreadable; a CRL not rebuilt at half\n"
      "its validity; the server's certificate past three quarters of its life; the responder not reachable.");
  c->callback([&g] {
    Level worst = Level::ok;
    g.status = run_status(g, worst);
    if (g.status && worst == Level::error) g.exit_code = 1;
  });
}

}  // namespace sigil::cli
