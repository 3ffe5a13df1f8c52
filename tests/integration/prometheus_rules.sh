#!/usr/bin/env bash
# ops/prometheus (issue 16 item 5): the alerting rules pass `promtool check rules` and their unit
# tests (`promtool test rules`: each alert fires on its series and not on a healthy one); the
# scrape configuration passes `promtool check config` with real certificate files; and a real
# `sigil serve`, scraped as that configuration does (a client certificate of a renew-self
# identity), exposes every metric the rules use, in text `promtool check metrics` accepts.
source "$(dirname "$0")/serve_lib.sh" "$@"

P="$(cd "$(dirname "$0")/../../ops/prometheus" && pwd)"
command -v promtool >/dev/null || { fail "promtool is installed (Debian prometheus)"; finish; }

section "rules and their unit tests"
check "promtool check rules rules.yml" promtool check rules "$P/rules.yml"
check "promtool test rules rules_test.yml" bash -c "cd '$P' && promtool test rules rules_test.yml"

section "a real server exposes what the rules use"
H="$WORK/home"
serve_init "$H"
config_edit "$H" "j.setdefault('authorization', []).append({'identity': 'prometheus.example.internal', 'role': 'renew-self'})"
check "issue the scraper's client certificate" cli_cert "$H" "$WORK/prometheus" client "" prometheus.example.internal
serve_start "$H" || { fail "serve starts"; finish; }
api_url="$(awk '$1 == "api" { print $2 }' "$SERVE_OUT")"
code=$(curl -sS --max-time 10 --cacert "$H/ca/root.crt" --cert "$WORK/prometheus.crt" --key "$WORK/prometheus.key" \
  -o "$WORK/metrics.txt" -w '%{http_code}' "$api_url/metrics" 2>"$WORK/curl.err" || true)
expect_eq "GET $api_url/metrics with the scraper's certificate" "$code" 200
# promtool check metrics lints names, types and HELP text.
if promtool check metrics <"$WORK/metrics.txt" >"$WORK/lint.txt" 2>&1; then
  pass "promtool check metrics accepts the exposition"
else
  fail "promtool check metrics accepts the exposition" "$(head -5 "$WORK/lint.txt")"
fi
# Every family the rules use is exposed from the start (a counter with no event yet has its TYPE
# line, and an unlabelled one its 0), so rate() and increase() see the first event.
for m in $(grep -oE 'sigil_[a-z0-9_]+' "$P/rules.yml" | sort -u); do
  if grep -qE "^# TYPE $m " "$WORK/metrics.txt"; then pass "exposed: $m"; else fail "exposed: $m" "no TYPE line in /metrics"; fi
done
for m in sigil_store_errors_total sigil_crl_build_failures_total; do
  expect_eq "$m starts at 0" "$(awk -v m="$m" '$1 == m { print $2 }' "$WORK/metrics.txt")" 0
done
expect_eq "one live node (this one), none stale" \
  "$(awk '$1 == "sigil_nodes_live" || $1 == "sigil_nodes_stale" { printf "%s=%s ", $1, $2 }' "$WORK/metrics.txt")" \
  "sigil_nodes_live=1 sigil_nodes_stale=0 "
expect_eq "nothing overdue for renewal on a new CA" \
  "$(awk '$1 == "sigil_certificates_renewal_overdue" { print $2 }' "$WORK/metrics.txt")" 0
left="$(awk '$1 == "sigil_admin_certificate_expiry_seconds" { printf "%d", $2 }' "$WORK/metrics.txt")"
check "the admin certificate's remaining life is positive ($left s)" test "${left:-0}" -gt 0

section "the scrape configuration"
sed -e "s#/etc/sigil/root.crt#$H/ca/root.crt#" -e "s#/etc/prometheus/sigil/prometheus.crt#$WORK/prometheus.crt#" \
  -e "s#/etc/prometheus/sigil/prometheus.key#$WORK/prometheus.key#" "$P/prometheus.yml" >"$WORK/prometheus.yml"
cp "$P/rules.yml" "$WORK/rules.yml"
check "promtool check config (with this CA's files)" promtool check config "$WORK/prometheus.yml"

serve_stop
finish
