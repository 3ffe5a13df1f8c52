// sigil crl show | sigil ocsp status SERIAL: what relying parties are told, read from the store.
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revocation.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

Status run_crl_show(const Globals& g) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(crypto::Certificate ca, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(auto crl, ctx->store->latest_crl(issuer::issuer_id(ca)));
  if (!crl) return make_error(Errc::not_found, "no CRL has been published yet (sigil serve publishes it)");
  SIGIL_TRY(crypto::CrlSummary s, crypto::parse_crl_summary(crl->der));
  const TimePoint now = ctx->clock.now();
  const auto age = std::chrono::duration_cast<Seconds>(now - s.this_update);
  if (g.json) {
    std::cout << json{{"number", s.number.value_or(crl->number)},
                      {"this_update", format_rfc3339(s.this_update)},
                      {"next_update", format_rfc3339(s.next_update)},
                      {"entries", s.entries},
                      {"bytes", crl->der.size()},
                      {"age_seconds", age.count()},
                      {"expired", now >= s.next_update}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "CRL number:  " << s.number.value_or(crl->number) << "\n"
              << "this update: " << format_rfc3339(s.this_update) << " (" << format_duration(age) << " ago)\n"
              << "next update: " << format_rfc3339(s.next_update) << (now >= s.next_update ? " (EXPIRED)" : "") << "\n"
              << "entries:     " << s.entries << "\n"
              << "size:        " << crl->der.size() << " bytes\n";
  }
  return {};
}

Status run_ocsp_status(const Globals& g, const std::string& serial_arg) {
  SIGIL_TRY(std::string serial, store::normalize_serial(serial_arg));
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(crypto::Certificate ca, load_certificate(ctx->home.ca_cert()));
  SIGIL_TRY(auto rec, ctx->store->find(serial));
  const auto st = revocation::ocsp_status(rec, issuer::issuer_id(ca));
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
  CLI::App* crl = app.add_subcommand("crl", "The intermediate's CRL as published");
  crl->require_subcommand(1);
  crl->add_subcommand("show", "Print the current CRL's number, dates and entry count")->callback([&g] {
    g.status = run_crl_show(g);
  });
  auto serial = std::make_shared<std::string>();
  CLI::App* ocsp = app.add_subcommand("ocsp", "OCSP as the responder answers it");
  ocsp->require_subcommand(1);
  CLI::App* status = ocsp->add_subcommand("status", "Print what the OCSP responder answers for a serial");
  status->add_option("serial", *serial, "Serial number (hex)")->required();
  status->callback([&g, serial] { g.status = run_ocsp_status(g, *serial); });
}

}  // namespace sigil::cli
