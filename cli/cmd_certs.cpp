// sigil list | show | revoke | backup: the certificate ledger, without any key. list, show and
// revoke work on the local home or, with --server, through a running CA's REST API.
#include <CLI/CLI.hpp>
#include <cctype>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "ca/api/api.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/revocation/revoker.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "cli/remote.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

std::string str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
}

std::string join(const json& names) {
  std::string out;
  if (names.is_array())
    for (const auto& s : names) out += (out.empty() ? "" : ",") + s.get<std::string>();
  return out;
}

struct ListOptions {
  std::string status;
  std::string expiring_within;
  std::string profile;
  std::string name;  // a subject alternative name, "dns:a.example" or a bare DNS name
  int limit = 0;     // one page of this many (then its next page token); 0: every page
  std::string page_token;
  RemoteOptions remote;
};

// The sans' stored form: a bare name is a DNS name.
std::string san_form(const std::string& name) { return name.find(':') == std::string::npos ? "dns:" + name : name; }

// Pages from `first` on: every one (limit 0), or only the first. {"items": [...],
// "next_page_token": "..." when more follow a single page}.
template <class PageFn>
Result<json> collect_pages(const ListOptions& o, PageFn next_page) {
  json out = {{"items", json::array()}};
  std::string token = o.page_token;
  for (;;) {
    SIGIL_TRY(json page, next_page(token));
    for (auto& item : page["items"]) out["items"].push_back(std::move(item));
    token = str(page, "next_page_token");
    if (token.empty()) break;
    if (o.limit > 0) {
      out["next_page_token"] = token;
      break;
    }
  }
  return out;
}

Result<json> list_local(const Globals& g, const ListOptions& o) {
  store::ListFilter f;
  if (o.status == "valid")
    f.status = store::ListFilter::Status::valid;
  else if (o.status == "revoked")
    f.status = store::ListFilter::Status::revoked;
  else if (o.status == "expired")
    f.status = store::ListFilter::Status::expired;
  SIGIL_TRY(auto ctx, open_store(g.home));
  f.now = to_unix(ctx->clock.now());
  if (!o.expiring_within.empty()) {
    SIGIL_TRY(Seconds within, parse_duration(o.expiring_within));
    f.expiring_before = f.now + within.count();
    if (f.status == store::ListFilter::Status::any) f.status = store::ListFilter::Status::valid;
  }
  if (!o.profile.empty()) f.profile = o.profile;
  if (!o.name.empty()) f.name = san_form(o.name);
  f.limit = o.limit > 0 ? o.limit : 1000;
  return collect_pages(o, [&](const std::string& token) -> Result<json> {
    f.page_token = token;
    SIGIL_TRY(store::Page page, ctx->store->list(f));
    json j = {{"items", json::array()}, {"next_page_token", page.next_page_token}};
    for (const auto& r : page.items) j["items"].push_back(api::certificate_json(r, f.now));
    return j;
  });
}

Result<json> list_remote(const Globals& g, const ListOptions& o) {
  SIGIL_TRY(Remote remote, Remote::connect(g, o.remote));
  std::string query = "limit=" + std::to_string(o.limit > 0 ? o.limit : 1000);
  if (!o.status.empty()) query += "&status=" + o.status;
  if (!o.expiring_within.empty()) query += "&expiring_within=" + o.expiring_within;
  if (!o.profile.empty()) query += "&profile=" + o.profile;
  if (!o.name.empty()) query += "&name=" + query_escape(san_form(o.name));
  return collect_pages(o, [&](const std::string& token) {
    return remote.call("GET", "/api/v1/certificates?" + query + (token.empty() ? "" : "&page_token=" + token));
  });
}

