#include "acme/ra/ra.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "acme/model/model.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::acme::ra {
namespace {

using json = nlohmann::json;
using crypto::GeneralName;

constexpr std::int64_t kHour = 3600;

using store::AccountStatus;
using store::AuthorizationStatus;
using store::ChallengeStatus;
using store::OrderStatus;

// Never starting with '-' or '_': operators type ids as CLI arguments, where a leading '-' reads
// as an option.
std::string new_id() {
  for (;;) {
    std::string id = base64url_encode(crypto::random_bytes(12));
    if (id[0] != '-' && id[0] != '_') return id;
  }
}

std::string requester_of(const store::AcmeAccount& a) { return "acme:" + a.id; }

store::AuditEntry audit(std::int64_t at, const std::string& actor, std::string action, std::string target,
                        std::string detail = {}) {
  return store::AuditEntry{at, actor, std::move(action), std::move(target), "ok", std::move(detail)};
}

std::string problem_json(const std::string& type, const std::string& detail, int status) {
  return json{{"type", "urn:ietf:params:acme:error:" + type}, {"detail", detail}, {"status", status}}.dump();
}

Error not_found(const std::string& what) { return make_error(Errc::not_found, what + " does not exist"); }

// The identifier as a GeneralName for the issuer's checks ("*.a.b" stays whole).
Result<GeneralName> general_name(const store::AcmeIdentifier& id) {
  if (id.type == "dns") return GeneralName{GeneralName::Type::dns, id.value};
  if (id.type == "ip") return GeneralName{GeneralName::Type::ip, id.value};
  return make_error(Errc::unsupported_identifier, "identifier type '" + id.type + "' is not supported (dns, ip)");
}

store::AcmeIdentifier identifier_of(const GeneralName& n) {
  return {n.type == GeneralName::Type::ip ? "ip" : "dns", n.value};
}

// EAB narrowing: the account may order only names under these domains and addresses in these ranges.
Status check_eab_allowed(const std::vector<std::string>& allowed, const GeneralName& n) {
  if (allowed.empty()) return {};
  policy::IdentifierPolicy p;
  for (const auto& a : allowed) (a.find('/') != std::string::npos ? p.ip_ranges : p.dns_suffixes).push_back(a);
  GeneralName base = n;
  if (base.type == GeneralName::Type::dns && base.value.rfind("*.", 0) == 0) base.value = base.value.substr(2);
  auto st = p.check(base);
  if (!st) return make_error(Errc::rejected_identifier, "the account's external binding does not allow " + n.value);
  return {};
}

}  // namespace

std::string account_path(const std::string& id) { return "/acme/acct/" + id; }

std::string failed_validation_key(const std::string& account_id, const std::string& identifier) {
  return "failed-validation:" + account_id + ":" + identifier;
}

Ra::Ra(Config config, Stores stores, issuer::Issuer& issuer, revocation::Revoker& revoker, va::Validator& va,
       const Clock& clock)
    : config_(std::move(config)),
      store_(stores.acme),
      certificates_(stores.certificates),
      audit_(stores.audit),
      issuer_(issuer),
      revoker_(revoker),
      va_(va),
      clock_(clock) {}

Ra::~Ra() = default;

std::int64_t Ra::now() const { return to_unix(clock_.now()); }

Outcome<bool> Ra::take_rate(const std::string& key, std::int64_t limit, const std::string& what) {
  const std::int64_t t = now();
  const std::int64_t window = t - t % kHour;
  auto taken = store_.rate_take(key, window, limit);
  if (!taken) return Refusal{taken.error(), std::nullopt, {}};
  if (!*taken) return rate_refusal(limit, what);
  return true;
}

Refusal Ra::rate_refusal(std::int64_t limit, const std::string& what) const {
  const std::int64_t t = now();
  return Refusal{make_error(Errc::rate_limited, "too many " + what + " (limit " + std::to_string(limit) + " per hour)"),
                 t - t % kHour + kHour - t,
                 {}};
}

// ---- accounts --------------------------------------------------------------------------------

