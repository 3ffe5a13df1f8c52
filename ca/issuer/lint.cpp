#include "ca/issuer/lint.hpp"

#include <algorithm>

#include "ca/crypto/oids.hpp"

namespace sigil::issuer {
namespace {
namespace oid = crypto::oid;
using crypto::ByteView;

bool same(ByteView a, ByteView b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

const ByteView kKnown[] = {oid::basic_constraints,
                           oid::key_usage,
                           oid::ext_key_usage,
                           oid::subject_key_identifier,
                           oid::authority_key_identifier,
                           oid::subject_alt_name,
                           oid::crl_distribution_points,
                           oid::authority_info_access,
                           oid::freshest_crl};
}  // namespace

std::vector<std::string> lint_leaf(ByteView tbs_der, const LintExpectations& want) {
  std::vector<std::string> f;
  auto tbs_r = crypto::parse_tbs(tbs_der);
  if (!tbs_r) return {"TBS does not parse: " + tbs_r.error().detail};
  const crypto::TbsView& t = *tbs_r;
  const crypto::TbsView& ca = want.issuer.tbs();

  if (t.version != 2) f.push_back("version is not v3");
  if (t.serial.empty() || (t.serial[0] & 0x80)) f.push_back("serial is not positive");
  if (t.serial.size() > 20) f.push_back("serial longer than 20 octets");
  if (t.serial.size() < 9) f.push_back("serial has fewer than 64 bits of entropy");

  auto sig = crypto::parse_algorithm_identifier(t.signature_alg);
  if (!sig || !crypto::signature_fits_key(*sig, want.issuer.public_key().algorithm))
    f.push_back("signature algorithm does not fit the issuer's key");
  if (!same(t.issuer, ca.subject)) f.push_back("issuer name differs from the issuing CA's subject");

  if (t.not_before >= t.not_after) f.push_back("notBefore is not before notAfter");
  if (t.not_before < ca.not_before || t.not_after > ca.not_after) f.push_back("validity extends outside the issuer's");
  if (t.not_after - t.not_before > want.max_validity) f.push_back("validity longer than the profile allows");

  auto key = crypto::parse_spki(t.spki);
  if (!key) {
    f.push_back("subjectPublicKeyInfo: " + key.error().detail);
    return f;
  }
  if (auto k = policy::check_key(*key); !k) f.push_back("key policy: " + k.error().detail);

  for (const auto& e : t.extensions)
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](ByteView k) { return oid::equal(k, e.oid); }))
      f.push_back("unexpected extension " + crypto::der::oid_to_string(e.oid));

  // basicConstraints: present, critical, cA false (RFC 5280 §4.2.1.9 allows absence; we never omit it)
  if (const auto* e = t.find(oid::basic_constraints); !e) {
    f.push_back("basicConstraints missing");
  } else {
    auto bc = crypto::decode_basic_constraints(e->value);
    if (!e->critical) f.push_back("basicConstraints not critical");
    if (!bc || bc->ca || bc->path_len) f.push_back("basicConstraints must be cA:FALSE without pathLen");
  }

  // keyUsage: present, critical, exactly what the profile gives this key type.
  if (const auto* e = t.find(oid::key_usage); !e) {
    f.push_back("keyUsage missing");
  } else {
    auto ku = crypto::decode_key_usage(e->value);
    if (!e->critical) f.push_back("keyUsage not critical");
    if (!ku || *ku != want.profile.key_usage_for(key->algorithm))
      f.push_back("keyUsage does not fit the key and profile");
    if (ku && (*ku & (crypto::ku::key_cert_sign | crypto::ku::crl_sign))) f.push_back("leaf with CA key usage");
    if (ku && key->algorithm != crypto::KeyAlgorithm::rsa && (*ku & crypto::ku::key_encipherment))
      f.push_back("keyEncipherment on a non-RSA key");
  }

  // extendedKeyUsage: exactly the profile's, not critical.
  if (const auto* e = t.find(oid::ext_key_usage); !e) {
    f.push_back("extendedKeyUsage missing");
  } else {
    auto eku = crypto::decode_ext_key_usage(e->value);
    bool ok = eku && eku->size() == want.profile.ext_key_usage.size();
    for (std::size_t i = 0; ok && i < eku->size(); ++i)
      ok = oid::equal((*eku)[i], crypto::eku_oid(want.profile.ext_key_usage[i]));
    if (!ok) f.push_back("extendedKeyUsage differs from the profile");
    if (e->critical) f.push_back("extendedKeyUsage is critical");
  }

  if (const auto* e = t.find(oid::subject_key_identifier); !e) {
    f.push_back("subjectKeyIdentifier missing");
  } else {
    auto ski = crypto::decode_subject_key_id(e->value);
    if (!ski || *ski != crypto::key_identifier(*key)) f.push_back("subjectKeyIdentifier does not match the key");
    if (e->critical) f.push_back("subjectKeyIdentifier is critical");
  }

  if (const auto* e = t.find(oid::authority_key_identifier); !e) {
    f.push_back("authorityKeyIdentifier missing");
  } else {
    auto aki = crypto::decode_authority_key_id(e->value);
    const auto issuer_ski = want.issuer.subject_key_id();
    if (!aki || !issuer_ski || *aki != *issuer_ski) f.push_back("authorityKeyIdentifier differs from the issuer's SKI");
    if (e->critical) f.push_back("authorityKeyIdentifier is critical");
  }

  // subjectAltName: exactly the expected names; critical iff the subject is empty (§4.2.1.6).
  const bool empty_subject = crypto::name_is_empty(t.subject);
  if (const auto* e = t.find(oid::subject_alt_name); !e) {
    f.push_back("subjectAltName missing");
  } else {
    auto names = crypto::decode_general_names(e->value);
    if (!names || *names != want.sans) f.push_back("subjectAltName differs from the approved identifiers");
    if (e->critical != empty_subject) f.push_back("subjectAltName criticality must match an empty subject");
    auto cn = crypto::name_common_name(t.subject);
    if (!cn) {
      f.push_back("subject does not parse");
    } else if (*cn) {
      const bool listed = names && std::any_of(names->begin(), names->end(),
                                               [&](const crypto::GeneralName& n) { return n.value == **cn; });
      if (!listed) f.push_back("subject common name is not among the subjectAltNames");
    }
    if (want.profile.require_spiffe && names) {
      const auto uris = std::count_if(names->begin(), names->end(),
                                      [](const auto& n) { return n.type == crypto::GeneralName::Type::uri; });
      if (uris != 1) f.push_back("SPIFFE profile needs exactly one URI SAN");
    }
  }
  if (auto s = crypto::name_to_string(t.subject); s && !empty_subject) {
    auto cn = crypto::name_common_name(t.subject);
    if (cn && *cn && *s != "CN=" + **cn) f.push_back("subject has attributes other than one CN");
  }

  if (want.expect_crl_url && !t.find(oid::crl_distribution_points)) f.push_back("CRL distribution point missing");
  if (want.expect_aia && !t.find(oid::authority_info_access)) f.push_back("authorityInfoAccess missing");
  return f;
}