Status run_list(const Globals& g, const ListOptions& o) {
  if (!o.status.empty() && o.status != "valid" && o.status != "revoked" && o.status != "expired")
    return make_error(Errc::invalid_argument, "--status must be valid, revoked or expired");
  if (!o.expiring_within.empty()) SIGIL_TRY_STATUS(parse_duration(o.expiring_within));
  if (o.limit < 0 || o.limit > 1000) return make_error(Errc::invalid_argument, "--limit must be between 1 and 1000");
  SIGIL_TRY(json out, o.remote.server.empty() ? list_local(g, o) : list_remote(g, o));
  const json& all = out["items"];
  if (g.json) {
    // Every page: the array, as always; one page (--limit): the page with its next token.
    std::cout << (o.limit > 0 ? out : all).dump(2) << "\n";
    return {};
  }
  std::cout << std::left << std::setw(34) << "SERIAL" << std::setw(9) << "STATUS" << std::setw(8) << "PROFILE"
            << std::setw(22) << "NOT AFTER"
            << "NAMES\n";
  for (const auto& r : all)
    std::cout << std::setw(34) << str(r, "serial") << std::setw(9) << str(r, "status") << std::setw(8)
              << str(r, "profile") << std::setw(22) << str(r, "not_after") << join(r["sans"]) << "\n";
  std::cout << all.size() << " certificate" << (all.size() == 1 ? "" : "s") << "\n";
  if (out.contains("next_page_token")) std::cout << "next page: --page-token " << str(out, "next_page_token") << "\n";
  return {};
}

// The certificate's JSON with its PEM as "certificate".
Result<json> fetch(const Globals& g, const std::string& serial, const RemoteOptions& remote_opts) {
  if (!remote_opts.server.empty()) {
    SIGIL_TRY(Remote remote, Remote::connect(g, remote_opts));
    return remote.call("GET", "/api/v1/certificates/" + serial);
  }
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto rec, ctx->store->find(serial));
  if (!rec) return make_error(Errc::not_found, "no certificate with serial " + serial);
  json j = api::certificate_json(*rec, to_unix(ctx->clock.now()));
  if (!rec->der.empty()) j["certificate"] = pem_encode("CERTIFICATE", rec->der);
  return j;
}

Status run_show(const Globals& g, const std::string& serial_arg, bool pem, const RemoteOptions& remote) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(json j, fetch(g, serial, remote));
  if (pem) {
    if (str(j, "certificate").empty())
      return make_error(Errc::not_found, "certificate " + serial + " was never signed (pending)");
    std::cout << str(j, "certificate");
    return {};
  }
  if (g.json) {
    std::cout << j.dump(2) << "\n";
    return {};
  }
  std::cout << "serial:      " << str(j, "serial") << "\n"
            << "status:      " << str(j, "status") << "\n"
            << "profile:     " << str(j, "profile") << "\n"
            << "subject:     " << (str(j, "subject").empty() ? "(empty)" : str(j, "subject")) << "\n"
            << "names:       " << join(j["sans"]) << "\n"
            << "not before:  " << str(j, "not_before") << "\n"
            << "not after:   " << str(j, "not_after") << "\n"
            << "requester:   " << str(j, "requester") << "\n";
  if (!str(j, "revoked_at").empty())
    std::cout << "revoked:     " << str(j, "revoked_at") << " (" << str(j, "revocation_reason") << ")\n";
  return {};
}

Status run_revoke(const Globals& g, const std::string& serial_arg, const std::string& reason_text,
                  const RemoteOptions& remote_opts) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(store::RevocationReason reason, store::parse_revocation_reason(reason_text));
  json out;
  if (!remote_opts.server.empty()) {
    SIGIL_TRY(Remote remote, Remote::connect(g, remote_opts));
    json body = {{"reason", store::to_string(reason)}};
    SIGIL_TRY(out, remote.call("POST", "/api/v1/certificates/" + serial + "/revoke", &body));
  } else {
    SIGIL_TRY(auto ctx, open_store(g.home));
    Metrics metrics;  // one command's: a running server counts its own revocations
    revocation::Revoker revoker(*ctx->store, ctx->clock, metrics);
    SIGIL_TRY(auto rec, revoker.find(serial));
    if (!rec) return make_error(Errc::not_found, "no certificate with serial " + serial);
    SIGIL_TRY(revocation::Revoked done, revoker.revoke(*rec, {reason, cli_actor(), ""}));
    out = {{"serial", serial},
           {"status", "revoked"},
           {"reason", store::to_string(done.reason)},
           {"revoked_at", format_rfc3339(from_unix(done.revoked_at))}};
  }
  if (g.json)
    std::cout << out.dump(2) << "\n";
  else
    std::cout << "revoked " << serial << " (" << store::to_string(reason) << ")\n";
  return {};
}

