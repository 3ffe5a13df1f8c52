#!/usr/bin/env bash
# Issue 11, the mTLS refusal matrix on the api listener: one client per way a client certificate
# can be wrong, each with its named outcome, checked exactly (the TLS alert s_client receives, a
# reset after the handshake, or a 403 problem document) and counted under its reason in /metrics:
#   no certificate             alert "certificate required"   (peer did not return a certificate)
#   expired                    alert "certificate expired"    (certificate has expired)
#   not yet valid              alert "bad certificate"        (certificate is not yet valid)
#   revoked                    connection reset, no answer    (certificate revoked)
#   wrong CA                   alert "unknown ca"             (unable to get local issuer certificate)
#   self-signed, right subject alert "unknown ca"             (self-signed certificate)
#   serverAuth only            alert "unsupported certificate" (unsuitable certificate purpose)
#   right CA, no role          handshake ok, HTTP 403 problem document
#   key does not match         alert "decrypt error"          (bad signature)
# After all of them the server still answers an authorized request. Expired and not-yet-valid
# certificates are forged with the home's intermediate key (valid chain, wrong dates; the admin's
# identity, so that only the dates are wrong). curl, s_client and Python's ssl all refuse to
# present a certificate with a key it does not belong to; a small ctypes client over libssl does
# (the other key's public half is set to the certificate's, so OpenSSL's local check passes and
# the CertificateVerify is signed with the other key).
# Run inside a private network namespace (see CMakeLists.txt).
source "$(dirname "$0")/serve_lib.sh" "$@"

H="$WORK/home"
C="$WORK/certs"
mkdir -p "$C"
ADMIN_CRT="$H/admin/admin.crt"
ADMIN_KEY="$H/admin/admin.key"


