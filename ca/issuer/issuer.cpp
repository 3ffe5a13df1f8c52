#include "ca/issuer/issuer.hpp"

#include <algorithm>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/issuer/lint.hpp"

namespace sigil::issuer {
namespace {
using crypto::GeneralName;

Error lint_refusal(const std::vector<std::string>& findings) {
  std::string detail = "refusing to sign: ";
  for (std::size_t i = 0; i < findings.size(); ++i) detail += (i ? "; " : "") + findings[i];
  return make_error(Errc::lint_failed, detail);
}

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

std::string issuer_id(const crypto::Certificate& ca) { return key_sha256(ca.public_key()); }

std::string key_sha256(const crypto::PublicKey& key) { return to_hex(crypto::sha256(key.spki)); }

IssuerUrls urls_for(const std::string& public_url, const crypto::Certificate& ca) {
  if (public_url.empty()) return {};
  const std::string base = trim_slash(public_url);
  const std::string short_id = issuer_id(ca).substr(0, 16);
  return {base + crl_path(ca, 0), base + "/ocsp", base + "/ca/" + short_id + ".crt"};
}

std::string crl_path(const crypto::Certificate& ca, int shard, bool delta) {
  const std::string short_id = issuer_id(ca).substr(0, 16);
  const std::string suffix = delta ? "-delta.crl" : ".crl";
  if (shard == 0) return "/crl/" + short_id + suffix;
  return "/crl/" + short_id + "/" + std::to_string(shard) + suffix;
}

std::string crl_url(const std::string& public_url, const crypto::Certificate& ca, int shard, bool delta) {
  if (public_url.empty()) return {};
  return trim_slash(public_url) + crl_path(ca, shard, delta);
}

int crl_shard_for(crypto::ByteView serial, int shards) {
  if (shards <= 1) return 0;
  // The serial's low 64 bits are CSPRNG output: uniform over the shards (the bias of 2^64 mod N
  // is below 2^-50).
  std::uint64_t low = 0;
  const std::size_t n = std::min<std::size_t>(serial.size(), 8);
  for (std::size_t i = serial.size() - n; i < serial.size(); ++i) low = (low << 8) | serial[i];
  return 1 + static_cast<int>(low % static_cast<std::uint64_t>(shards));
}

Bytes new_serial() {
  Bytes s = crypto::random_bytes(16);
  s[0] &= 0x7f;
  if (s[0] == 0) s[0] = 0x01;
  return s;
}

Issuer::Issuer(policy::IdentifierPolicy identifiers, policy::Profiles profiles, Options options, const Clock& clock,
               store::CertificateLedger& ledger)
    : identifiers_(std::move(identifiers)),
      profiles_(std::move(profiles)),
      options_(std::move(options)),
      clock_(clock),
      ledger_(ledger) {}

Result<std::unique_ptr<const Authority>> Issuer::make_authority(std::shared_ptr<const crypto::Signer> key,
                                                                crypto::Certificate cert) const {
  if (key->public_key().spki != cert.public_key().spki)
    return make_error(Errc::invalid_argument, "the CA key does not match the CA certificate");
  if (!cert.is_ca()) return make_error(Errc::invalid_argument, "the CA certificate is not a CA (basicConstraints)");
  if (const auto* ku = cert.tbs().find(crypto::oid::key_usage)) {
    auto bits = crypto::decode_key_usage(ku->value);
    if (!bits || !(*bits & crypto::ku::key_cert_sign))
      return make_error(Errc::invalid_argument, "the CA certificate lacks keyCertSign");
  }
  auto ski = cert.subject_key_id();
  if (!ski) return make_error(Errc::invalid_argument, "the CA certificate has no subjectKeyIdentifier");
  std::optional<crypto::NameConstraints> constraints;
  if (const auto* nc = cert.tbs().find(crypto::oid::name_constraints)) {
    SIGIL_TRY(constraints, crypto::decode_name_constraints(nc->value));
  }
  std::string id = issuer_id(cert);
  IssuerUrls urls = urls_for(options_.public_url, cert);
  std::string pem = cert.pem();
  auto a = std::unique_ptr<Authority>(new Authority{std::move(key), std::move(cert), std::move(id), std::move(pem),
                                                    std::move(*ski), std::move(urls), std::move(constraints)});
  return std::unique_ptr<const Authority>(std::move(a));
}

Result<std::unique_ptr<Issuer>> Issuer::create(const crypto::Signer& signer, crypto::Certificate ca_cert,
                                               policy::IdentifierPolicy identifiers, policy::Profiles profiles,
                                               Options options, const Clock& clock, store::CertificateLedger& ledger) {
  SIGIL_TRY_STATUS(identifiers.validate());
  std::unique_ptr<Issuer> is(
      new Issuer(std::move(identifiers), std::move(profiles), std::move(options), clock, ledger));
  // The caller owns the signer and keeps it alive as long as the Issuer.
  std::shared_ptr<const crypto::Signer> borrowed(&signer, [](const crypto::Signer*) {});
  SIGIL_TRY_STATUS(is->add_authority(std::move(borrowed), std::move(ca_cert)));
  return is;
}

Result<const Authority*> Issuer::add_authority(std::shared_ptr<const crypto::Signer> key, crypto::Certificate cert) {
  SIGIL_TRY(auto made, make_authority(std::move(key), std::move(cert)));
  std::lock_guard lock(authorities_mu_);
  const Authority* a = made.get();
  kept_.push_back(std::move(made));
  auto same = std::find_if(known_.begin(), known_.end(), [&](const Authority* k) { return k->id == a->id; });
  if (same != known_.end()) {
    if (current_.load() == *same) current_.store(a);
    *same = a;
  } else {
    known_.push_back(a);
  }
  if (!current_.load()) current_.store(a);
  return a;
}

Status Issuer::make_current(std::string_view id) {
  std::lock_guard lock(authorities_mu_);
  for (const Authority* a : known_)
    if (a->id == id) {
      if (clock_.now() >= a->cert.tbs().not_after)
        return make_error(Errc::policy_violation, "the intermediate " + std::string(id.substr(0, 16)) + " has expired");
      current_.store(a);
      return {};
    }
  return make_error(Errc::not_found, "no intermediate " + std::string(id.substr(0, 16)));
}

std::vector<const Authority*> Issuer::authorities() const {
  std::lock_guard lock(authorities_mu_);
  std::vector<const Authority*> out{current_.load()};
  for (const Authority* a : known_)
    if (a != out.front()) out.push_back(a);
  return out;
}

const Authority* Issuer::authority(std::string_view id) const {
  std::lock_guard lock(authorities_mu_);
  for (const Authority* a : known_)
    if (a->id == id) return a;
  return nullptr;
}

Result<std::vector<GeneralName>> Issuer::requested_names(const crypto::Csr& csr) const {
  std::vector<GeneralName> requested = csr.sans();
  // A CN outside the SANs is a name the requester expects to be certified (as Boulder does):
  // it joins the identifiers and passes the same checks.
  if (const auto& cn = csr.common_name(); cn && !cn->empty()) {
    const auto type = crypto::ip_to_bytes(*cn) ? GeneralName::Type::ip : GeneralName::Type::dns;
    GeneralName g{type, *cn};
    auto norm = policy::normalize(g);
    if (!norm) return make_error(Errc::bad_csr, "CSR common name: " + norm.error().detail);
    bool present = false;
    for (const auto& s : requested) {
      auto ns = policy::normalize(s);
      present = present || (ns && *ns == *norm);
    }
    if (!present) requested.insert(requested.begin(), *norm);
  }
  if (requested.empty()) return make_error(Errc::bad_csr, "the CSR names no identifier (no SAN, no CN)");
  return requested;
}

bool IdentifierAssessment::allowed() const {
  return std::all_of(decisions.begin(), decisions.end(), [](const auto& d) { return d.allowed; });
}

bool Assessment::allowed() const {
  return std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.second.allowed; }) &&
         std::all_of(identifiers.begin(), identifiers.end(), [](const auto& i) { return i.allowed(); });
}

