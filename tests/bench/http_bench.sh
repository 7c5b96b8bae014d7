#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# HTTP benchmark: examples/httparena-server against Debian's nginx (one
# worker, answering the same plaintext routes), side by side in one run.
#
#   http_bench.sh BUILD_DIR [--quick] [--duration S] [--warmup S] [--reps N]
#                 [--profiles "baseline baseline-wrk pipelined json compression upload"]
#                 [--server PATH] [--datagen PATH] [--no-memory] [--no-docs]
#
# Every profile runs each server in turn (fresh process, pinned to CPU 1;
# the load generator, zerg-load (examples/load) with one thread, pinned
# to CPU 0), the order alternating between repetitions. baseline-wrk is
# the baseline profile driven by wrk instead: a cross-check of zerg-load.
# Per run: requests/s (2xx only), server CPU time per request (utime +
# stime from /proc/PID/stat over the measured generator run, master +
# worker for nginx), the generator's own CPU per request, and peak memory
# (VmHWM, summed over nginx's processes). Then both servers hold 4096
# idle keep-alive connections and their resident memory is read.
#
# Prints the table; unless --no-docs, writes it into the "http" section
# of docs/benchmarks.md and draws docs/benchmarks.png. Exits 77 (skipped)
# when httparena-server is not built, 1 when a run failed or a server gave
# a wrong answer; losing a profile is reported, never a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd)
shift
args_line="$*"
duration=8 warmup=2 reps=3 write_docs=1 memory=1 server="" datagen=""
profiles="baseline baseline-wrk pipelined json compression upload"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) duration=2 warmup=1 reps=1 ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--reps) reps=$2; shift ;;
	--profiles) profiles=$2; shift ;;
	--server) server=$2; shift ;;
	--datagen) datagen=$2; shift ;;
	--no-memory) memory=0 ;;
	--no-docs) write_docs=0 ;;
	*) usage ;;
	esac
	shift
done

server_cpu=1 load_cpu=0
[ "$(nproc)" -ge 2 ] || server_cpu=0
docs=$here/../../docs

# ---- locate the programs ------------------------------------------------
hdir=$build/examples/httparena-server
if [ -z "$server" ]; then
	for c in "$hdir/httparena-server" "$hdir/zerg-httparena" "$hdir/httparena"; do
		[ -x "$c" ] && { server=$c; break; }
	done
fi
if [ -z "$datagen" ]; then
	for c in "$hdir/httparena-datagen" "$hdir/httparena-gen" "$hdir/datagen"; do
		[ -x "$c" ] && { datagen=$c; break; }
	done
fi
hold_bin=$build/tests/bench/http_hold
zl_bin=$build/examples/load/zerg-load
if [ -z "$server" ] || [ ! -x "$server" ]; then
	echo "SKIP: httparena-server not found in $hdir (pass --server PATH)"
	exit 77
fi
[ -x "$hold_bin" ] && [ -x "$zl_bin" ] || bench_die "build $build first (missing tests/bench/http_hold or examples/load/zerg-load)"

pkgs=(wrk nginx-light curl)
[ "$write_docs" = 1 ] && pkgs+=(python3-matplotlib)
bench_need_pkgs "${pkgs[@]}"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

bench_init
t_start=$(date +%s)
data=$BENCH_TMP/data
mkdir -p "$data" "$BENCH_TMP/www" "$BENCH_TMP/nginx"
if [ -n "$datagen" ]; then
	bench_log "generating data: $datagen $data"
	"$datagen" "$data" >"$BENCH_TMP/datagen.log" 2>&1 ||
		{ cat "$BENCH_TMP/datagen.log" >&2; bench_die "datagen failed"; }
else
	bench_log "warning: no data generator found; starting httparena-server with an empty data dir"
fi

# The server's command line: {port} and {data} are replaced.
server_args=${BENCH_HTTP_SERVER_ARGS:-"--port {port} --threads 1 --data {data}"}
port_base=19300

