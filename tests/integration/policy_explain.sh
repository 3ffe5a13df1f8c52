#!/usr/bin/env bash
# Issue 16, items 2 and 6: policy explain and custom profiles, through the real binary.
# `sigil policy explain` on the CA host and POST /api/v1/policy/explain name, for every
# identifier and every request-wide check, the rule that allows or refuses it: allowed domains,
# listed names, IP ranges, the SPIFFE trust domain, wildcards, the intermediate's name
# constraints, the profile (SAN types, require_spiffe, key types, TTL), key policy, blocked keys
# and the caller role's identifiers, profiles and max_ttl. Exit 0 when everything is allowed, 3
# when anything is refused, 2 for usage; nothing is issued, one audit row per explain. A custom
# profile from sigil.json is listed, explained and used for a real issuance (its EKU and key
# usages checked with openssl x509 -text); a bad profile is refused at load, naming its key.
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
C="$WORK/csr"
mkdir -p "$C"
JSON=(-H 'Content-Type: application/json')

section "set-up"
check "init the CA (example.internal, SPIFFE td.example.internal)" \
  serve_init "$H" --spiffe-trust-domain td.example.internal
# The intermediate was constrained at init (no IP range then): 10.0.0.0/8, allowed by the policy
# from now on, stays outside its name constraints.
check "policy: listed name, IP range, no wildcards; custom profile device; an issuer and a renew-self rule" \
  config_edit "$H" '
j["policy"]["dns_names"] = j["policy"].get("dns_names", []) + ["ca.example.internal"]
j["policy"]["allowed_ip_ranges"] = ["10.0.0.0/8"]
j["policy"]["allow_wildcards"] = False
j["profiles"]["device"] = {"ext_key_usage": ["clientAuth"], "key_usage": ["digitalSignature", "keyAgreement"],
                           "allowed_san_types": ["dns"], "key_types": ["ec-p384"], "default_ttl": "2h",
                           "max_ttl": "7d"}
j["profiles"]["web-short"] = {"ext_key_usage": ["serverAuth"], "allowed_san_types": ["dns"], "max_ttl": "2d",
                              "acme": True}
j["authorization"] += [
  {"identity": "deployer.example.internal", "role": "issuer", "identifiers": ["*.svc.example.internal"],
   "profiles": ["server"], "max_ttl": "48h"},
  {"identity": "web.example.internal", "role": "renew-self"},
]'

csr() {  # NAME SAN [KEY-ARGS]: $C/NAME.csr with that subjectAltName
  local key_args="${3:--newkey ec -pkeyopt ec_paramgen_curve:P-256}"
  # shellcheck disable=SC2086
  openssl req -new $key_args -nodes -keyout "$C/$1.key" -subj "/" -addext "subjectAltName=$2" -out "$C/$1.csr" 2>/dev/null
}
csr good "DNS:a.example.internal"
csr listed "DNS:ca.example.internal"
csr mixed "DNS:a.example.internal,DNS:evil.example.org"
csr wild "DNS:*.example.internal"
csr ip_in "IP:10.1.2.3"
csr ip_out "IP:192.168.1.1"
csr spiffe_ok "URI:spiffe://td.example.internal/web"
csr spiffe_bad "URI:spiffe://other.example/web"
csr email "email:ops@example.internal"
csr svc "DNS:x.svc.example.internal"
csr rsa1024 "DNS:r.example.internal" "-newkey rsa:1024"
csr p384 "DNS:dev.example.internal" "-newkey ec -pkeyopt ec_paramgen_curve:P-384"
csr blocked "DNS:blocked.example.internal"
check "issue a certificate for the key about to be blocked" \
  sigil --home "$H" issue --csr "$C/blocked.csr" --out "$C/blocked.pem"
check "revoke it for keyCompromise (blocks its key)" \
  sigil --home "$H" revoke "$(cert_serial "$C/blocked.pem")" --reason keyCompromise

rows() { db_counts "$H/sigil.db"; }
BEFORE="$(rows)"