std::vector<std::string> lint_ocsp_responder(ByteView tbs_der, const crypto::Certificate& issuer,
                                             Seconds max_validity) {
  std::vector<std::string> f;
  auto tbs_r = crypto::parse_tbs(tbs_der);
  if (!tbs_r) return {"TBS does not parse: " + tbs_r.error().detail};
  const crypto::TbsView& t = *tbs_r;
  if (t.version != 2) f.push_back("version is not v3");
  if (t.serial.size() < 9 || (t.serial[0] & 0x80)) f.push_back("serial is not positive with 64 bits of entropy");
  if (!same(t.issuer, issuer.tbs().subject)) f.push_back("issuer name differs from the issuing CA's subject");
  if (t.not_before >= t.not_after || t.not_before < issuer.tbs().not_before || t.not_after > issuer.tbs().not_after)
    f.push_back("validity outside the issuer's");
  if (t.not_after - t.not_before > max_validity) f.push_back("validity too long for a responder certificate");
  auto key = crypto::parse_spki(t.spki);
  if (!key) f.push_back("subjectPublicKeyInfo does not parse");
  const auto* bc = t.find(oid::basic_constraints);
  auto bcv = bc ? crypto::decode_basic_constraints(bc->value)
                : Result<crypto::BasicConstraints>(make_error(Errc::malformed, ""));
  if (!bc || !bc->critical || !bcv || bcv->ca) f.push_back("basicConstraints must be critical cA:FALSE");
  const auto* ku = t.find(oid::key_usage);
  auto kuv = ku ? crypto::decode_key_usage(ku->value) : Result<std::uint32_t>(make_error(Errc::malformed, ""));
  if (!ku || !ku->critical || !kuv || *kuv != crypto::ku::digital_signature)
    f.push_back("keyUsage must be critical digitalSignature only");
  const auto* eku = t.find(oid::ext_key_usage);
  auto ekuv =
      eku ? crypto::decode_ext_key_usage(eku->value) : Result<std::vector<Bytes>>(make_error(Errc::malformed, ""));
  if (!eku || !ekuv || ekuv->size() != 1 || !oid::equal((*ekuv)[0], oid::kp_ocsp_signing))
    f.push_back("extendedKeyUsage must be id-kp-OCSPSigning only");
  if (!t.find(oid::ocsp_no_check)) f.push_back("id-pkix-ocsp-nocheck missing");
  if (t.find(oid::subject_alt_name)) f.push_back("a responder certificate names no identity");
  const auto* aki = t.find(oid::authority_key_identifier);
  auto akiv = aki ? crypto::decode_authority_key_id(aki->value) : Result<Bytes>(make_error(Errc::malformed, ""));
  if (!akiv || !issuer.subject_key_id() || *akiv != *issuer.subject_key_id())
    f.push_back("authorityKeyIdentifier wrong");
  if (!t.find(oid::subject_key_identifier)) f.push_back("subjectKeyIdentifier missing");
  return f;
}

}  // namespace sigil::issuer