# start_server NAME LOG PORT: sets SPID (the pid to stop) and SPIDS (pids
# whose CPU time and memory are summed).
start_server() {
	local name=$1 log=$2 port=$3 a i
	if [ "$name" = zerg ]; then
		a=${server_args//\{port\}/$port}
		a=${a//\{data\}/$data}
		# shellcheck disable=SC2086
		bench_spawn "$server_cpu" "$log" "$server" $a
		SPID=$BENCH_LAST_PID
		SPIDS=("$SPID")
	else
		sed "s/@PORT@/$port/" "$BENCH_TMP/nginx/nginx.conf.in" >"$BENCH_TMP/nginx/nginx.conf"
		bench_spawn "$server_cpu" "$log" "$nginx_bin" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/error.log"
		SPID=$BENCH_LAST_PID
	fi
	if ! bench_wait_listen "$SPID" "$port" 30; then
		bench_log "$name did not start listening on $port:"
		cat "$log" >&2 || true
		[ "$name" = nginx ] && cat "$BENCH_TMP/nginx/error.log" >&2
		return 1
	fi
	if [ "$name" = nginx ]; then
		# the master plus its worker(s); the workers appear right after listen
		for ((i = 0; i < 40; i++)); do
			SPIDS=("$SPID")
			for a in $(cat /proc/"$SPID"/task/*/children 2>/dev/null); do SPIDS+=("$a"); done
			[ ${#SPIDS[@]} -ge 2 ] && break
			sleep 0.05
		done
	fi
	return 0
}

# ---- sample the answers, build nginx's static files ----------------------
port=$(bench_free_port "$port_base")
port_base=$((port + 1))
start_server zerg "$BENCH_TMP/probe.log" "$port" || bench_die "httparena-server failed to start"
u=http://127.0.0.1:$port
curl -fsS "$u/json" -o "$BENCH_TMP/www/json" || bench_die "GET /json failed"
curl -fsS "$u/compression" -o "$BENCH_TMP/www/compression" || bench_die "GET /compression failed"
check_zerg=$BENCH_TMP/check-zerg.txt
{
	echo "GET /baseline11 -> $(curl -sS "$u/baseline11?a=13&b=42")"
	echo "POST cl -> $(curl -sS -H 'Content-Type:' --data-binary 20 "$u/baseline11?a=13&b=42")"
	echo "POST chunked -> $(curl -sS -H 'Transfer-Encoding: chunked' -H 'Content-Type:' --data-binary 20 "$u/baseline11?a=13&b=42")"
	echo "GET /pipeline -> $(curl -sS "$u/pipeline")"
	echo "upload 1 MiB -> $(head -c 1048576 /dev/zero | curl -sS -H 'Content-Type:' --data-binary @- "$u/upload")"
} >"$check_zerg"
bench_stop "$SPID"
json_bytes=$(stat -c %s "$BENCH_TMP/www/json")
comp_bytes=$(stat -c %s "$BENCH_TMP/www/compression")
bench_log "httparena-server answers: $(tr '\n' ';' <"$check_zerg") /json ${json_bytes} B, /compression ${comp_bytes} B identity"
if ! grep -q '^GET /baseline11 -> 55$' "$check_zerg" || ! grep -q '^POST cl -> 75$' "$check_zerg" ||
	! grep -q '^POST chunked -> 75$' "$check_zerg" || ! grep -q '^GET /pipeline -> ok$' "$check_zerg" ||
	! grep -q '^upload 1 MiB -> 1048576$' "$check_zerg"; then
	bench_log "warning: httparena-server gave unexpected answers (see above)"
	answers_ok=0
else
	answers_ok=1
fi

mkdir -p "$BENCH_TMP/nginx/tmp"
# nginx's worker runs as an unprivileged user: let it read the static files
chmod 755 "$BENCH_TMP" "$BENCH_TMP/www"
chmod 644 "$BENCH_TMP/www/"*
cat >"$BENCH_TMP/nginx/nginx.conf.in" <<EOF
# generated by tests/bench/http_bench.sh
worker_processes 1;
daemon off;
master_process on;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/error.log warn;
worker_rlimit_nofile 20000;
events {
    worker_connections 20000;
}
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path $BENCH_TMP/nginx/tmp/body;
    proxy_temp_path $BENCH_TMP/nginx/tmp/proxy;
    fastcgi_temp_path $BENCH_TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $BENCH_TMP/nginx/tmp/uwsgi;
    scgi_temp_path $BENCH_TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:@PORT@ backlog=4096;
        # a fixed answer: nginx neither sums the query nor reads the POST body
        location = /baseline11 { return 200 "55"; }
        location = /pipeline { return 200 "ok"; }
        # the bytes httparena-server serialises per request, as a static file
        location = /json { default_type application/json; alias $BENCH_TMP/www/json; }
        # the identity document, gzipped by nginx per request at level 1
        location = /compression {
            default_type application/json;
            alias $BENCH_TMP/www/compression;
            gzip on; gzip_comp_level 1; gzip_types application/json; gzip_min_length 0;
        }
        # return discards the body as it streams in (read and dropped, not counted)
        location = /upload { client_max_body_size 0; return 200 "0"; }
    }
}
EOF
sed "s/@PORT@/$port_base/" "$BENCH_TMP/nginx/nginx.conf.in" >"$BENCH_TMP/nginx/nginx.conf"
"$nginx_bin" -t -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/error.log" \
	>"$BENCH_TMP/nginx-t.log" 2>&1 || { cat "$BENCH_TMP/nginx-t.log" >&2; bench_die "bad nginx config"; }

# ---- profiles -------------------------------------------------------------
# The HttpArena request files (requests/*.raw), sent as-is by zerg-load;
# wrk_*.lua send the same bytes. The upload is 20 MiB of zeros.
raw=$BENCH_TMP/raw
mkdir -p "$raw"
printf 'GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/get.raw"
printf 'POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n20' >"$raw/post_cl.raw"
printf 'POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n20\r\n0\r\n\r\n' >"$raw/post_chunked.raw"
printf 'GET /pipeline HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/pipeline.raw"
printf 'GET /json HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/json-get.raw"
printf 'GET /compression HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip\r\n\r\n' >"$raw/json-gzip.raw"
{
	printf 'POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: %d\r\n\r\n' $((20 << 20))
	head -c $((20 << 20)) /dev/zero
} >"$raw/upload.raw"

# profile -> "connections|generator|its arguments|description"
profile_def() {
	case $1 in
	baseline) echo "512|zl|--raw $raw/get.raw,$raw/post_cl.raw,$raw/post_chunked.raw --rotate-requests|GET + POST Content-Length + POST chunked /baseline11, in turn" ;;
	baseline-wrk) echo "512|wrk|-s $here/wrk_baseline.lua|the same, driven by wrk (cross-check)" ;;
	pipelined) echo "512|zl|--raw $raw/pipeline.raw -p 16 --batch|16 x GET /pipeline per write, the next 16 once all are answered" ;;
	json) echo "512|zl|--raw $raw/json-get.raw|GET /json" ;;
	compression) echo "128|zl|--raw $raw/json-gzip.raw --timeout 20000|GET /compression, Accept-Encoding: gzip" ;;
	upload) echo "64|zl|--raw $raw/upload.raw --timeout 60000|POST /upload, 20 MiB body" ;;
	*) return 1 ;;
	esac
}

# zerg-load's JSON summary -> the key=value line of wrk_report.lua (over
# the generator's whole run, which the server's CPU time also covers:
# requests = every response, duration = the run) plus its own CPU.
zl_line() {
	/usr/bin/python3 -c '
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
e, t, lat = d["errors"], d["totals"], d["latency_us"]
print("WRK requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d p50_us=%d p99_us=%d unanswered=%d window_rps=%.0f" % (
    t["responses"], d["run_s"] * 1e6, d["bytes"], e["connect"], e["read"] + e["parse"] + e["body"],
    e["write"], t["status_errors"], e["timeout"], lat["p50"], lat["p99"], t["unanswered"], d["rps"]))' "$1"
}

results=$BENCH_TMP/results.txt
: >"$results"
failed=0

# measure NAME PROFILE REP: one measurement with a fresh server; sets LINE
# or returns 1.
measure() {
	local name=$1 prof=$2 rep=$3 def conns gen wargs port c0 c1 a0 a1 k0 k1 l0 l1 hwm rc log line
	LINE=""
	def=$(profile_def "$prof")
	conns=${def%%|*}
	def=${def#*|}
	gen=${def%%|*}
	def=${def#*|}
	wargs=${def%%|*}
	export BENCH_PATH=/json BENCH_GZIP=0
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	log=$BENCH_TMP/$name-$prof-$rep.log
	if ! start_server "$name" "$log" "$port"; then
		bench_stop "$SPID"
		return 1
	fi
	local url=http://127.0.0.1:$port/ load
	if [ "$gen" = zl ]; then
		# shellcheck disable=SC2206
		load=("$zl_bin" "http://127.0.0.1:$port" -t 1 -c "$conns" $wargs --json)
		# httparena-server's answer to an upload is the byte count
		[ "$prof" = upload ] && [ "$name" = zerg ] && load+=(--expect-body $((20 << 20)))
		[ "$warmup" != 0 ] && { taskset -c "$load_cpu" "${load[@]}" -d "$warmup" >"$BENCH_TMP/warm.out" 2>&1 || true; }
		load+=(-d "$duration")
	else
		# shellcheck disable=SC2206
		load=(wrk -t 1 -c "$conns" $wargs "$url")
		[ "$warmup" != 0 ] && { taskset -c "$load_cpu" "${load[@]}" -d "${warmup}s" >"$BENCH_TMP/warm.out" 2>&1 || true; }
		load+=(-d "${duration}s")
	fi
	bench_wait_quiet 20 || true
	c0=$(bench_cpu_s "${SPIDS[@]}")
	k0=$(bench_core_busy_s "$server_cpu")
	a0=$(bench_all_cpu_s)
	bench_children_cpu_s
	l0=$BENCH_CHILD_CPU
	rc=0
	taskset -c "$load_cpu" "${load[@]}" >"$BENCH_TMP/wrk.out" 2>&1 || rc=$?
	bench_children_cpu_s
	l1=$BENCH_CHILD_CPU
	a1=$(bench_all_cpu_s)
	k1=$(bench_core_busy_s "$server_cpu")
	c1=$(bench_cpu_s "${SPIDS[@]}")
	hwm=$(bench_status_kb VmHWM "${SPIDS[@]}")
	kill -0 "$SPID" 2>/dev/null || { bench_log "$name died during $prof"; rc=1; }
	bench_stop "$SPID"
	if [ "$gen" = zl ]; then
		line=$(zl_line "$BENCH_TMP/wrk.out" 2>/dev/null || true)
	else
		line=$(grep '^WRK ' "$BENCH_TMP/wrk.out" || true)
	fi
	if [ -z "$line" ] || [ $rc -ne 0 ]; then
		bench_log "$name $prof: load generator failed (rc=$rc):"
		cat "$BENCH_TMP/wrk.out" >&2
		return 1
	fi
	LINE=$(awk -v c0="$c0" -v c1="$c1" -v a0="$a0" -v a1="$a1" -v l0="$l0" -v l1="$l1" -v k0="$k0" -v k1="$k1" -v d="$duration" \
		'BEGIN { f = (a1 - a0) - (c1 - c0) - (l1 - l0); if (f < 0) f = 0
		printf "cpu_s=%.3f core_busy_s=%.3f load_cpu_s=%.3f foreign_cpu_pct=%.1f", c1 - c0, k1 - k0, l1 - l0, 100 * f / d }')
	LINE="server=$name profile=$prof rep=$rep conns=$conns gen=$gen $LINE hwm_kb=$hwm ${line#WRK }"
}

# run_one NAME PROFILE REP: the quietest of up to three measurements.
run_one() {
	if ! bench_quietest measure "$@"; then
		failed=1
		return
	fi
	echo "$LINE" >>"$results"
	bench_log "$LINE"
}

bench_log "HTTP benchmark: servers on CPU $server_cpu, zerg-load (wrk for baseline-wrk; 1 thread) on CPU $load_cpu, ${duration}s x $reps per server and profile; profiles: $profiles"
pi=0
for prof in $profiles; do
	profile_def "$prof" >/dev/null || bench_die "unknown profile $prof"
	for ((rep = 1; rep <= reps; rep++)); do
		if (((pi + rep) % 2)); then
			run_one zerg "$prof" "$rep"
			run_one nginx "$prof" "$rep"
		else
			run_one nginx "$prof" "$rep"
			run_one zerg "$prof" "$rep"
		fi
	done
	pi=$((pi + 1))
done

# ---- idle keep-alive memory ----------------------------------------------
memfile=$BENCH_TMP/memory.txt
: >"$memfile"
if [ "$memory" = 1 ]; then
	for name in zerg nginx; do
		port=$(bench_free_port "$port_base")
		port_base=$((port + 1))
		if ! start_server "$name" "$BENCH_TMP/$name-hold.log" "$port"; then
			bench_stop "$SPID"
			failed=1
			continue
		fi
		pidargs=()
		for p in "${SPIDS[@]}"; do pidargs+=(--server-pid "$p"); done
		line=$(taskset -c "$load_cpu" "$hold_bin" --port "$port" --conns 4096 --hold 4 "${pidargs[@]}" 2>"$BENCH_TMP/hold.err") || {
			bench_log "$name: http_hold failed: $line $(cat "$BENCH_TMP/hold.err")"
			failed=1
		}
		bench_stop "$SPID"
		[ -n "$line" ] && echo "server=$name ${line#HOLD }" >>"$memfile"
		bench_log "$name idle: ${line#HOLD }"
	done
fi
elapsed=$(($(date +%s) - t_start))

# ---- summarise -------------------------------------------------------------
table=$BENCH_TMP/table.md
chartdata=$BENCH_TMP/chart.tsv
awk -v reps="$reps" -v chart="$chartdata" -v profiles="$profiles" "$BENCH_AWK_FUNCS"'
{
	delete V; kv($0)
	k = V["profile"] SUBSEP V["server"]
	ok = V["requests"] - V["status_errors"]
	d = V["duration_us"] / 1e6
	rps = ok / d; cpr = ok ? 1e6 * V["cpu_s"] / ok : 0
	N[k]++; R[k] = R[k] " " rps; CP[k] = CP[k] " " cpr
	RR[k, V["rep"]] = rps; CC[k, V["rep"]] = cpr; BB[k, V["rep"]] = ok ? V["core_busy_s"] / ok : 0
	LC[k] = LC[k] " " (V["requests"] ? 1e6 * V["load_cpu_s"] / V["requests"] : 0)
	if (V["hwm_kb"] > H[k]) H[k] = V["hwm_kb"]
	E[k] += V["status_errors"] + V["read_errors"] + V["write_errors"] + V["connect_errors"] + V["timeouts"]
	C[V["profile"]] = V["conns"]
}
END {
	note["baseline"] = "returns a fixed \"55\": no query sum, POST body discarded"
	note["pipelined"] = "the same work"
	note["json"] = "sends a static file of the same bytes (sendfile); httparena-server serialises per request"
	note["compression"] = "gzips (level 1, per request) a static copy of the identity document; httparena-server also serialises it"
	note["upload"] = "discards the body (return 200) instead of counting it"
	note["baseline-wrk"] = note["baseline"] " (wrk instead of zerg-load: a cross-check)"
	print "| profile | conns | httparena-server req/s | nginx req/s | req/s zerg/nginx | zerg CPU µs/req | nginx CPU µs/req | CPU/req zerg/nginx | server-core busy/req zerg/nginx | pairs zerg won: req/s, CPU/req | zerg peak MiB | nginx peak MiB | errors zerg / nginx | generator CPU µs/req (zerg / nginx runs) | what nginx does |"
	print "|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|:---:|---:|:---|"
	np = split(profiles, ps, " ")
	for (i = 1; i <= np; i++) {
		p = ps[i]; z = p SUBSEP "zerg"; g = p SUBSEP "nginx"
		if (!N[z] || !N[g]) { printf "| %s | %s | %s | %s | | | | | | | | | | | (a run failed) |\n", p, C[p], (N[z] ? sprintf("%.0f", median(R[z])) : "failed"), (N[g] ? sprintf("%.0f", median(R[g])) : "failed"); continue }
		zr = median(R[z]); gr = median(R[g]); zc = median(CP[z]); gc = median(CP[g])
		wr = 0; wc = 0; n = 0; qr = ""; qc = ""; qb = ""
		for (r = 1; r <= reps; r++) {
			if (!((z, r) in RR) || !((g, r) in RR) || RR[g, r] <= 0 || CC[g, r] <= 0) continue
			n++
			if (RR[z, r] > RR[g, r]) wr++
			if (CC[z, r] < CC[g, r]) wc++
			qr = qr " " RR[z, r] / RR[g, r]; qc = qc " " CC[z, r] / CC[g, r]
			if (BB[g, r] > 0) qb = qb " " BB[z, r] / BB[g, r]
		}
		printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %d/%d, %d/%d | %.1f | %.1f | %d / %d | %.2f / %.2f | %s |\n", p, C[p], zr, gr, median(qr), zc, gc, median(qc), median(qb), wr, n, wc, n, H[z] / 1024, H[g] / 1024, E[z], E[g], median(LC[z]), median(LC[g]), note[p]
		printf "%s\t%.1f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\n", p, zr, gr, zc, gc, median(qr), median(qc) > chart
	}
}' "$results" >"$table"

memtable=$BENCH_TMP/memtable.md
if [ -s "$memfile" ]; then
	awk '
	function kv(s,   i, n, a, b) { n = split(s, a, " "); for (i = 1; i <= n; i++) { split(a[i], b, "="); V[b[1]] = b[2] } }
	BEGIN {
		print "| server | connections held (2xx / still open) | RSS before | RSS holding them | per connection | peak (VmHWM) | target |"
		print "|:---|---:|---:|---:|---:|---:|:---|"
	}
	{
		delete V; kv($0)
		name = V["server"] == "zerg" ? "httparena-server" : "nginx (master + worker)"
		per = V["conns"] ? (V["rss_held_kb"] - V["rss_before_kb"]) * 1024 / V["conns"] : 0
		tgt = V["server"] == "zerg" ? (V["rss_held_kb"] < 65536 ? "< 64 MiB: met" : "< 64 MiB: MISSED") : "reference"
		printf "| %s | %d (%d / %d) | %.1f MiB | %.1f MiB | %.0f B | %.1f MiB | %s |\n", name, V["conns"], V["ok"], V["alive"], V["rss_before_kb"] / 1024, V["rss_held_kb"] / 1024, per, V["hwm_kb"] / 1024, tgt
	}' "$memfile" >"$memtable"
fi

cmd_line="tests/bench/http_bench.sh BUILD${args_line:+ $args_line}   # or: meson test -C BUILD --benchmark http"
echo
echo "HTTP benchmark: httparena-server (1 thread) vs nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') (1 worker), servers on CPU $server_cpu, zerg-load (wrk for baseline-wrk) 1 thread on CPU $load_cpu, ${duration} s per run after ${warmup} s warm-up, $reps run(s) each, alternating, medians:"
echo
cat "$table"
if [ -s "$memtable" ]; then
	echo
	echo "Idle keep-alive connections:"
	echo
	cat "$memtable"
fi
echo
echo "answer check of httparena-server: $(tr '\n' ';' <"$check_zerg")"
echo
echo "raw results:"
cat "$results" "$memfile"
echo "elapsed: ${elapsed}s"

if [ "$write_docs" = 1 ] && [ -f "$docs/benchmarks.md" ]; then
	chart_ok=0
	if [ -s "$chartdata" ] && /usr/bin/python3 "$here/bench_chart.py" "$chartdata" "$docs/benchmarks.png" 2>"$BENCH_TMP/chart.err"; then
		chart_ok=1
	else
		bench_log "chart not drawn: $(cat "$BENCH_TMP/chart.err" 2>/dev/null)"
	fi
	sec=$BENCH_TMP/section.md
	{
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(bench_machine)."
		echo "httparena-server with \`--threads 1\` and nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') with \`worker_processes 1\`, each pinned to CPU $server_cpu;"
		echo "the load generator is zerg-load (\`examples/load\`, \`-t 1\`; wrk \`-t 1\` for the baseline-wrk cross-check row) pinned to CPU $load_cpu. ${duration} s measured after ${warmup} s of warm-up, a fresh server process per run,"
		echo "$reps runs per server and profile with the order alternating; req/s counts 2xx responses only. req/s and µs/req are medians over the runs;"
		echo "the ratios are medians of the per-pair ratios (each httparena-server run against the nginx run right before or after it), and \"pairs zerg won\" counts the pairs where it was ahead."
		[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} measurement(s) other processes kept taking more than 10% of a core after three tries (foreign_cpu_pct in the raw results): those are noisier."
		echo "CPU µs/req = the server's utime+stime (nginx: master + worker) during the measured generator run / 2xx responses in that run; generator CPU µs/req = the generator's own utime+stime / the responses it got;"
		echo "peak MiB = VmHWM (nginx: summed over master and worker). A req/s ratio above 1 and a CPU ratio below 1 favour httparena-server."
		echo "\"server-core busy/req\" is the CPU ratio for all busy time of CPU $server_cpu (/proc/stat user, system, irq, softirq), which also counts softirq work charged to no process."
		echo
		echo "Command: \`$cmd_line\`"
		echo
		echo "Source: \`$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)\` (the source tree the script ran from)."
		echo
		cat "$table"
		echo
		[ "$chart_ok" = 1 ] && echo "![requests/s and CPU per request, httparena-server vs nginx](benchmarks.png)" && echo
		if [ -s "$memtable" ]; then
			echo "4096 idle keep-alive connections (each sent one \`GET /baseline11\` and then stays open; \`http_hold\` reads /proc while holding them):"
			echo
			cat "$memtable"
			echo
		fi
		echo "Answer check of httparena-server before the runs: \`$(tr '\n' ';' <"$check_zerg")\`$([ "$answers_ok" = 1 ] && echo " (all as expected)" || echo " (UNEXPECTED answers)")."
		echo
		echo "<details><summary>raw results</summary>"
		echo
		echo '```'
		cat "$results" "$memfile"
		echo '```'
		echo
		echo "</details>"
	} >"$sec"
	bench_docs_section "$docs/benchmarks.md" http "$sec"
	bench_log "wrote the http section of docs/benchmarks.md"
fi

[ "$answers_ok" = 1 ] || failed=1
exit "$failed"