# mismatch_client PORT CERT KEY OTHER-KEY: GET /health presenting CERT (with its chain) and
# signing the handshake with OTHER-KEY (KEY itself when OTHER-KEY is "-"). Prints "http: <status
# line>" or "refused: <OpenSSL's reason>"; output in $SO.
mismatch_client() {
  python3 - "$1" "$2" "$4" "$H/ca/root.crt" >"$SO" 2>&1 <<'PY' || true
import ctypes, socket, struct, sys
port, cert, other, cafile = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4].encode()
ssl = ctypes.CDLL("libssl.so.3")
cr = ctypes.CDLL("libcrypto.so.3")
P, I, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
for f, res, args in [
    (cr.BIO_new_file, P, [S, S]), (cr.BIO_free, I, [P]),
    (cr.PEM_read_bio_PrivateKey, P, [P, P, P, P]), (cr.PEM_read_bio_X509, P, [P, P, P, P]),
    (cr.X509_get0_pubkey, P, [P]),
    (cr.EVP_PKEY_get_octet_string_param, I, [P, S, S, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    (cr.EVP_PKEY_set_octet_string_param, I, [P, S, S, ctypes.c_size_t]),
    (cr.ERR_get_error, ctypes.c_ulong, []), (cr.ERR_reason_error_string, S, [ctypes.c_ulong]),
    (ssl.TLS_client_method, P, []), (ssl.SSL_CTX_new, P, [P]),
    (ssl.SSL_CTX_use_certificate_chain_file, I, [P, S]), (ssl.SSL_CTX_use_PrivateKey, I, [P, P]),
    (ssl.SSL_CTX_load_verify_locations, I, [P, S, S]), (ssl.SSL_CTX_set_verify, None, [P, I, P]),
    (ssl.SSL_new, P, [P]), (ssl.SSL_set_fd, I, [P, I]), (ssl.SSL_connect, I, [P]),
    (ssl.SSL_write, I, [P, S, I]), (ssl.SSL_read, I, [P, ctypes.c_char_p, I])]:
    f.restype, f.argtypes = res, args

def reason():
    e, last = cr.ERR_get_error(), None
    while e:
        last, e = e, cr.ERR_get_error()
    return (cr.ERR_reason_error_string(last) or b"?").decode() if last else "no OpenSSL error"

def read_pem(path, fn):
    bio = cr.BIO_new_file(path, b"r")
    obj = fn(bio, None, None, None)
    cr.BIO_free(bio)
    assert obj, "cannot read " + path.decode()
    return obj

key = read_pem(other, cr.PEM_read_bio_PrivateKey)
pub = cr.X509_get0_pubkey(read_pem(cert, cr.PEM_read_bio_X509))
buf, n = ctypes.create_string_buffer(1024), ctypes.c_size_t(0)
assert cr.EVP_PKEY_get_octet_string_param(pub, b"encoded-pub-key", buf, 1024, ctypes.byref(n)) == 1
# The other key's private half stays; its public half becomes the certificate's.
assert cr.EVP_PKEY_set_octet_string_param(key, b"encoded-pub-key", buf, n.value) == 1
ctx = ssl.SSL_CTX_new(ssl.TLS_client_method())
assert ssl.SSL_CTX_use_certificate_chain_file(ctx, cert) == 1
assert ssl.SSL_CTX_use_PrivateKey(ctx, key) == 1, "OpenSSL refused the pair locally: " + reason()
assert ssl.SSL_CTX_load_verify_locations(ctx, cafile, None) == 1
ssl.SSL_CTX_set_verify(ctx, 1, None)
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
# libssl needs a blocking socket (Python's timeout makes it non-blocking); bounded by SO_RCVTIMEO.
sock.setblocking(True)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
s = ssl.SSL_new(ctx)
ssl.SSL_set_fd(s, sock.fileno())
if ssl.SSL_connect(s) != 1:
    print("refused: " + reason()); sys.exit(0)
req = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
ssl.SSL_write(s, req, len(req))
out = ctypes.create_string_buffer(4096)
got = ssl.SSL_read(s, out, 4096)
print("http: " + out.raw[:got].split(b"\r\n")[0].decode() if got > 0 else "refused: " + reason())
PY
}

# expect_alert DESC ALERT CERT KEY: s_client receives the TLS alert ALERT and no HTTP answer.
expect_alert() {
  local desc="$1" alert="$2"
  shift 2
  sclient "$API_PORT" "$@" || true
  if grep -aq '^HTTP/1' "$SO"; then
    fail "$desc" "the server answered: $(grep -am1 '^HTTP/1' "$SO")"
  elif grep -aqi "alert $alert" "$SO"; then
    pass "$desc: TLS alert '$alert'"
  else
    fail "$desc" "expected the TLS alert '$alert': $(grep -aEim2 'alert|error' "$SO" | tr '\n' ';' | cut -c1-200)"
  fi
}

section "set-up"
check "init the CA" serve_init "$H"
check "authorization: roles for the revoked and serverAuth-only identities (so only authentication can refuse them)" \
  config_edit "$H" '
j["authorization"] += [
  {"identity": "revoked.example.internal", "role": "admin"},
  {"identity": "srv.example.internal", "role": "admin"},
]'
check "CLI: client certificate for revoked.example.internal (admin role, revoked below)" \
  cli_cert "$H" "$C/revoked" client "" revoked.example.internal
check "CLI: server-profile certificate (serverAuth only) for srv.example.internal (admin role)" \
  cli_cert "$H" "$C/srv" server "" srv.example.internal
check "CLI: client certificate for nobody.example.internal (no role)" \
  cli_cert "$H" "$C/nobody" client "" nobody.example.internal
check "forge: the admin's identity and key, expired 10 days ago" forge_admin_cert "$H" "$C/expired.crt" -100 -10
check "forge: the admin's identity and key, valid from tomorrow" forge_admin_cert "$H" "$C/future.crt" 1 30
check "the forged certificates chain to the root (dates aside)" \
  openssl verify -no_check_time -CAfile "$H/ca/root.crt" -untrusted "$C/expired.crt" "$C/expired.crt"
check "another CA, and a clientAuth leaf for sigil-admin it signed" bash -c "
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '$C/other-ca.key' \
    -subj '/CN=Other CA' -days 30 -addext basicConstraints=critical,CA:TRUE -out '$C/other-ca.crt' 2>/dev/null &&
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '$C/wrongca.key' \
    -subj '/CN=sigil-admin' -out '$C/wrongca.csr' 2>/dev/null &&
  printf 'subjectAltName=DNS:sigil-admin\nextendedKeyUsage=clientAuth\n' >'$C/leaf.ext' &&
  openssl x509 -req -in '$C/wrongca.csr' -CA '$C/other-ca.crt' -CAkey '$C/other-ca.key' -CAcreateserial \
    -days 10 -extfile '$C/leaf.ext' -out '$C/wrongca.crt' 2>/dev/null"
check "a self-signed certificate with the admin's subject (CN and SAN sigil-admin, clientAuth)" \
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/self.key" \
  -subj /CN=sigil-admin -addext subjectAltName=DNS:sigil-admin -addext extendedKeyUsage=clientAuth \
  -days 10 -out "$C/self.crt"
check "another P-256 key (for the admin certificate)" \
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/other.key"
if ! serve_start "$H"; then
  fail "sigil serve starts and answers /health on its three listeners"
  finish
fi
pass "sigil serve starts: api :$API_PORT"
hreq "$C/revoked.crt" "$C/revoked.key" GET "$(api /api/v1/certificates)"
expect_http "before its revocation, revoked.example.internal (admin role) is served" 200
check "sigil revoke (CLI, server running)" \
  sigil --home "$H" revoke "$(cert_serial "$C/revoked.crt")" --reason keyCompromise
scrape_metrics "$WORK/metrics.base"
expect_http "baseline /metrics scrape" 200

section "the matrix"
expect_alert "no certificate" "certificate required" "" ""
expect_alert "expired (forged: the admin's identity and key)" "certificate expired" "$C/expired.crt" "$ADMIN_KEY"
expect_alert "not yet valid (forged: the admin's identity and key)" "bad certificate" "$C/future.crt" "$ADMIN_KEY"

# Revoked: chain, dates and EKU are fine, so the handshake completes; the store says revoked and
# the connection is reset before the request is read.
sclient "$API_PORT" "$C/revoked.crt" "$C/revoked.key" || true
if grep -aq '^HTTP/1' "$SO"; then
  fail "revoked" "the server answered: $(grep -am1 '^HTTP/1' "$SO")"
elif grep -aq 'New, TLSv1.3' "$SO" && ! grep -aqi 'alert' "$SO" && grep -aqiE 'errno=104|reset by peer' "$SO"; then
  pass "revoked: handshake completed, then the connection reset (no alert, no answer)"
else
  fail "revoked" "expected a completed handshake, then a reset: $(grep -aEi 'New,|alert|errno|error' "$SO" | head -3 | tr '\n' ';')"
fi

expect_alert "wrong CA (a clientAuth leaf for sigil-admin from another CA)" "unknown ca" "$C/wrongca.crt" "$C/wrongca.key"
expect_alert "self-signed with the admin's subject" "unknown ca" "$C/self.crt" "$C/self.key"
expect_alert "serverAuth only (admin role)" "unsupported certificate" "$C/srv.crt" "$C/srv.key"

hreq "$C/nobody.crt" "$C/nobody.key" GET "$(api /api/v1/certificates)"
expect_problem "right CA, no role: GET /api/v1/certificates" 403 'unauthorized'

mismatch_client "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" "$ADMIN_KEY"
expect_eq "the ctypes client itself works (the admin certificate with its own key)" "$(tail -1 "$SO")" "http: HTTP/1.1 200 OK"
mismatch_client "$API_PORT" "$ADMIN_CRT" "$ADMIN_KEY" "$C/other.key"
expect_eq "key does not match: the admin certificate, the handshake signed with another key" \
  "$(tail -1 "$SO")" "refused: tlsv1 alert decrypt error"

section "every refusal counted under its reason; the server still serves"
admin_req GET "$(api /api/v1/certificates)"
expect_http "the admin still gets GET /api/v1/certificates" 200
scrape_metrics
F=sigil_tls_handshake_failures_total
expect_metric_delta "no certificate" $F 'reason="peer did not return a certificate"' 1
expect_metric_delta "expired" $F 'reason="certificate has expired"' 1
expect_metric_delta "not yet valid" $F 'reason="certificate is not yet valid"' 1
expect_metric_delta "revoked" $F 'reason="certificate revoked"' 1
expect_metric_delta "wrong CA" $F 'reason="unable to get local issuer certificate"' 1
expect_metric_delta "self-signed" $F 'reason="self-signed certificate"' 1
expect_metric_delta "serverAuth only" $F 'reason="unsuitable certificate purpose"' 1
expect_metric_delta "key does not match" $F 'reason="bad signature"' 1
expect_metric_delta "no role: one 403 on the list route" sigil_http_requests_total \
  'listener="api",route="/api/v1/certificates",method="GET",status="403"' 1
expect_metric_delta "refusals total: the eight above" $F 'listener="api"' 8
finish
