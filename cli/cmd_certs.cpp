// sigil list | show | revoke | backup: the certificate ledger, without any key.
#include <algorithm>
#include <cctype>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using store::CertStatus;
using store::RevocationReason;

std::string reason_name(RevocationReason r) { return store::to_string(r); }

std::string status_of(const store::CertificateRecord& r, std::int64_t now) {
  if (r.status == CertStatus::valid && r.not_after <= now) return "expired";
  return store::to_string(r.status);
}

nlohmann::json to_json(const store::CertificateRecord& r, std::int64_t now) {
  nlohmann::json j = {{"serial", r.serial},
                      {"status", status_of(r, now)},
                      {"profile", r.profile},
                      {"subject", r.subject},
                      {"sans", r.sans},
                      {"not_before", format_rfc3339(from_unix(r.not_before))},
                      {"not_after", format_rfc3339(from_unix(r.not_after))},
                      {"requester", r.requester},
                      {"issuer_id", r.issuer_id},
                      {"created_at", format_rfc3339(from_unix(r.created_at))}};
  if (r.revoked_at) j["revoked_at"] = format_rfc3339(from_unix(*r.revoked_at));
  if (r.revocation_reason) j["revocation_reason"] = reason_name(*r.revocation_reason);
  return j;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

struct ListOptions {
  std::string status;
  std::string expiring_within;
  std::string profile;
};

Status run_list(const Globals& g, const ListOptions& o) {
  store::ListFilter f;
  if (o.status == "valid") f.status = store::ListFilter::Status::valid;
  else if (o.status == "revoked") f.status = store::ListFilter::Status::revoked;
  else if (o.status == "expired") f.status = store::ListFilter::Status::expired;
  else if (!o.status.empty())
    return make_error(Errc::invalid_argument, "--status must be valid, revoked or expired");
  SIGIL_TRY(auto ctx, open_store(g.home));
  f.now = to_unix(ctx->clock.now());
  if (!o.expiring_within.empty()) {
    SIGIL_TRY(Seconds within, parse_duration(o.expiring_within));
    f.expiring_before = f.now + within.count();
    if (f.status == store::ListFilter::Status::any) f.status = store::ListFilter::Status::valid;
  }
  if (!o.profile.empty()) f.profile = o.profile;
  f.limit = 1000;
  std::vector<store::CertificateRecord> all;
  for (;;) {
    SIGIL_TRY(store::Page page, ctx->store->list(f));
    for (auto& r : page.items) all.push_back(std::move(r));
    if (page.next_page_token.empty()) break;
    f.page_token = page.next_page_token;
  }
  if (g.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : all) j.push_back(to_json(r, f.now));
    std::cout << j.dump(2) << "\n";
    return {};
  }
  std::cout << std::left << std::setw(34) << "SERIAL" << std::setw(9) << "STATUS" << std::setw(8) << "PROFILE"
            << std::setw(22) << "NOT AFTER" << "NAMES\n";
  for (const auto& r : all)
    std::cout << std::setw(34) << r.serial << std::setw(9) << status_of(r, f.now) << std::setw(8) << r.profile
              << std::setw(22) << format_rfc3339(from_unix(r.not_after)) << join(r.sans) << "\n";
  std::cout << all.size() << " certificate" << (all.size() == 1 ? "" : "s") << "\n";
  return {};
}

Status run_show(const Globals& g, const std::string& serial_arg, bool pem) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto rec, ctx->store->find(serial));
  if (!rec) return make_error(Errc::not_found, "no certificate with serial " + serial);
  const std::int64_t now = to_unix(ctx->clock.now());
  if (pem) {
    if (rec->der.empty()) return make_error(Errc::not_found, "certificate " + serial + " was never signed (pending)");
    std::cout << pem_encode("CERTIFICATE", rec->der);
    return {};
  }
  if (g.json) {
    auto j = to_json(*rec, now);
    if (!rec->der.empty()) j["certificate"] = pem_encode("CERTIFICATE", rec->der);
    std::cout << j.dump(2) << "\n";
    return {};
  }
  std::cout << "serial:      " << rec->serial << "\n"
            << "status:      " << status_of(*rec, now) << "\n"
            << "profile:     " << rec->profile << "\n"
            << "subject:     " << (rec->subject.empty() ? "(empty)" : rec->subject) << "\n"
            << "names:       " << join(rec->sans) << "\n"
            << "not before:  " << format_rfc3339(from_unix(rec->not_before)) << "\n"
            << "not after:   " << format_rfc3339(from_unix(rec->not_after)) << "\n"
            << "requester:   " << rec->requester << "\n";
  if (rec->revoked_at)
    std::cout << "revoked:     " << format_rfc3339(from_unix(*rec->revoked_at)) << " ("
              << reason_name(rec->revocation_reason.value_or(RevocationReason::unspecified)) << ")\n";
  return {};
}

Status run_revoke(const Globals& g, const std::string& serial_arg, const std::string& reason_text) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(RevocationReason reason, store::parse_revocation_reason(reason_text));
  SIGIL_TRY(auto ctx, open_store(g.home));
  const std::int64_t now = to_unix(ctx->clock.now());
  SIGIL_TRY_STATUS(ctx->store->revoke(serial, now, reason,
                                      {now, cli_actor(), "revoke", serial, "ok", "reason=" + reason_name(reason)}));
  if (g.json)
    std::cout << nlohmann::json{{"serial", serial}, {"status", "revoked"}, {"reason", reason_name(reason)},
                                {"revoked_at", format_rfc3339(from_unix(now))}}
                     .dump(2)
              << "\n";
  else
    std::cout << "revoked " << serial << " (" << reason_name(reason) << ")\n";
  return {};
}

Status run_backup(const Globals& g, const std::string& out) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY_STATUS(ctx->store->backup(out));
  SIGIL_TRY(std::int64_t n, ctx->store->count());
  if (g.json)
    std::cout << nlohmann::json{{"out", out}, {"certificates", n}}.dump(2) << "\n";
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
  list->callback([&g, lo] { g.status = run_list(g, *lo); });

  auto serial = std::make_shared<std::string>();
  auto pem = std::make_shared<bool>(false);
  CLI::App* show = app.add_subcommand("show", "Show one certificate");
  show->add_option("serial", *serial, "Serial number (hex)")->required();
  show->add_flag("--pem", *pem, "Print the certificate as PEM");
  show->callback([&g, serial, pem] { g.status = run_show(g, *serial, *pem); });

  auto rserial = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>("unspecified");
  CLI::App* revoke = app.add_subcommand("revoke", "Revoke a certificate");
  revoke->add_option("serial", *rserial, "Serial number (hex)")->required();
  revoke->add_option("--reason", *reason, store::kRevocationReasonNames)
      ->capture_default_str();
  revoke->callback([&g, rserial, reason] { g.status = run_revoke(g, *rserial, *reason); });

  auto out = std::make_shared<std::string>();
  CLI::App* backup = app.add_subcommand("backup", "Consistent copy of the database, safe while the CA runs");
  backup->add_option("--out", *out, "Backup file")->required();
  backup->callback([&g, out] { g.status = run_backup(g, *out); });
}

}  // namespace sigil::cli