Result<store::AcmeAccount> Ra::new_account(const NewAccount& req) {
  if (config_.eab_required && !req.eab_kid)
    return make_error(Errc::external_account_required, "this server requires an external account binding");
  for (const auto& c : req.contact)
    if (c.rfind("mailto:", 0) != 0 || c.size() <= 7 || c.find_first_of(",?\r\n ") != std::string::npos)
      return make_error(Errc::invalid_contact, "contact '" + c + "' is not a plain mailto: URL");
  auto rate = take_rate("new-account:" + req.remote_address, config_.limits.new_accounts_per_address_per_hour,
                        "new accounts from " + req.remote_address);
  if (auto* r = std::get_if<Refusal>(&rate)) return r->error;
  store::AcmeAccount a;
  a.id = new_id();
  a.thumbprint = req.key.thumbprint;
  a.jwk = req.key.canonical;
  a.status = AccountStatus::valid;
  a.contact = req.contact;
  a.terms_agreed = req.terms_agreed;
  a.eab_kid = req.eab_kid.value_or("");
  a.created_at = now();
  auto st = store_.create_account(
      a, audit(a.created_at, "acme:" + a.id, "acme-new-account", a.id, a.eab_kid.empty() ? "" : "eab " + a.eab_kid));
  if (!st) {
    if (st.error().code == Errc::already_exists) {  // the same key raced us: that account it is
      SIGIL_TRY(auto existing, store_.account_by_thumbprint(a.thumbprint));
      if (existing) return *existing;
    }
    if (st.error().code == Errc::conflict || st.error().code == Errc::not_found)
      return make_error(Errc::unauthorized, "the external account binding key cannot be used: " + st.error().detail);
    return st.error();
  }
  log::info("acme account created", {{"account", a.id}});
  return a;
}

Result<std::optional<store::AcmeAccount>> Ra::find_account(const std::string& thumbprint) {
  return store_.account_by_thumbprint(thumbprint);
}

Result<store::AcmeAccount> Ra::account(const std::string& id) {
  SIGIL_TRY(auto a, store_.account(id));
  if (!a) return make_error(Errc::account_does_not_exist, "no account at this URL");
  if (a->status != AccountStatus::valid)
    return make_error(Errc::unauthorized, std::string("the account is ") + store::to_string(a->status));
  return *a;
}

Result<std::shared_ptr<const jws::Jwk>> Ra::account_key(const store::AcmeAccount& account) {
  return account_keys_.parse(account.jwk);
}

Result<Bytes> Ra::eab_mac_key(const std::string& kid) {
  SIGIL_TRY(auto k, store_.eab_key(kid));
  if (!k) return not_found("the external account key");
  if (k->revoked_at) return make_error(Errc::unauthorized, "the external account key was revoked");
  if (!k->account_id.empty()) return make_error(Errc::unauthorized, "the external account key is already bound");
  return k->hmac_key;
}

Result<store::AcmeAccount> Ra::write_account(const store::AcmeAccount& read,
                                             const std::function<void(store::AcmeAccount&)>& change,
                                             const std::string& action) {
  store::AcmeAccount expected = read;
  // Once more on a fresh read when only contact or terms changed meanwhile; never when the key
  // or the status did: the request was authorized by a state that no longer holds.
  for (int attempt = 0;; ++attempt) {
    store::AcmeAccount a = expected;
    change(a);
    auto st = store_.update_account(a, expected, audit(now(), requester_of(a), action, a.id));
    if (st) return a;
    if (st.error().code != Errc::conflict) return st.error();
    SIGIL_TRY(auto fresh, store_.account(read.id));
    if (!fresh) return make_error(Errc::account_does_not_exist, "no account at this URL");
    if (fresh->status != AccountStatus::valid)
      return make_error(Errc::unauthorized, std::string("the account is ") + store::to_string(fresh->status));
    if (fresh->thumbprint != read.thumbprint)
      return make_error(Errc::unauthorized, "the account's key changed while this request was processed");
    if (attempt == 1)
      return make_error(Errc::conflict, "the account changed while this request was processed; try again");
    expected = std::move(*fresh);
  }
}

Result<store::AcmeAccount> Ra::update_account(store::AcmeAccount a, std::optional<std::vector<std::string>> contact,
                                              bool deactivate) {
  if (contact) {
    for (const auto& c : *contact)
      if (c.rfind("mailto:", 0) != 0 || c.size() <= 7 || c.find_first_of(",?\r\n ") != std::string::npos)
        return make_error(Errc::invalid_contact, "contact '" + c + "' is not a plain mailto: URL");
  }
  return write_account(
      a,
      [&](store::AcmeAccount& x) {
        if (contact) x.contact = *contact;
        // The account was read valid (Ra::account), and write_account refuses one whose status
        // changed meanwhile, so the transition holds.
        if (deactivate) x.status = model::deactivate(x.status).value_or(x.status);
      },
      deactivate ? "acme-deactivate-account" : "acme-update-account");
}

