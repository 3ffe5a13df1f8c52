#include <algorithm>

#include "ca/revocation/revocation.hpp"

namespace sigil::revocation {

namespace {
std::string path_of(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  return slash == std::string::npos ? std::string() : url.substr(slash);
}
}  // namespace

Publishers::Publishers(issuer::Issuer& issuer, store::CertificateReader& certificates,
                       store::RevocationReader& revocations, store::CrlStore& crls, store::ClusterStore& cluster,
                       const Clock& clock, Metrics& metrics, CrlOptions crl, OcspOptions ocsp)
    : issuer_(issuer),
      certificates_(certificates),
      revocations_(revocations),
      crls_(crls),
      cluster_(cluster),
      clock_(clock),
      metrics_(metrics),
      crl_options_(std::move(crl)),
      ocsp_options_(ocsp) {
  entries_.store(std::make_shared<const std::vector<std::shared_ptr<Entry>>>());
  // Families exist from the start, so rate() and increase() in alerting rules see the first event.
  metrics_.describe("sigil_crl_builds_total", "counter", "CRLs built, by kind (full, delta)");
  metrics_.describe("sigil_crl_build_failures_total", "counter", "CRL builds that failed");
  metrics_.add("sigil_crl_build_failures_total", {}, 0);
  metrics_.describe("sigil_crl_number", "gauge", "CRL number of the latest CRL, by issuer, shard and kind");
  metrics_.describe("sigil_crl_entries", "gauge", "Entries in the latest CRL, by issuer, shard and kind");
  metrics_.describe("sigil_ocsp_responses_total", "counter", "OCSP responses served, by how (cached, signed, ...)");
  metrics_.describe("sigil_ocsp_signatures_total", "counter", "OCSP responses signed");
  metrics_.describe("sigil_ocsp_cached_responses", "gauge", "Pre-signed OCSP responses held, by issuer");
  metrics_.gauge_fn("sigil_crl_age_seconds", "Seconds since the thisUpdate of the oldest complete CRL published",
                    [this] {
                      std::optional<double> oldest;
                      for (const auto& e : *entries())
                        if (auto age = e->crl->oldest_age()) oldest = std::max(oldest.value_or(0), *age);
                      return oldest.value_or(-1.0);
                    });
  metrics_.gauge_fn("sigil_ocsp_oldest_response_age_seconds", "Age of the oldest pre-signed OCSP response", [this] {
    double oldest = 0;
    for (const auto& e : *entries()) oldest = std::max(oldest, e->ocsp->oldest_response_age());
    return oldest;
  });
}

Publishers::~Publishers() { stop(); }

Status Publishers::add(const issuer::Authority& authority) {
  std::lock_guard lock(add_mu_);
  auto now = entries();
  for (const auto& e : *now)
    if (e->authority->id == authority.id) return {};
  auto e = std::make_shared<Entry>();
  e->authority = &authority;
  e->ca_path = path_of(authority.urls.ca_issuers);
  e->crl = std::make_unique<CrlPublisher>(*authority.key, authority.cert, authority.id, revocations_, crls_, cluster_,
                                          clock_, metrics_, crl_options_);
  SIGIL_TRY_STATUS(e->crl->rebuild());
  e->ocsp =
      std::make_unique<OcspResponder>(issuer_, authority, certificates_, revocations_, clock_, metrics_, ocsp_options_);
  SIGIL_TRY_STATUS(e->ocsp->start());
  e->crl->start();
  auto next = std::make_shared<std::vector<std::shared_ptr<Entry>>>(*now);
  next->push_back(std::move(e));
  entries_.store(std::move(next));
  return {};
}

void Publishers::stop() {
  for (const auto& e : *entries()) {
    e->ocsp->stop();
    e->crl->stop();
  }
}

std::shared_ptr<Publishers::Entry> Publishers::current_entry() const {
  const std::string& id = issuer_.id();
  for (const auto& e : *entries())
    if (e->authority->id == id) return e;
  return nullptr;
}

std::shared_ptr<const PublishedCrl> Publishers::find_crl(std::string_view path, bool* primary) const {
  if (primary) *primary = false;
  for (const auto& e : *entries()) {
    if (auto crl = e->crl->find(path)) return crl;
    if (primary && path == issuer::crl_path(e->authority->cert, 0)) *primary = true;
  }
  return nullptr;
}

std::vector<Publishers::Links> Publishers::links() const {
  std::vector<Links> out;
  const std::string& current = issuer_.id();
  for (const auto& e : *entries()) {
    Links l;
    l.ca_path = e->ca_path;
    auto subject = crypto::name_to_string(e->authority->cert.tbs().subject);
    l.subject = subject ? *subject : e->authority->id;
    l.not_after = e->authority->cert.tbs().not_after;
    l.current = e->authority->id == current;
    for (const auto& [path, crl] : e->crl->published()) l.crl_paths.push_back(path);
    out.push_back(std::move(l));
  }
  return out;
}

std::optional<Bytes> Publishers::ca_certificate(std::string_view path) const {
  for (const auto& e : *entries())
    if (!e->ca_path.empty() && e->ca_path == path) return e->authority->cert.der();
  return std::nullopt;
}

std::optional<OcspAnswer> Publishers::respond_cached(crypto::ByteView request_der) const {
  for (const auto& e : *entries())
    if (auto a = e->ocsp->respond_cached(request_der)) return a;
  return std::nullopt;
}

OcspAnswer Publishers::respond(crypto::ByteView request_der) {
  auto all = entries();
  if (auto req = crypto::ocsp::parse_request(request_der); req && !req->ids.empty()) {
    for (const auto& e : *all)
      if (e->ocsp->answers_for(req->ids.front())) return e->ocsp->respond(request_der);
  }
  // Malformed, or no authority of ours: the current responder gives the error response.
  if (auto current = current_entry()) return current->ocsp->respond(request_der);
  return OcspAnswer{
      std::make_shared<const Bytes>(crypto::ocsp::error_response(crypto::ocsp::ResponseStatus::try_later)),
      false,
      {},
      {},
      ""};
}

std::shared_ptr<const Bytes> Publishers::staple(const std::string& serial_hex) const {
  auto current = current_entry();
  return current ? current->ocsp->staple(serial_hex) : nullptr;
}

Status Publishers::warm_staple(const std::string& serial_hex) {
  auto current = current_entry();
  if (!current) return make_error(Errc::internal, "no OCSP responder for the current intermediate");
  return current->ocsp->warm(serial_hex);
}

}  // namespace sigil::revocation