Result<policy::Decision> Issuer::decide_not_blocked(const crypto::PublicKey& key) const {
  SIGIL_TRY(auto blocked, ledger_.blocked_key(key_sha256(key)));
  if (!blocked) return policy::Decision::allow("blocked_keys", "the key is not blocked");
  return policy::Decision::refuse(Errc::bad_public_key, "blocked_keys",
                                  std::string("key is blocked: revoked for ") + store::to_string(blocked->reason) +
                                      " (certificate " + blocked->serial + ", " +
                                      format_rfc3339(from_unix(blocked->blocked_at)) + ")");
}

// The order is prepare's: syntax, the profile's SAN types, the identifier policy, the issuing
// CA's name constraints. The first refusal is what prepare answers.
IdentifierAssessment Issuer::assess_name(const GeneralName& requested, const policy::Profile& p,
                                         const Authority& by) const {
  IdentifierAssessment a;
  a.identifier = crypto::to_string(requested);
  auto n = policy::normalize(requested);
  if (!n) {
    a.decisions.push_back(policy::Decision::refuse(n.error().code, "syntax", n.error().detail));
    return a;
  }
  a.identifier = crypto::to_string(*n);
  a.name = *n;
  a.decisions.push_back(p.decide_type(*n));
  a.decisions.push_back(identifiers_.decide(*n));
  if (by.name_constraints)
    a.decisions.push_back(policy::decide_name_constraints(*by.name_constraints, *n));
  else
    a.decisions.push_back(policy::Decision::allow("name_constraints", "the issuing CA has none"));
  return a;
}