Result<store::AcmeAccount> Ra::change_key(store::AcmeAccount a, const jws::Jwk& new_key) {
  return write_account(
      a,
      [&](store::AcmeAccount& x) {
        x.thumbprint = new_key.thumbprint;
        x.jwk = new_key.canonical;
      },
      "acme-key-change");
}

// ---- orders ----------------------------------------------------------------------------------

Result<std::vector<store::AcmeAuthorization>> Ra::authorizations(const store::AcmeOrder& o) {
  SIGIL_TRY(auto list, store_.authorizations_of_order(o.id));
  for (auto& a : list) resume_if_orphaned(a);
  return list;
}

Outcome<Ra::OrderView> Ra::new_order(const store::AcmeAccount& account, const NewOrder& req,
                                     const std::string& remote_address) {
  (void)remote_address;
  const std::int64_t t = now();
  if (req.identifiers.empty()) return Refusal{make_error(Errc::malformed, "the order names no identifier"), {}, {}};
  if (req.identifiers.size() > 100) return Refusal{make_error(Errc::malformed, "more than 100 identifiers"), {}, {}};
  const std::string profile = req.profile.empty() ? default_profile() : req.profile;
  if (std::find(config_.profiles.begin(), config_.profiles.end(), profile) == config_.profiles.end())
    return Refusal{make_error(Errc::malformed, "profile '" + profile + "' is not offered"), {}, {}};

  // notBefore/notAfter (§7.4): the certificate starts at issuance (backdated); a notBefore in
  // the future is refused, a notAfter sets the lifetime, within the profile's maximum.
  if (req.not_before && *req.not_before > t + 300)
    return Refusal{make_error(Errc::malformed, "notBefore in the future is not supported"), {}, {}};
  if (req.not_after) {
    const auto* p = issuer_.profiles().find(profile);
    const std::int64_t ttl = *req.not_after - t;
    if (ttl <= 0) return Refusal{make_error(Errc::malformed, "notAfter is in the past"), {}, {}};
    if (p && ttl > p->max_ttl.count())
      return Refusal{make_error(Errc::malformed,
                                "notAfter exceeds the profile's maximum lifetime of " + format_duration(p->max_ttl)),
                     {},
                     {}};
  }

  std::vector<std::string> eab_allowed;
  if (!account.eab_kid.empty()) {
    auto k = store_.eab_key(account.eab_kid);
    if (!k) return Refusal{k.error(), {}, {}};
    if (*k) eab_allowed = (*k)->allowed_identifiers;
  }

  std::vector<store::AcmeIdentifier> ids;
  std::vector<Subproblem> rejected;
  for (const auto& raw : req.identifiers) {
    auto gn = general_name(raw);
    if (!gn) {
      rejected.push_back({gn.error().code, gn.error().detail, raw});
      continue;
    }
    auto checked = issuer_.check_identifier(*gn, profile);
    if (checked && gn->type == GeneralName::Type::ip && checked->value != raw.value)
      checked = make_error(Errc::malformed, "IP identifier '" + raw.value + "' is not in canonical form");
    if (checked) {
      if (auto st = check_eab_allowed(eab_allowed, *checked); !st) checked = st.error();
    }
    if (!checked) {
      const Errc c = checked.error().code;
      const Errc code = c == Errc::malformed || c == Errc::rejected_identifier || c == Errc::unsupported_identifier
                            ? c
                            : Errc::rejected_identifier;
      rejected.push_back({code, checked.error().detail, raw});
      continue;
    }
    auto id = identifier_of(*checked);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  }
  if (!rejected.empty()) {
    const std::string detail =
        rejected.size() == 1 ? rejected[0].detail : std::to_string(rejected.size()) + " identifiers were refused";
    return Refusal{make_error(rejected.size() == 1 ? rejected[0].code : Errc::rejected_identifier, detail),
                   {},
                   std::move(rejected)};
  }

  if (!req.replaces.empty()) {
    auto cert = certificate_by_id(req.replaces);
    if (!cert) return Refusal{cert.error(), {}, {}};
    if (cert->requester != requester_of(account))
      return Refusal{
          make_error(Errc::unauthorized, "the certificate to replace was not issued to this account"), {}, {}};
    auto prior = store_.order_replacing(req.replaces);
    if (!prior) return Refusal{prior.error(), {}, {}};
    if (*prior && model::order_status(**prior, {}, t) != OrderStatus::invalid)
      return Refusal{
          make_error(Errc::already_replaced, "the certificate is already being replaced by another order"), {}, {}};
  }

  store::AcmeOrder o;
  o.id = new_id();
  o.account_id = account.id;
  o.status = OrderStatus::pending;
  o.expires = t + config_.order_lifetime.count();
  o.identifiers = ids;
  o.not_before = req.not_before;
  o.not_after = req.not_after;
  o.profile = profile;
  o.replaces = req.replaces;
  o.created_at = t;

  // Authorization reuse (Boulder's): a valid authorization of this account for the same
  // identifier (a wildcard and its base name are different identifiers) that stays valid long
  // enough is named by the new order instead of a new one, and the order expires with it at the
  // latest. Pending authorizations are not reused: each order gets its own challenges to answer,
  // so two orders never wait on one validation; invalid, deactivated and expired ones never are.
  std::vector<std::optional<store::AcmeAuthorization>> reused(ids.size());
  if (config_.reuse_authorizations) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const bool wildcard = ids[i].type == "dns" && ids[i].value.rfind("*.", 0) == 0;
      const store::AcmeIdentifier base{ids[i].type, wildcard ? ids[i].value.substr(2) : ids[i].value};
      auto found = store_.reusable_authorization(account.id, base, wildcard, t + config_.reuse_min_remaining.count());
      if (!found) return Refusal{found.error(), {}, {}};
      if (*found) {
        o.expires = std::min(o.expires, (*found)->expires);
        reused[i] = std::move(*found);
      }
    }
  }
  std::vector<store::AcmeAuthorization> created, all;
  std::string names;
  int reuses = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& id = ids[i];
    names += (names.empty() ? "" : ",") + id.value;
    if (reused[i]) {
      o.authorization_ids.push_back(reused[i]->id);
      all.push_back(*reused[i]);
      ++reuses;
      continue;
    }
    store::AcmeAuthorization a;
    a.id = new_id();
    a.account_id = account.id;
    a.order_id = o.id;
    a.wildcard = id.type == "dns" && id.value.rfind("*.", 0) == 0;
    a.identifier = {id.type, a.wildcard ? id.value.substr(2) : id.value};
    a.status = AuthorizationStatus::pending;
    a.expires = o.expires;
    a.token = base64url_encode(crypto::random_bytes(32));
    a.challenges = model::new_challenges(a.identifier, a.wildcard);
    o.authorization_ids.push_back(a.id);
    created.push_back(a);
    all.push_back(std::move(a));
  }
  if (reuses > 0) names += " (" + std::to_string(reuses) + " authorization(s) reused)";
  // The order-rate hit commits with the order itself: one transaction, one fsync.
  const std::int64_t limit = config_.limits.new_orders_per_account_per_hour;
  const store::RateHit hit{"new-order:" + account.id, t - t % kHour, limit};
  if (auto st = store_.create_order(o, created, audit(t, requester_of(account), "acme-new-order", o.id, names), hit);
      !st) {
    if (st.error().code == Errc::rate_limited) return rate_refusal(limit, "new orders");
    return Refusal{st.error(), {}, {}};
  }
  o.status = model::order_status(o, all, t);  // ready when every authorization was reused
  return OrderView{std::move(o), std::move(all)};
}