# explain DESC EXPECTED-EXIT ARGS... : sigil policy explain --json; the answer in $WORK/ex.json.
ANSWERED=0  # explains that answered (exit 0 or 3 with a JSON document): one audit row each
explain() {
  local desc="$1" want="$2" rc=0
  shift 2
  sigil --home "$H" policy explain --json "$@" >"$WORK/ex.json" 2>"$ERR" || rc=$?
  if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/ex.json" 2>/dev/null; then ANSWERED=$((ANSWERED + 1)); fi
  if [[ $rc -eq $want ]]; then pass "$desc: exit $rc"; else fail "$desc: exit $want" "exit $rc: $(head -c 300 "$ERR")"; fi
}
# decided WHAT ALLOWED RULE-REGEX : in the last answer, the identifier or check WHAT.
decided() {
  json_check "  $1 is $([[ $2 == True ]] && echo allowed || echo REFUSED) by /$3/" "$WORK/ex.json" "
[e for e in j['identifiers'] + j['checks'] if e.get('identifier', e.get('check')) == '$1'
 and e['allowed'] == $2 and re.search(r'$3', e['rule']) and e['detail']] != []"
}

section "CA-wide rules, each allowing and refusing (--json, exit 0 or 3)"
explain "a name under an allowed domain" 0 --csr "$C/good.csr"
decided dns:a.example.internal True 'policy\.allowed_domains'
decided dns:a.example.internal True 'name_constraints'
decided role True '^authorization$'
json_check "  without --identity the answer says only CA-wide rules apply" "$WORK/ex.json" \
  "(j['identity'] is None and j['allowed'] and j['profile'] == 'server' and j['ttl_seconds'] == 86400 and
   'only CA-wide rules' in [c for c in j['checks'] if c['check'] == 'role'][0]['detail'])"
explain "a listed DNS name" 0 --csr "$C/listed.csr"
decided dns:ca.example.internal True 'policy\.dns_names'
explain "one allowed and one foreign name" 3 --csr "$C/mixed.csr"
decided dns:a.example.internal True 'policy\.allowed_domains'
decided dns:evil.example.org False '^policy\.allowed_domains$'
json_check "  the whole request is refused" "$WORK/ex.json" "j['allowed'] is False"
explain "a wildcard with allow_wildcards false" 3 --csr "$C/wild.csr"
decided 'dns:*.example.internal' False '^policy\.allow_wildcards$'
explain "an IP outside every range" 3 --csr "$C/ip_out.csr"
decided ip:192.168.1.1 False '^policy\.allowed_ip_ranges$'
explain "an IP in the range but outside the intermediate's name constraints" 3 --csr "$C/ip_in.csr"
json_check "  the IP range allows it" "$WORK/ex.json" \
  "[d for d in j['identifiers'][0]['decisions'] if d['rule'] == 'policy.allowed_ip_ranges' and d['allowed']] != []"
decided ip:10.1.2.3 False '^name_constraints$'
explain "a SPIFFE ID in the trust domain (spiffe profile)" 0 --csr "$C/spiffe_ok.csr" --profile spiffe
decided uri:spiffe://td.example.internal/web True 'policy\.spiffe_trust_domain'
decided require_spiffe True 'profile\.spiffe\.require_spiffe'
explain "a SPIFFE ID of another trust domain" 3 --csr "$C/spiffe_bad.csr" --profile spiffe
decided uri:spiffe://other.example/web False '^policy\.spiffe_trust_domain$'
explain "require_spiffe without a SPIFFE ID" 3 --csr "$C/good.csr" --profile spiffe
decided require_spiffe False '^profile\.spiffe\.require_spiffe$'
explain "an email address on the server profile" 3 --csr "$C/email.csr"
decided email:ops@example.internal False '^profile\.server\.allowed_san_types$'
explain "TTL within the profile's maximum" 0 --csr "$C/good.csr" --ttl 90d
decided ttl True 'profile\.server\.max_ttl'
explain "TTL above the profile's maximum" 3 --csr "$C/good.csr" --ttl 91d
decided ttl False '^profile\.server\.max_ttl$'
explain "an RSA-1024 key" 3 --csr "$C/rsa1024.csr"
decided key_policy False '^key_policy$'
explain "a key blocked by a keyCompromise revocation" 3 --csr "$C/blocked.csr"
decided blocked_keys False '^blocked_keys$'
decided dns:blocked.example.internal True 'policy\.allowed_domains'

section "the custom profile device (P-384 keys only, clientAuth)"
explain "device with a P-384 key" 0 --csr "$C/p384.csr" --profile device
decided key_types True 'profile\.device\.key_types'
json_check "  its default TTL is the profile's (2h)" "$WORK/ex.json" "j['ttl_seconds'] == 7200 and j['profile'] == 'device'"
explain "device with a P-256 key" 3 --csr "$C/good.csr" --profile device
decided key_types False '^profile\.device\.key_types$'
explain "device above its max_ttl (8d)" 3 --csr "$C/p384.csr" --profile device --ttl 8d
decided ttl False '^profile\.device\.max_ttl$'