Status Issuer::approve(const std::vector<GeneralName>& requested, const policy::Profile& p, const Authority& by,
                       bool stop, Assessment& out) const {
  if (requested.size() > 100) return make_error(Errc::bad_csr, "more than 100 identifiers");
  for (const auto& r : requested) {
    IdentifierAssessment a = assess_name(r, p, by);
    const bool duplicate = std::any_of(out.identifiers.begin(), out.identifiers.end(),
                                       [&](const auto& seen) { return seen.name && seen.name == a.name; });
    if (duplicate) continue;  // duplicates collapse
    for (const auto& d : a.decisions)
      if (stop && !d.allowed) return d.status();
    if (a.allowed()) out.names.push_back(*a.name);
    out.identifiers.push_back(std::move(a));
  }
  auto spiffe = p.decide_spiffe(out.names);
  if (stop && !spiffe.allowed) return spiffe.status();
  out.checks.emplace_back("require_spiffe", std::move(spiffe));
  return {};
}

Result<GeneralName> Issuer::check_identifier(const GeneralName& name, std::string_view profile) const {
  std::shared_lock lock(policy_mu_);
  const policy::Profile* p = profiles_.find(profile);
  if (!p) return make_error(Errc::invalid_argument, "unknown profile '" + std::string(profile) + "'");
  Assessment out;
  SIGIL_TRY_STATUS(approve({name}, *p, current(), true, out));
  return out.names.at(0);
}

policy::Profiles Issuer::profiles() const {
  std::shared_lock lock(policy_mu_);
  return profiles_;
}

Status Issuer::update_crl_layout(CrlLayout layout) {
  if (layout.shards < 1 || layout.shards > kMaxCrlShards)
    return make_error(Errc::invalid_argument, "CRL shards must be between 1 and " + std::to_string(kMaxCrlShards));
  std::unique_lock lock(policy_mu_);
  crl_layout_ = layout;
  return {};
}

Status Issuer::update_policy(policy::IdentifierPolicy identifiers, policy::Profiles profiles) {
  SIGIL_TRY_STATUS(identifiers.validate());
  std::unique_lock lock(policy_mu_);
  identifiers_ = std::move(identifiers);
  profiles_ = std::move(profiles);
  return {};
}

Result<Assessment> Issuer::assess(const Request& req) const {
  std::shared_lock lock(policy_mu_);
  const policy::Profile* profile = profiles_.find(req.profile);
  if (!profile) return make_error(Errc::invalid_argument, "unknown profile '" + req.profile + "'");
  return assess_locked(req, *profile, current(), false);
}

Result<Assessment> Issuer::assess_locked(const Request& req, const policy::Profile& profile, const Authority& ca,
                                         bool stop) const {
  Assessment out;
  out.profile = profile.name;
  // Each decision in prepare's order; with `stop`, the first refusal ends it as prepare's error.
  auto decided = [&](const char* check, policy::Decision d) -> Status {
    if (stop && !d.allowed) return d.status();
    out.checks.emplace_back(check, std::move(d));
    return {};
  };
  out.ttl = req.ttl.value_or(profile.default_ttl);
  if (out.ttl.count() <= 0) return make_error(Errc::invalid_argument, "the TTL must be positive");
  SIGIL_TRY_STATUS(decided("ttl", profile.decide_ttl(out.ttl)));

  std::vector<GeneralName> requested;
  if (!req.csr.empty()) {
    SIGIL_TRY(crypto::Csr csr, crypto::Csr::from_pem_or_der(req.csr));
    if (auto v = crypto::verify_signature(csr.public_key(), csr.signature_algorithm(), csr.info_der(), csr.signature());
        !v)
      return make_error(Errc::bad_csr, "the CSR's signature does not verify");
    out.key = csr.public_key();
    if (!req.renewal_of) {
      SIGIL_TRY(requested, requested_names(csr));
    }
  } else if (req.renewal_of) {
    out.key = req.renewal_of->public_key();
  } else {
    return make_error(Errc::bad_csr, "no CSR");
  }
  if (req.renewal_of) {
    const auto* san = req.renewal_of->tbs().find(crypto::oid::subject_alt_name);
    if (!san) return make_error(Errc::invalid_argument, "the certificate to renew has no subjectAltName");
    SIGIL_TRY(requested, crypto::decode_general_names(san->value));
  }
  SIGIL_TRY_STATUS(decided("key_policy", policy::decide_key(out.key)));
  SIGIL_TRY_STATUS(decided("key_types", profile.decide_key_type(out.key.algorithm)));
  SIGIL_TRY(auto blocked, decide_not_blocked(out.key));
  SIGIL_TRY_STATUS(decided("blocked_keys", std::move(blocked)));
  SIGIL_TRY_STATUS(approve(requested, profile, ca, stop, out));
  return out;
}