Result<Ra::OrderView> Ra::order(const store::AcmeAccount& account, const std::string& id) {
  SIGIL_TRY(auto o, store_.order(id));
  if (!o || o->account_id != account.id) return not_found("the order");
  SIGIL_TRY(auto authzs, authorizations(*o));
  SIGIL_TRY(const bool issued, certificate_stored(*o));
  o->status = model::order_status(*o, authzs, now(), issued);
  if (o->status == OrderStatus::invalid && o->error.empty()) {
    for (const auto& a : authzs)
      for (const auto& c : a.challenges)
        if (!c.error.empty()) o->error = c.error;
    if (o->error.empty()) o->error = problem_json("malformed", "the order expired or an authorization failed", 403);
  }
  return OrderView{std::move(*o), std::move(authzs)};
}

Result<bool> Ra::certificate_stored(const store::AcmeOrder& o) {
  if (o.status != OrderStatus::processing || o.certificate_serial.empty()) return false;
  SIGIL_TRY(auto rec, certificates_.find(o.certificate_serial));
  return rec.has_value() && rec->status != store::CertStatus::pending;
}

Result<Ra::OrderList> Ra::orders(const store::AcmeAccount& account, const std::string& cursor) {
  // RFC 8555 §7.1.2.1: the list SHOULD include pending orders and SHOULD NOT include invalid
  // ones. So it holds the account's pending, ready, processing and valid orders (valid ones for
  // as long as they are kept), and no invalid one: neither those stored invalid nor those that
  // are invalid by now (expired, or an authorization failed). Let's Encrypt lists pending orders
  // only; the RFC's wording is followed here.
  std::optional<store::AcmeOrderCursor> after;
  if (!cursor.empty()) {
    const auto dot = cursor.find('.');
    store::AcmeOrderCursor c;
    const char* first = cursor.data();
    const char* last = first + (dot == std::string::npos ? 0 : dot);
    const auto [ptr, ec] = std::from_chars(first, last, c.created_at);
    if (dot == std::string::npos || cursor.size() > 200 || ec != std::errc() || ptr != last || first == last ||
        dot + 1 == cursor.size())
      return make_error(Errc::malformed, "the orders list cursor is malformed");
    c.id = cursor.substr(dot + 1);
    after = std::move(c);
  }
  const int per_page = std::clamp(config_.orders_per_page, 1, 999);
  const std::int64_t t = now();
  SIGIL_TRY(auto page, store_.orders_of_account(account.id, t, after, per_page + 1));
  OrderList out;
  const bool more = page.size() > static_cast<std::size_t>(per_page);
  if (more) page.resize(static_cast<std::size_t>(per_page));
  for (const auto& o : page) {
    if (o.status == OrderStatus::pending || o.status == OrderStatus::ready) {
      SIGIL_TRY(auto authzs, store_.authorizations_of_order(o.id));
      if (model::order_status(o, authzs, t) == OrderStatus::invalid) continue;
    }
    out.order_ids.push_back(o.id);
  }
  if (more) out.next_cursor = std::to_string(page.back().created_at) + "." + page.back().id;
  return out;
}

