// sigil crl show | sigil ocsp status SERIAL: what relying parties are told, read from the store.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revocation.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

struct CrlShowOptions {
  int shard = 0;
  bool delta = false;
  bool all = false;
};

json crl_json(const store::CrlRecord& crl, const crypto::CrlSummary& s, const std::string& url, TimePoint now) {
  json j = {{"shard", crl.shard},
            {"kind", crl.delta ? "delta" : "complete"},
            {"url", url},
            {"number", s.number.value_or(crl.number)},
            {"this_update", format_rfc3339(s.this_update)},
            {"next_update", format_rfc3339(s.next_update)},
            {"entries", s.entries},
            {"bytes", crl.der.size()},
            {"age_seconds", std::chrono::duration_cast<Seconds>(now - s.this_update).count()},
            {"expired", now >= s.next_update}};
  if (s.base_number) j["base_number"] = *s.base_number;
  if (s.idp && !s.idp->urls.empty()) j["issuing_distribution_point"] = s.idp->urls.front();
  if (!s.freshest_crl_urls.empty()) j["freshest_crl"] = s.freshest_crl_urls.front();
  return j;
}

Status run_crl_show(const Globals& g, const CrlShowOptions& o) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(crypto::Certificate ca, load_certificate(ctx->home.ca_cert()));
  const std::string id = issuer::issuer_id(ca);
  std::vector<store::CrlRecord> crls;
  if (o.all) {
    SIGIL_TRY(crls, ctx->store->list_crls(id));
  } else {
    SIGIL_TRY(auto crl, ctx->store->latest_crl(id, o.shard, o.delta));
    if (crl) crls.push_back(std::move(*crl));
  }
  if (crls.empty()) {
    const std::string which =
        o.all ? "no CRL" : std::string(o.delta ? "no delta CRL" : "no CRL") + " of shard " + std::to_string(o.shard);
    return make_error(Errc::not_found, which + " has been published yet (sigil serve publishes them)");
  }
  const TimePoint now = ctx->clock.now();
  json all = json::array();
  for (const auto& crl : crls) {
    SIGIL_TRY(crypto::CrlSummary s, crypto::parse_crl_summary(crl.der));
    std::string url = issuer::crl_url(ctx->config.public_url, ca, crl.shard, crl.delta);
    if (url.empty()) url = issuer::crl_path(ca, crl.shard, crl.delta);
    const json j = crl_json(crl, s, url, now);
    if (g.json) {
      all.push_back(j);
    } else if (o.all) {
      // One line per CRL.
      std::cout << "shard " << crl.shard << (crl.delta ? " delta    " : " complete ") << "#"
                << j["number"].get<std::int64_t>()
                << (s.base_number ? " (base #" + std::to_string(*s.base_number) + ")" : "") << "  " << s.entries
                << " entries, " << crl.der.size() << " bytes, next update " << format_rfc3339(s.next_update)
                << (now >= s.next_update ? " (EXPIRED)" : "") << "  " << url << "\n";
    } else {
      const auto age = std::chrono::duration_cast<Seconds>(now - s.this_update);
      std::cout << "CRL number:  " << s.number.value_or(crl.number) << "\n"
                << "this update: " << format_rfc3339(s.this_update) << " (" << format_duration(age) << " ago)\n"
                << "next update: " << format_rfc3339(s.next_update) << (now >= s.next_update ? " (EXPIRED)" : "")
                << "\n"
                << "entries:     " << s.entries << "\n"
                << "size:        " << crl.der.size() << " bytes\n"
                << "shard:       " << crl.shard << (crl.delta ? " (delta CRL)" : "") << "\n";
      if (s.base_number) std::cout << "base CRL:    " << *s.base_number << "\n";
      std::cout << "URL:         " << url << "\n";
    }
  }
  if (g.json) std::cout << (o.all ? all : all.front()).dump(2) << "\n";
  return {};
}

Status run_ocsp_status(const Globals& g, const std::string& serial_arg) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(crypto::Certificate ca, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(auto rec, ctx->store->find(serial));
  // The responder answers for the current intermediate and for the replaced ones it keeps
  // (HOME/ca/archive); their certificates name them by issuer id.
  std::string issuer_id = issuer::issuer_id(ca);
  if (rec && rec->issuer_id != issuer_id)
    for (const auto& old : archived_intermediates(ctx->home, ctx->clock.now()))
      if (issuer::issuer_id(old.cert) == rec->issuer_id) issuer_id = rec->issuer_id;
  const auto st = revocation::ocsp_status(rec, issuer_id);
  const char* name = st.status == crypto::ocsp::CertStatus::good      ? "good"
                     : st.status == crypto::ocsp::CertStatus::revoked ? "revoked"
                                                                      : "unknown";
  const char* reason = store::to_string(static_cast<store::RevocationReason>(st.reason));
  if (g.json) {
    json j = {{"serial", serial}, {"status", name}};
    if (st.status == crypto::ocsp::CertStatus::revoked) {
      j["revoked_at"] = format_rfc3339(st.revoked_at);
      j["reason"] = reason;
    }
    std::cout << j.dump(2) << "\n";
  } else if (st.status == crypto::ocsp::CertStatus::revoked) {
    std::cout << serial << ": revoked at " << format_rfc3339(st.revoked_at) << " (" << reason << ")\n";
  } else {
    std::cout << serial << ": " << name << "\n";
  }
  return {};
}

}  // namespace

void add_revocation(CLI::App& app, Globals& g) {
  CLI::App* crl = app.add_subcommand("crl", "The intermediate's CRLs as published");
  crl->require_subcommand(1);
  auto show_options = std::make_shared<CrlShowOptions>();
  CLI::App* show = crl->add_subcommand("show", "Print the current CRL's number, dates and entry count");
  show->add_option("--shard", show_options->shard, "The CRL shard (revocation.crl_shards; default 0, the issuer's CRL)")
      ->check(CLI::Range(0, issuer::kMaxCrlShards));
  show->add_flag("--delta", show_options->delta, "The shard's delta CRL instead of its complete CRL");
  show->add_flag("--all", show_options->all, "Every CRL published: each shard, complete and delta, one per line");
  show->callback([&g, show_options] { g.status = run_crl_show(g, *show_options); });
  auto serial = std::make_shared<std::string>();
  CLI::App* ocsp = app.add_subcommand("ocsp", "OCSP as the responder answers it");
  ocsp->require_subcommand(1);
  CLI::App* status = ocsp->add_subcommand("status", "Print what the OCSP responder answers for a serial");
  status->add_option("serial", *serial, "Serial number (hex)")->required();
  status->callback([&g, serial] { g.status = run_ocsp_status(g, *serial); });
}

}  // namespace sigil::cli