// The serials of a --serials-file (one per line; blank lines and '#' comments skipped; "-" reads
// stdin), normalised, without duplicates. A bad line is an error naming it: nothing is revoked.
Result<std::vector<std::string>> read_serials(const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    SIGIL_TRY(text, read_file(file));
  }
  std::vector<std::string> serials;
  std::unordered_set<std::string> seen;
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    line.erase(0, line.find_first_not_of(" \t\r"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    auto serial = store::normalize_serial(line);
    if (!serial) return serial.error().context(file + " line " + std::to_string(line_no));
    if (seen.insert(*serial).second) serials.push_back(*serial);
  }
  if (serials.empty()) return make_error(Errc::invalid_argument, file + " names no serial");
  return serials;
}

// Bulk revocation: every serial is looked up first (an unknown one stops everything before the
// first revocation), then each valid one is revoked; those already revoked are reported, not
// errors, so the same file can be given again after an interruption.
Status run_revoke_many(const Globals& g, const std::string& file, const std::string& reason_text,
                       const RemoteOptions& remote_opts) {
  SIGIL_TRY(std::vector<std::string> serials, read_serials(file));
  SIGIL_TRY(store::RevocationReason reason, store::parse_revocation_reason(reason_text));
  json revoked = json::array(), already = json::array();
  Progress progress("revoking");
  if (!remote_opts.server.empty()) {
    SIGIL_TRY(Remote remote, Remote::connect(g, remote_opts));
    std::vector<std::string> statuses;
    for (const auto& serial : serials) {
      SIGIL_TRY(json j, remote.call("GET", "/api/v1/certificates/" + serial, nullptr));
      statuses.push_back(str(j, "status"));
      if (statuses.back() != "valid" && statuses.back() != "revoked" && statuses.back() != "expired")
        return make_error(Errc::conflict, "certificate " + serial + " is " + statuses.back() + "; nothing was revoked");
    }
    json body = {{"reason", store::to_string(reason)}};
    for (std::size_t i = 0; i < serials.size(); ++i) {
      if (statuses[i] == "revoked") {
        already.push_back(serials[i]);
      } else {
        auto r = remote.call("POST", "/api/v1/certificates/" + serials[i] + "/revoke", &body);
        if (!r) return r.error().context("after " + std::to_string(revoked.size()) + " revoked");
        revoked.push_back(serials[i]);
      }
      progress.update(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(serials.size()));
    }
  } else {
    SIGIL_TRY(auto ctx, open_store(g.home));
    Metrics metrics;  // one command's: a running server counts its own revocations
    revocation::Revoker revoker(*ctx->store, ctx->clock, metrics);
    std::vector<store::CertificateRecord> records;
    for (const auto& serial : serials) {
      SIGIL_TRY(auto rec, revoker.find(serial));
      if (!rec) return make_error(Errc::not_found, "no certificate with serial " + serial + "; nothing was revoked");
      if (rec->der.empty() || rec->status == store::CertStatus::pending)
        return make_error(Errc::conflict, "certificate " + serial + " was never signed; nothing was revoked");
      records.push_back(std::move(*rec));
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (records[i].status == store::CertStatus::revoked) {
        already.push_back(records[i].serial);
      } else {
        auto r = revoker.revoke(records[i], {reason, cli_actor(), "bulk"});
        if (!r) return r.error().context("after " + std::to_string(revoked.size()) + " revoked");
        revoked.push_back(records[i].serial);
      }
      progress.update(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(records.size()));
    }
  }
  if (g.json)
    std::cout << json{{"revoked", revoked}, {"already_revoked", already}, {"reason", store::to_string(reason)}}.dump(2)
              << "\n";
  else
    std::cout << "revoked " << revoked.size() << " certificate(s) (" << store::to_string(reason) << "), "
              << already.size() << " already revoked\n";
  return {};
}