Result<Ra::OrderView> Ra::finalize(const store::AcmeAccount& account, const std::string& order_id, ByteView csr_der) {
  SIGIL_TRY(OrderView v, order(account, order_id));
  if (v.order.status != OrderStatus::ready)
    return make_error(Errc::order_not_ready,
                      std::string("the order is ") + store::to_string(v.order.status) + ", not ready");
  auto csr = crypto::Csr::from_der(Bytes(csr_der.begin(), csr_der.end()));
  if (!csr) return make_error(Errc::bad_csr, csr.error().detail);
  // RFC 8555 §11.1: the account key must not be certified (one key, one role).
  if (auto key = account_key(account); !key || (*key)->key.spki == csr->public_key().spki)
    return make_error(Errc::bad_csr, key ? "the CSR's public key is the account key (RFC 8555 §11.1)"
                                         : "the account key cannot be read: " + key.error().detail);
  // The CSR must name exactly the order's identifiers (SANs, and the CN if it has one).
  std::vector<store::AcmeIdentifier> named;
  auto add = [&](const GeneralName& g) -> Status {
    auto n = policy::normalize(g);
    if (!n) return make_error(Errc::bad_csr, "CSR: " + n.error().detail);
    auto id = identifier_of(*n);
    if (n->type != GeneralName::Type::dns && n->type != GeneralName::Type::ip)
      return make_error(Errc::bad_csr, "CSR names " + crypto::to_string(*n) + ", which ACME cannot validate");
    if (std::find(named.begin(), named.end(), id) == named.end()) named.push_back(id);
    return {};
  };
  for (const auto& s : csr->sans()) SIGIL_TRY_STATUS(add(s));
  if (const auto& cn = csr->common_name(); cn && !cn->empty()) {
    const auto type = crypto::ip_to_bytes(*cn) ? GeneralName::Type::ip : GeneralName::Type::dns;
    SIGIL_TRY_STATUS(add(GeneralName{type, *cn}));
  }
  for (const auto& n : named)
    if (std::find(v.order.identifiers.begin(), v.order.identifiers.end(), n) == v.order.identifiers.end())
      return make_error(Errc::bad_csr, "the CSR names " + n.value + ", which the order does not");
  for (const auto& n : v.order.identifiers)
    if (std::find(named.begin(), named.end(), n) == named.end())
      return make_error(Errc::bad_csr, "the CSR does not name " + n.value + ", which the order does");

  issuer::Request req;
  req.csr.assign(csr_der.begin(), csr_der.end());
  req.profile = v.order.profile;
  req.requester = requester_of(account);
  if (v.order.not_after) {
    const std::int64_t ttl = *v.order.not_after - now();
    if (ttl <= 0) return make_error(Errc::malformed, "the order's notAfter has passed");
    req.ttl = Seconds(ttl);
  }
  // Every check first: a refused CSR leaves the order ready.
  auto prepared = issuer_.prepare(req);
  if (!prepared) {
    const Errc c = prepared.error().code;
    if (c == Errc::bad_public_key || c == Errc::bad_csr || c == Errc::rejected_identifier) return prepared.error();
    if (c == Errc::invalid_argument || c == Errc::policy_violation || c == Errc::malformed)
      return make_error(Errc::bad_csr, prepared.error().detail);
    return prepared.error();
  }
  SIGIL_TRY(auto stored, store_.order(order_id));
  if (!stored) return not_found("the order");
  // Only out of the stored states a ready order has: another finalize may have moved it on
  // since order() above, and its processing (or valid) state must not be the CAS's expectation.
  const std::optional<OrderStatus> processing = model::finalize(stored->status);
  if (!processing) return make_error(Errc::order_not_ready, "the order is already being finalized");
  const OrderStatus expected = stored->status;
  store::AcmeOrder o = *stored;
  // The compare-and-set that makes one finalize win also records the serial about to be signed.
  // There is no write after issuance: the ledger commits the certificate (persist before
  // release), and that commit is what makes the order valid (model::order_status).
  o.status = *processing;
  o.certificate_serial = prepared->pending().serial;
  if (auto st = store_.update_order(o, expected); !st) {
    if (st.error().code == Errc::conflict)
      return make_error(Errc::order_not_ready, "the order is already being finalized");
    return st.error();
  }
  auto issued = issuer_.issue(std::move(*prepared));
  if (!issued) {
    o.status = model::issuance_result(*processing, false).value_or(OrderStatus::invalid);
    o.certificate_serial.clear();
    o.error = problem_json("serverInternal", "issuance failed", 500);
    (void)store_.update_order(o, *processing);
    return issued.error();
  }
  o.status = model::issuance_result(*processing, true).value_or(OrderStatus::valid);
  o.certificate_serial = issued->serial;
  v.order = std::move(o);
  return v;
}