Result<Prepared> Issuer::prepare(const Request& req) const {
  std::shared_lock lock(policy_mu_);  // one policy for the whole request
  const Authority& ca = current();    // and one authority
  const policy::Profile* profile = profiles_.find(req.profile);
  if (!profile) return make_error(Errc::invalid_argument, "unknown profile '" + req.profile + "'");
  SIGIL_TRY(Assessment checked, assess_locked(req, *profile, ca, true));
  const Seconds ttl = checked.ttl;
  const crypto::PublicKey& key = checked.key;
  const std::vector<GeneralName>& names = checked.names;

  // Validity: backdated for skew, never outside the issuer's own.
  const TimePoint now = clock_.now();
  const TimePoint ca_nb = ca.cert.tbs().not_before;
  const TimePoint ca_na = ca.cert.tbs().not_after;
  if (now >= ca_na) return make_error(Errc::policy_violation, "the issuing CA has expired");
  if (now < ca_nb) return make_error(Errc::policy_violation, "the issuing CA is not yet valid");
  const TimePoint not_before = std::max(now - options_.backdate, ca_nb);
  const TimePoint not_after = std::min(now + ttl, ca_na);

  crypto::CertificateSpec spec;
  spec.serial = new_serial();
  spec.signature = ca.key->signature_algorithm();
  spec.issuer.assign(ca.cert.tbs().subject.begin(), ca.cert.tbs().subject.end());
  // The CA builds the subject: the first DNS name as CN (it fits in 64), else empty (the SAN is
  // then critical). Never an IP: with no DNS SAN, OpenSSL checks a CN that looks like a host name
  // (an IPv4 literal does) against the intermediate's dNSName constraints, and refuses the leaf.
  std::string cn;
  for (const auto& n : names)
    if (n.type == GeneralName::Type::dns && n.value.size() <= 64) {
      cn = n.value;
      break;
    }
  spec.subject = crypto::encode_name(cn);
  spec.not_before = not_before;
  spec.not_after = not_after;
  spec.spki = key.spki;
  spec.key_usage = profile->key_usage_for(key.algorithm);
  spec.ext_key_usage = profile->ext_key_usage;
  spec.subject_key_id = crypto::key_identifier(key);
  spec.authority_key_id = ca.key_id;
  spec.sans = names;
  // The CRL shard is fixed here, with the serial, and recorded with the certificate.
  int shard = 0;
  if (!ca.urls.crl.empty()) {
    shard = crl_shard_for(spec.serial, crl_layout_.shards);
    spec.crl_urls = {crl_url(options_.public_url, ca.cert, shard)};
    if (crl_layout_.deltas) spec.freshest_crl_urls = {crl_url(options_.public_url, ca.cert, shard, true)};
    spec.ocsp_urls = {ca.urls.ocsp};
    spec.ca_issuer_urls = {ca.urls.ca_issuers};
  }
  SIGIL_TRY(Bytes tbs, crypto::encode_tbs(spec));
  // The signature and its AlgorithmIdentifier add at most about 1.1 KiB (RSA-8192).
  if (tbs.size() + 2048 > kMaxCertificateSize)
    return make_error(Errc::policy_violation, "the certificate would be larger than the " +
                                                  std::to_string(kMaxCertificateSize) +
                                                  " octets this CA issues at most: fewer or shorter names");

  const LintExpectations want{
      ca.cert, *profile, names, profile->max_ttl + options_.backdate, !ca.urls.crl.empty(), !ca.urls.crl.empty()};
  if (auto findings = lint_leaf(tbs, want); !findings.empty()) return lint_refusal(findings);

  Prepared p;
  auto& pc = p.pending_;
  pc.serial = to_hex(spec.serial);
  pc.issuer_id = ca.id;
  p.authority_ = &ca;
  pc.tbs_der = std::move(tbs);
  pc.subject = cn.empty() ? "" : "CN=" + cn;
  for (const auto& n : names) pc.sans.push_back(crypto::to_string(n));
  pc.profile = profile->name;
  pc.requester = req.requester;
  pc.not_before = to_unix(not_before);
  pc.not_after = to_unix(not_after);
  pc.created_at = to_unix(now);
  pc.crl_shard = shard;
  return p;
}