section "the caller's role rule (--identity)"
explain "issuer deployer: a name inside its patterns" 0 --csr "$C/svc.csr" --identity dns:deployer.example.internal
decided dns:x.svc.example.internal True 'authorization\[[0-9]+\]\.identifiers'
decided role True '^authorization\[[0-9]+\]$'
json_check "  the identity is named" "$WORK/ex.json" "j['identity'] == 'dns:deployer.example.internal'"
explain "issuer deployer: a name outside its patterns" 3 --csr "$C/good.csr" --identity dns:deployer.example.internal
decided dns:a.example.internal False '^authorization\[[0-9]+\]\.identifiers$'
explain "issuer deployer: a profile it may not use" 3 --csr "$C/svc.csr" --profile client --identity deployer.example.internal
decided role_profiles False '^authorization\[[0-9]+\]\.profiles$'
explain "issuer deployer: a TTL above its max_ttl" 3 --csr "$C/svc.csr" --ttl 72h --identity dns:deployer.example.internal
decided role_max_ttl False '^authorization\[[0-9]+\]\.max_ttl$'
explain "renew-self web.example.internal may not request" 3 --csr "$C/svc.csr" --identity dns:web.example.internal
decided role False '^authorization\[[0-9]+\]$'
explain "an identity without a rule" 3 --csr "$C/svc.csr" --identity dns:nobody.example.internal
decided role False '^authorization$'
explain "the admin identity" 0 --csr "$C/good.csr" --identity cn:sigil-admin
decided role True '^authorization\[0\]$'

section "text output, exit codes, bad input"
rc=0
T="$WORK/text.out"
sigil --home "$H" policy explain --csr "$C/mixed.csr" >"$T" 2>"$ERR" || rc=$?
ANSWERED=$((ANSWERED + 1))
expect_eq "text: exit 3 when refused" "$rc" 3
check "text: the refused identifier on a REFUSED line with its rule" \
  grep -Eq '^REFUSED +dns:evil\.example\.org +\[policy\.allowed_domains\]' "$T"
check "text: the allowed one on an allowed line" grep -Eq '^allowed +dns:a\.example\.internal ' "$T"
check "text: the result names the refused identifier" grep -q '^result: REFUSED (dns:evil.example.org)' "$T"
check "text: says only CA-wide rules apply without --identity" grep -q 'only CA-wide rules apply' "$T"
rc=0
sigil --home "$H" policy explain --csr "$C/good.csr" >"$T" 2>"$WORK/text.err" || rc=$?
ANSWERED=$((ANSWERED + 1))
expect_eq "text: exit 0 when allowed" "$rc" 0
check "text: result allowed" grep -q '^result: allowed' "$T"
expect_eq "nothing on stderr" "$(cat "$WORK/text.err")" ""
rc=0
sigil --home "$H" policy explain >"$OUT" 2>"$ERR" || rc=$?
expect_eq "usage: no --csr is exit 2" "$rc" 2
rc=0
sigil --home "$H" policy explain --csr "$C/good.csr" --frobnicate >"$OUT" 2>"$ERR" || rc=$?
expect_eq "usage: an unknown flag is exit 2" "$rc" 2
printf 'not a CSR\n' >"$C/garbage.csr"
rc=0
sigil --home "$H" policy explain --csr "$C/garbage.csr" >"$OUT" 2>"$ERR" || rc=$?
expect_eq "a malformed CSR: exit 3" "$rc" 3
expect_eq "  one line on stderr" "$(wc -l <"$ERR")" 1
rc=0
sigil --home "$H" policy explain --csr "$C/good.csr" --profile nope >"$OUT" 2>"$WORK/text.err" || rc=$?
expect_eq "an unknown profile: exit 3" "$rc" 3
check "  the error names it" grep -q "unknown profile 'nope'" "$WORK/text.err"
rc=0
sigil --home "$H" policy explain --csr "$C/good.csr" --ttl forever >"$OUT" 2>"$ERR" || rc=$?
expect_eq "a bad --ttl: exit 3" "$rc" 3

AFTER="$(rows)"
expect_eq "no certificate was issued by any explain" "$(cut -d' ' -f1 <<<"$AFTER")" "$(cut -d' ' -f1 <<<"$BEFORE")"
N_EXPLAINED=$(sqlite3 "$H/sigil.db" "select count(*) from audit_log where action = 'policy-explain'" 2>/dev/null || echo 0)
expect_eq "one audit row per answered explain ($ANSWERED; bad input: none)" "$N_EXPLAINED" "$ANSWERED"
expect_eq "  every answered case was counted" "$ANSWERED" 26
check "the audit row names the refusal" \
  bash -c "sqlite3 '$H/sigil.db' \"select detail from audit_log where action = 'policy-explain'\" | grep -q 'dns:evil.example.org by policy.allowed_domains'"