// ---- authorizations --------------------------------------------------------------------------

Result<store::AcmeAuthorization> Ra::authorization(const store::AcmeAccount& account, const std::string& id) {
  SIGIL_TRY(auto a, store_.authorization(id));
  if (!a || a->account_id != account.id) return not_found("the authorization");
  resume_if_orphaned(*a);
  a->status = model::authorization_status(*a, now());
  return *a;
}

Result<store::AcmeAuthorization> Ra::deactivate_authorization(const store::AcmeAccount& account,
                                                              const std::string& id) {
  SIGIL_TRY(auto a, authorization(account, id));
  const std::optional<AuthorizationStatus> deactivated = model::deactivate(a.status);
  if (!deactivated)
    return make_error(Errc::malformed,
                      std::string("an authorization that is ") + store::to_string(a.status) + " cannot be deactivated");
  SIGIL_TRY(auto stored, store_.authorization(id));
  const AuthorizationStatus expected = stored->status;
  a.status = *deactivated;
  SIGIL_TRY_STATUS(store_.update_authorization(a, expected));
  return a;
}

Outcome<store::AcmeAuthorization> Ra::answer_challenge(const store::AcmeAccount& account, const std::string& authz_id,
                                                       const std::string& type) {
  auto current = authorization(account, authz_id);
  if (!current) return Refusal{current.error(), {}, {}};
  store::AcmeAuthorization a = *current;
  auto ch = std::find_if(a.challenges.begin(), a.challenges.end(), [&](const auto& c) { return c.type == type; });
  if (ch == a.challenges.end()) return Refusal{not_found("the challenge"), {}, {}};
  const std::optional<ChallengeStatus> started = model::start_validation(a.status, ch->status);
  if (!started) return a;                 // nothing to start: answer as it stands
  if (model::is_validating(a)) return a;  // one validation per authorization at a time

  const std::string name = (a.wildcard ? "*." : "") + a.identifier.value;
  const std::int64_t t = now();
  auto failed = store_.rate_count(failed_validation_key(account.id, name), t - t % kHour);
  if (!failed) return Refusal{failed.error(), {}, {}};
  if (*failed >= config_.limits.failed_validations_per_identifier_per_hour)
    return Refusal{
        make_error(Errc::rate_limited, "too many failed validations of " + name + " by this account (limit " +
                                           std::to_string(config_.limits.failed_validations_per_identifier_per_hour) +
                                           " per hour)"),
        t - t % kHour + kHour - t,
        {}};

  ch->status = *started;
  if (auto st = store_.update_authorization(a, a.status); !st) {
    if (st.error().code != Errc::conflict) return Refusal{st.error(), {}, {}};
    auto again = authorization(account, authz_id);  // someone else answered first
    if (!again) return Refusal{again.error(), {}, {}};
    return *again;
  }
  start_validation(account, a, type);
  if (!await_quiet_validation(a.id)) return a;
  auto decided = authorization(account, authz_id);
  if (!decided) return a;  // the validation's result stands in the store; the client polls for it
  return *decided;
}

