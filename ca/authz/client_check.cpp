#include "ca/authz/client_check.hpp"

#include <algorithm>

#include "ca/crypto/oids.hpp"

namespace sigil::authz {

Result<ClientTrust> client_trust(std::string own_cas_pem, const std::vector<ExternalAnchors>& external) {
  ClientTrust t;
  t.anchors_pem = std::move(own_cas_pem);
  for (const auto& file : external) {
    auto certs = crypto::certificates_from_pem(file.pem);
    if (!certs) return certs.error().context("tls.client_trust_anchors: " + file.name);
    for (const auto& cert : *certs) {
      auto kid = cert.subject_key_id();
      if (!cert.is_ca() || !kid)
        return make_error(Errc::invalid_argument, "tls.client_trust_anchors: " + file.name +
                                                      ": not a CA certificate with a subjectKeyIdentifier");
      t.anchors_pem += cert.pem();
      t.external_key_ids.push_back(*kid);
    }
  }
  return t;
}

std::function<Status(const crypto::Certificate&)> client_check(IssuedLookup lookup, std::vector<Bytes> external) {
  return [lookup = std::move(lookup), external = std::move(external)](const crypto::Certificate& leaf) -> Status {
    SIGIL_TRY(auto rec, lookup(leaf.serial_hex()));
    if (rec && rec->der == leaf.der()) {
      if (rec->state == IssuedRecord::State::revoked) return make_error(Errc::unauthorized, "certificate revoked");
      if (rec->state != IssuedRecord::State::valid) return make_error(Errc::unauthorized, "certificate not valid");
      return {};
    }
    if (!external.empty()) {
      if (const auto* aki = leaf.tbs().find(crypto::oid::authority_key_identifier)) {
        auto kid = crypto::decode_authority_key_id(aki->value);
        if (kid && std::find(external.begin(), external.end(), *kid) != external.end()) return {};
      }
    }
    return make_error(Errc::unauthorized, "certificate not issued by this CA");
  };
}

}  // namespace sigil::authz