Status run_backup(const Globals& g, const std::string& out) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  {
    Progress progress("backup (pages)");
    SIGIL_TRY_STATUS(
        ctx->store->backup(out, [&](std::int64_t done, std::int64_t total) { progress.update(done, total); }));
  }
  SIGIL_TRY(std::int64_t n, ctx->store->count());
  if (g.json)
    std::cout << json{{"out", out}, {"certificates", n}}.dump(2) << "\n";
  else
    std::cout << "backup of " << n << " certificates written to " << out << "\n";
  return {};
}

}  // namespace

void add_certificates(CLI::App& app, Globals& g) {
  auto lo = std::make_shared<ListOptions>();
  CLI::App* list = app.add_subcommand("list", "List issued certificates");
  list->add_option("--status", lo->status, "valid|revoked|expired");
  list->add_option("--expiring-within", lo->expiring_within, "Only valid certificates expiring within, e.g. 7d");
  list->add_option("--profile", lo->profile, "Only this profile");
  list->add_option("--name", lo->name, "Only certificates naming this, e.g. a.example or ip:10.0.0.1");
  list->add_option("--limit", lo->limit, "One page of at most this many (1..1000), and the next page's token");
  list->add_option("--page-token", lo->page_token, "Continue from a previous page (--limit's next page token)");
  add_remote_flags(list, lo->remote);
  list->callback([&g, lo] { g.status = run_list(g, *lo); });

  struct ShowOptions {
    std::string serial;
    bool pem = false;
    RemoteOptions remote;
  };
  auto so = std::make_shared<ShowOptions>();
  CLI::App* show = app.add_subcommand("show", "Show one certificate");
  show->add_option("serial", so->serial, "Serial number (hex)")->required();
  show->add_flag("--pem", so->pem, "Print the certificate as PEM");
  add_remote_flags(show, so->remote);
  show->callback([&g, so] { g.status = run_show(g, so->serial, so->pem, so->remote); });

  struct RevokeOptions {
    std::string serial;
    std::string serials_file;
    std::string reason = "unspecified";
    RemoteOptions remote;
  };
  auto ro = std::make_shared<RevokeOptions>();
  CLI::App* revoke = app.add_subcommand("revoke", "Revoke a certificate, or every one a file names");
  auto* one = revoke->add_option("serial", ro->serial, "Serial number (hex)");
  auto* many = revoke->add_option("--serials-file", ro->serials_file,
                                  "Revoke every serial in FILE (one per line, '#' comments; - for stdin); each is "
                                  "looked up first, those already revoked are skipped");
  one->excludes(many);
  revoke->add_option("--reason", ro->reason, store::kRevocationReasonNames)->capture_default_str();
  add_remote_flags(revoke, ro->remote);
  revoke->callback([&g, ro] {
    if (ro->serial.empty() == ro->serials_file.empty())
      g.status = make_error(Errc::invalid_argument, "give a serial or --serials-file");
    else if (!ro->serials_file.empty())
      g.status = run_revoke_many(g, ro->serials_file, ro->reason, ro->remote);
    else
      g.status = run_revoke(g, ro->serial, ro->reason, ro->remote);
  });

  auto out = std::make_shared<std::string>();
  CLI::App* backup = app.add_subcommand("backup", "Consistent copy of the database, safe while the CA runs");
  backup->add_option("--out", *out, "Backup file")->required();
  backup->callback([&g, out] { g.status = run_backup(g, *out); });
}

}  // namespace sigil::cli
