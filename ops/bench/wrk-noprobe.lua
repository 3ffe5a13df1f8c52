-- For ops/bench/ocsp.sh: wrk's default resolve() opens and closes a connection to each address
-- before the run to see whether it is reachable. `openssl ocsp -port` (3.0) spins at 100% CPU
-- on such an empty connection and never answers again, so this keeps the addresses as looked
-- up and skips the probe. It changes nothing else about the load: every peer gets it.
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup(host, service)
end