section "sigil profile list"
check "profile list" bash -c "'$SIGIL' --home '$H' profile list >'$WORK/profiles.txt'"
check "  lists the built-in profiles" grep -Eq '^server +built-in +serverAuth' "$WORK/profiles.txt"
check "  and the custom one with its key types and TTLs" \
  grep -Eq '^device +custom +clientAuth +digitalSignature,keyAgreement \(digitalSignature\) +dns +ec-p384 +2h +7d +no' "$WORK/profiles.txt"
check "profile list --json" bash -c "'$SIGIL' --home '$H' profile list --json >'$WORK/profiles.json'"
json_check "  --json: five profiles, device custom, server and web-short offered over ACME" "$WORK/profiles.json" "(
len(j['items']) == 5 and
[p['name'] for p in j['items'] if p['acme']] == ['server', 'web-short'] and
[p for p in j['items'] if p['name'] == 'device' and not p['builtin'] and p['key_usage'] == ['digitalSignature', 'keyAgreement']
 and p['ext_key_usage'] == ['clientAuth'] and p['key_types'] == ['ec-p384'] and p['max_ttl'] == '7d'] != [] and
[p for p in j['items'] if p['name'] == 'server' and p['builtin'] and p['acme']] != [])"

section "a real issuance with the custom profile"
check "issue with profile device (P-384)" sigil --home "$H" issue --csr "$C/p384.csr" --profile device --out "$C/dev.pem"
openssl x509 -in "$C/dev.pem" -noout -text >"$WORK/dev.txt" 2>&1 || true
check "  its EKU is TLS client authentication only" \
  bash -c "grep -A1 'X509v3 Extended Key Usage' '$WORK/dev.txt' | tail -1 | grep -Eq '^ +TLS Web Client Authentication$'"
check "  its key usage is Digital Signature, Key Agreement (critical)" \
  bash -c "grep -A1 'X509v3 Key Usage: critical' '$WORK/dev.txt' | tail -1 | grep -Eq '^ +Digital Signature, Key Agreement$'"
expect_eq "  its lifetime is the profile's default (2h + 5m backdate)" \
  "$(($(cert_not_after "$C/dev.pem") - $(cert_not_before "$C/dev.pem")))" 7500
check "  it verifies to the root for a TLS client" \
  openssl verify -purpose sslclient -CAfile "$H/ca/root.crt" -untrusted "$C/dev.pem" "$C/dev.pem"
expect_fail_with "the same profile refuses a P-256 key" "does not accept ec-p256 keys" \
  sigil --home "$H" issue --csr "$C/good.csr" --profile device --out "$C/dev2.pem"

section "a bad profile is refused at load, naming its key"
B="$WORK/bad"
mkdir -p "$B"
bad_config() {  # DESC PYTHON KEY-REGEX
  cp "$H/sigil.json" "$B/sigil.json"
  config_edit "$B" "$2"
  expect_fail_with "$1" "$3" sigil --home "$B" profile list
}
bad_config "an unknown EKU" 'j["profiles"]["device"]["ext_key_usage"] = ["codeSigning"]' \
  'sigil\.json: profiles\.device\.ext_key_usage: unknown extended key usage .codeSigning.'
bad_config "an unknown key" 'j["profiles"]["device"]["colour"] = "red"' 'sigil\.json: profiles\.device\.colour: unknown key'
bad_config "default_ttl above max_ttl" 'j["profiles"]["device"]["default_ttl"] = "8d"' 'sigil\.json: profiles\.device: .*default_ttl'
bad_config "max_ttl above 398d" 'j["profiles"]["device"]["max_ttl"] = "400d"' 'sigil\.json: profiles\.device: .*398d'
bad_config "a built-in profile shadowed" 'j["profiles"]["server"] = {"ext_key_usage": ["clientAuth"]}' \
  'sigil\.json: profiles\.server\.ext_key_usage: a built-in profile'
bad_config "ACME offering an unmarked custom profile" 'j["acme"]["profiles"] = ["server", "device"]' \
  'sigil\.json: acme\.profiles: .device. cannot be offered'