Result<Prepared> Issuer::prepare_ocsp_responder(const crypto::PublicKey& key, Seconds ttl, const std::string& requester,
                                                const Authority* by) const {
  const Authority& ca = by ? *by : current();
  SIGIL_TRY_STATUS(policy::check_key(key));
  const TimePoint now = clock_.now();
  if (now >= ca.cert.tbs().not_after) return make_error(Errc::policy_violation, "the issuing CA has expired");
  crypto::CertificateSpec spec;
  spec.serial = new_serial();
  spec.signature = ca.key->signature_algorithm();
  spec.issuer.assign(ca.cert.tbs().subject.begin(), ca.cert.tbs().subject.end());
  const std::string cn = "OCSP Responder " + ca.id.substr(0, 16);
  spec.subject = crypto::encode_name(cn);
  spec.not_before = std::max(now - options_.backdate, ca.cert.tbs().not_before);
  spec.not_after = std::min(now + ttl, ca.cert.tbs().not_after);
  spec.spki = key.spki;
  spec.key_usage = crypto::ku::digital_signature;
  spec.ext_key_usage = {crypto::Eku::ocsp_signing};
  spec.subject_key_id = crypto::key_identifier(key);
  spec.authority_key_id = ca.key_id;
  spec.ocsp_no_check = true;
  SIGIL_TRY(Bytes tbs, crypto::encode_tbs(spec));
  if (auto findings = lint_ocsp_responder(tbs, ca.cert, ttl + options_.backdate); !findings.empty())
    return lint_refusal(findings);
  Prepared p;
  p.authority_ = &ca;
  auto& pc = p.pending_;
  pc.serial = to_hex(spec.serial);
  pc.issuer_id = ca.id;
  pc.tbs_der = std::move(tbs);
  pc.subject = "CN=" + cn;
  pc.profile = "ocsp-responder";
  pc.requester = requester;
  pc.not_before = to_unix(spec.not_before);
  pc.not_after = to_unix(spec.not_after);
  pc.created_at = to_unix(now);
  return p;
}

Result<Issued> Issuer::issue(Prepared&& prepared) {
  if (prepared.used_) return make_error(Errc::internal, "a prepared certificate can be issued once");
  prepared.used_ = true;  // the moved-from token keeps it: a second issue() is refused
  Prepared p = std::move(prepared);
  const auto& pc = p.pending_;
  const std::int64_t now = to_unix(clock_.now());
  auto audit = [&](std::string action, std::string detail) {
    return store::AuditEntry{now, pc.requester, std::move(action), pc.serial, "ok", std::move(detail)};
  };
  std::string names;
  for (const auto& s : pc.sans) names += (names.empty() ? "" : ",") + s;
  // Persist before sign: every serial ever signed is known to the store.
  SIGIL_TRY_STATUS(ledger_.reserve(pc, audit("reserve", "profile=" + pc.profile + " names=" + names)));
  const Authority& ca = *p.authority_;
  SIGIL_TRY(Bytes signature, ca.key->sign(pc.tbs_der));
  Issued out;
  out.der = crypto::assemble_signed(pc.tbs_der, ca.key->signature_algorithm(), signature);
  // Persist before release: nobody receives a certificate the store does not hold.
  SIGIL_TRY_STATUS(ledger_.complete(pc.serial, out.der, audit("issue", "profile=" + pc.profile + " names=" + names)));
  out.serial = pc.serial;
  out.chain_pem = pem_encode("CERTIFICATE", out.der) + ca.pem;
  out.not_before = from_unix(pc.not_before);
  out.not_after = from_unix(pc.not_after);
  return out;
}

}  // namespace sigil::issuer