bool Ra::await_quiet_validation(const std::string& authz_id) {
  if (config_.challenge_wait.count() <= 0) return false;
  std::unique_lock lock(inflight_mu_);
  // Only the one validation of a quiet server, and one waiter at a time: under load the
  // workers are worth more than the client's poll interval.
  if (waiting_ || inflight_.size() != 1 || inflight_.count(authz_id) == 0) return inflight_.count(authz_id) == 0;
  waiting_ = true;
  const bool done =
      inflight_done_.wait_for(lock, config_.challenge_wait, [&] { return inflight_.count(authz_id) == 0; });
  waiting_ = false;
  return done;
}

void Ra::start_validation(const store::AcmeAccount& account, const store::AcmeAuthorization& a,
                          const std::string& type) {
  {
    std::lock_guard lock(inflight_mu_);
    if (!inflight_.insert(a.id).second) return;
  }
  va::Task task;
  task.challenge_type = type;
  task.identifier_type = a.identifier.type;
  task.identifier = a.identifier.value;
  task.token = a.token;
  task.key_authorization = jws::key_authorization(a.token, account.thumbprint);
  const std::string name = (a.wildcard ? "*." : "") + a.identifier.value;
  auto st =
      va_.submit(task, [this, id = a.id, type, name](va::Outcome out) { finish_validation(id, type, name, out); });
  if (!st) {
    // The VA is saturated: the challenge stays processing and the next read of its
    // authorization (clients poll) starts it again.
    log::warn("acme validation deferred", {{"authz", a.id}, {"detail", st.error().detail}});
    std::lock_guard lock(inflight_mu_);
    inflight_.erase(a.id);
    inflight_done_.notify_all();
  }
}

void Ra::finish_validation(const std::string& authz_id, const std::string& type, const std::string& name,
                           const va::Outcome& outcome) {
  const std::int64_t t = now();
  auto a = store_.authorization(authz_id);
  store::AcmeAuthorization upd = a && *a ? **a : store::AcmeAuthorization{};
  auto ch = std::find_if(upd.challenges.begin(), upd.challenges.end(), [&](const auto& c) { return c.type == type; });
  // Refused when the authorization left pending meanwhile (deactivated): nothing to record.
  const std::optional<model::Validated> next =
      ch == upd.challenges.end() ? std::nullopt : model::validation_result(upd.status, ch->status, outcome.valid);
  if (next) {
    const AuthorizationStatus expected = upd.status;
    ch->status = next->challenge;
    if (outcome.valid)
      ch->validated = t;
    else
      ch->error = problem_json(outcome.error_type.empty() ? "serverInternal" : outcome.error_type, outcome.detail, 400);
    upd.status = next->authorization;
    if (outcome.valid) upd.expires = t + config_.valid_authorization_lifetime.count();
    std::string addrs;
    for (const auto& s : outcome.addresses_tried) addrs += (addrs.empty() ? "" : ",") + s;
    const store::AuditEntry entry{t,
                                  "acme:" + upd.account_id,
                                  "acme-validate",
                                  name,
                                  outcome.valid ? "ok" : "refused",
                                  type + (addrs.empty() ? "" : " via " + addrs) +
                                      (outcome.valid ? "" : ": " + outcome.error_type + ": " + outcome.detail)};
    std::optional<store::RateHit> failed;
    if (!outcome.valid) failed = store::RateHit{failed_validation_key(upd.account_id, name), t - t % kHour, INT64_MAX};
    // The result, its audit row and the failed-validation count: one transaction.
    if (auto st = store_.update_authorization(upd, expected, &entry, failed); !st) {
      log::warn("acme validation result not stored", {{"authz", authz_id}, {"detail", st.error().detail}});
      // Deactivated meanwhile: the attempt is still audited and, if it failed, counted.
      (void)audit_.append(entry);
      if (failed) (void)store_.rate_take(failed->key, failed->window_start, failed->limit);
    }
    log::info("acme validation", {{"authz", authz_id},
                                  {"type", type},
                                  {"identifier", name},
                                  {"result", store::to_string(next->authorization)},
                                  {"detail", outcome.detail}});
  }
  std::lock_guard lock(inflight_mu_);
  inflight_.erase(authz_id);
  inflight_done_.notify_all();
}