rc=0
cp "$H/sigil.json" "$B/sigil.json"
config_edit "$B" 'j["profiles"]["device"]["key_usage"] = ["keyCertSign"]'
sigil --home "$B" policy explain --csr "$C/good.csr" >"$OUT" 2>"$WORK/text.err" || rc=$?
expect_eq "explain with a bad profile config: exit 3" "$rc" 3
check "  the error names the key" grep -q 'sigil.json: profiles.device.key_usage: unknown key usage' "$WORK/text.err"

section "REST: POST /api/v1/policy/explain"
check "CLI: client certificate for the issuer deployer.example.internal" \
  cli_cert "$H" "$C/deployer" client "" deployer.example.internal
check "CLI: client certificate for renew-self web.example.internal" \
  cli_cert "$H" "$C/web" client "" web.example.internal
if ! serve_start "$H"; then
  fail "sigil serve starts"
  finish
fi
body() {  # CSR [PROFILE] [IDENTITY] [TTL]
  python3 -c '
import json, sys
b = {"csr": open(sys.argv[1]).read()}
for k, v in zip(("profile", "identity", "ttl"), sys.argv[2:]):
    if v:
        b[k] = v
print(json.dumps(b))' "$@" >"$WORK/body.json"
}
hreq "" "" GET "$(acme /acme/directory)"
expect_http "the ACME directory" 200
json_check "  offers server and the custom profile marked for ACME, not device" "$HB" \
  "sorted(j['meta']['profiles']) == ['server', 'web-short']"
BEFORE_REST="$(rows)"
body "$C/mixed.csr" "" "dns:deployer.example.internal"
admin_req POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_http "admin explains for the issuer deployer" 200
cp "$HB" "$WORK/ex.json"
json_check "  the same shape as the CLI's --json" "$WORK/ex.json" \
  "(set(j) >= {'allowed', 'profile', 'ttl_seconds', 'identifiers', 'checks'} and j['allowed'] is False and
   all(set(e) >= {'identifier', 'allowed', 'rule', 'detail'} for e in j['identifiers']) and
   all(set(c) >= {'check', 'allowed', 'rule', 'detail'} for c in j['checks']))"
decided dns:evil.example.org False '^policy\.allowed_domains$'
decided dns:a.example.internal False '^authorization\[[0-9]+\]\.identifiers$'
sigil --home "$H" policy explain --json --csr "$C/mixed.csr" --identity dns:deployer.example.internal >"$WORK/cli.json" || true
check "  identical to the CLI's answer" python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$WORK/ex.json" "$WORK/cli.json"
body "$C/good.csr"
admin_req POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_http "admin explains for itself" 200
cp "$HB" "$WORK/ex.json"
decided role True '^authorization\[0\]$'
body "$C/svc.csr"
hreq "$C/deployer.crt" "$C/deployer.key" POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_http "the issuer explains for itself" 200
cp "$HB" "$WORK/ex.json"
json_check "  its own identity, allowed" "$WORK/ex.json" "j['identity'] == 'dns:deployer.example.internal' and j['allowed']"
body "$C/svc.csr" server "" 72h
hreq "$C/deployer.crt" "$C/deployer.key" POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_http "the issuer asks for 72h" 200
cp "$HB" "$WORK/ex.json"
decided role_max_ttl False '^authorization\[[0-9]+\]\.max_ttl$'
body "$C/svc.csr" "" "dns:other.example.internal"
hreq "$C/deployer.crt" "$C/deployer.key" POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_problem "the issuer may not explain for another identity" 403 'unauthorized'
body "$C/svc.csr"
hreq "$C/web.crt" "$C/web.key" POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_problem "a renew-self identity is forbidden" 403 'unauthorized'
body "$C/garbage.csr"
admin_req POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_problem "a bad CSR is a 400 problem" 400 'badCSR'
printf '{"csr": "x", "colour": "red"}' >"$WORK/body.json"
admin_req POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
expect_problem "an unknown field is a 400 problem" 400 'malformed'
hreq "" "" POST "$(api /api/v1/policy/explain)" "${JSON[@]}" --data-binary "@$WORK/body.json"
[[ $HCODE != 200 ]] && pass "without a client certificate: no answer (HTTP $HCODE)" || fail "without a client certificate: refused"
AFTER_REST="$(rows)"
expect_eq "REST: no certificate issued" "$(cut -d' ' -f1 <<<"$AFTER_REST")" "$(cut -d' ' -f1 <<<"$BEFORE_REST")"
N_REST=$(sqlite3 "$H/sigil.db" "select count(*) from audit_log where action = 'policy-explain' and actor like 'api:%'" 2>/dev/null || echo 0)
expect_eq "REST: one audit row per answered or refused explain (4 answered, 2 refused)" "$N_REST" 6

finish