void Ra::resume_if_orphaned(const store::AcmeAuthorization& a) {
  if (a.status != AuthorizationStatus::pending || now() >= a.expires) return;
  auto ch = std::find_if(a.challenges.begin(), a.challenges.end(),
                         [](const auto& c) { return c.status == ChallengeStatus::processing; });
  if (ch == a.challenges.end()) return;
  {
    std::lock_guard lock(inflight_mu_);
    if (inflight_.count(a.id)) return;
  }
  // A validation that a previous process started and never finished (restart): run it again.
  auto acct = store_.account(a.account_id);
  if (!acct || !*acct) return;
  start_validation(**acct, a, ch->type);
}

void Ra::drain() { va_.shutdown(); }

// ---- certificates ----------------------------------------------------------------------------

Result<std::string> Ra::certificate_chain(const std::string& serial) {
  SIGIL_TRY(auto rec, certificates_.find(serial));
  // Any authority of this CA (a replaced intermediate keeps serving its certificates' chains).
  const issuer::Authority* by = rec ? issuer_.authority(rec->issuer_id) : nullptr;
  if (!rec || rec->der.empty() || !by) return not_found("the certificate");
  SIGIL_TRY(auto cert, crypto::Certificate::from_der(rec->der));
  return cert.pem() + by->pem;
}

Status Ra::revoke(const store::AcmeAccount* account, const crypto::PublicKey* key, ByteView der, int reason) {
  if (der.size() > kMaxRevokeCertificate)
    return make_error(Errc::malformed, "the certificate is larger than any this CA issues (" +
                                           std::to_string(der.size()) + " > " + std::to_string(kMaxRevokeCertificate) +
                                           " octets)");
  auto cert = crypto::Certificate::from_der(Bytes(der.begin(), der.end()));
  if (!cert) return make_error(Errc::malformed, "the certificate does not parse: " + cert.error().detail);
  SIGIL_TRY(auto rec, revoker_.find(cert->serial_hex()));
  if (!rec || rec->der != cert->der()) return make_error(Errc::not_found, "this CA did not issue that certificate");
  if (account) {
    if (rec->requester != requester_of(*account))
      return make_error(Errc::unauthorized, "the account did not order that certificate");
  } else if (!key || key->spki != cert->public_key().spki) {
    return make_error(Errc::unauthorized, "the request is not signed by the certificate's key");
  }
  // RFC 8555 §7.6 carries RFC 5280 codes; the Revoker holds the one allow-list of leaf reasons,
  // and blocks the key for keyCompromise (whoever signed the request: the account or the key).
  const std::string actor = account ? requester_of(*account) : "acme:certificate-key";
  auto done = revoker_.revoke(*rec, {static_cast<store::RevocationReason>(reason), actor, "acme"});
  if (!done && done.error().code == Errc::conflict)
    return make_error(Errc::already_revoked, "the certificate is already revoked");
  if (!done) return done.error();
  return {};
}

Result<store::CertificateRecord> Ra::certificate_by_id(const std::string& cert_id) {
  const auto dot = cert_id.find('.');
  if (dot == std::string::npos) return make_error(Errc::malformed, "a certificate identifier is AKI.serial");
  auto aki = base64url_decode(cert_id.substr(0, dot));
  auto serial = base64url_decode(cert_id.substr(dot + 1));
  if (!aki || !serial || serial->empty())
    return make_error(Errc::malformed, "the certificate identifier is not base64url");
  // RFC 9773 §4.1: the AKI of the certificate, so that of any authority of this CA.
  SIGIL_TRY(auto rec, certificates_.find(to_hex(*serial)));
  const issuer::Authority* by = rec ? issuer_.authority(rec->issuer_id) : nullptr;
  if (!rec || rec->der.empty() || !by || by->key_id != *aki) return not_found("a certificate with that identifier");
  return *rec;
}

Result<RenewalInfo> Ra::renewal_info(const std::string& cert_id) {
  SIGIL_TRY(auto rec, certificate_by_id(cert_id));
  SIGIL_TRY(const policy::RenewalWindow w, revocation::suggested_renewal_window(certificates_, rec, clock_.now()));
  return RenewalInfo{w.start, w.end, ""};
}

}  // namespace sigil::acme::ra
