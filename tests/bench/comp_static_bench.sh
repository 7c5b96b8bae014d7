#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# json-comp and static (../shared/httparena/SPEC-HEAD.md 3 and 4):
# httparena-server against Debian's nginx (one worker) with the same
# bytes, pinned the same way, paired runs.
#
#   comp_static_bench.sh BUILD_DIR [--reps N] [--secs S] [--warmup S]
#                        [--profiles "comp comp-gzip comp-br static"] [--no-docs]
#
# comp       the benchmark's load: /json/25?m=4, /json/40?m=8, /json/50?m=6
#            with "Accept-Encoding: gzip, br" (requests-head/json-gzip-*.raw),
#            25 requests per connection then an RST and the next template
#            (gcannon -r 25), 512 connections. httparena-server renders and
#            compresses per request and answers a tie with gzip (ISA-L level 1,
#            docs/json-comp-choice.md); nginx serves files holding exactly
#            httparena-server's identity bodies and compresses them per request
#            with gzip on (zlib level 1) and brotli on (ngx_brotli quality 0,
#            window 64 KiB = lgwin 16, our brotli setting); for "gzip, br"
#            ngx_brotli answers br (it does not weigh q-values).
# comp-gzip  the same with "Accept-Encoding: gzip": gzip against gzip.
# comp-br    the same with "Accept-Encoding: br": brotli against brotli.
# static     the 20 files of static-rotate.lua in turn on 1024 keep-alive
#            connections, "Accept-Encoding: br;q=1, gzip;q=0.8" (what wrk
#            sends); httparena-server from memory by reference, nginx with
#            sendfile, open_file_cache, gzip_static on and brotli_static on
#            (the same .br/.gz siblings on disk).
#
# Per run: 2xx/s in the measured window, server CPU per response (utime +
# stime of the server's processes over the whole generator run / its
# responses; nginx: master + worker), bytes per response (heads included,
# what zerg-load read), and for the comp rows the profile's score
# (SPEC-HEAD 3.4: rps x (smallest bpr / bpr)^2 over the rows of the table,
# 100 for the best). The generator is zerg-load (-t 1) on CPU 0, the
# servers on CPU 1. Data: ../shared/httparena (the HEAD dataset-int.json,
# data/static, requests-head) when it is beside the source tree, else
# generated equivalents (httparena-datagen; 20 static files of the same
# names and sizes with gzip -9 / brotli -q 11 siblings).
#
# Prints the table; unless --no-docs, writes it into the COMP and STATIC
# sections of docs/benchmarks.md. Needs nginx-light with Debian's
# libnginx-mod-http-brotli-filter and -static (installed when missing and
# run as root; otherwise it says what is missing and exits 77, skipped,
# as it does when the programs are not built).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { sed -n '8,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
args_line="$*"
reps=3 secs=8 warmup=2 docs=1 profiles="comp comp-gzip comp-br static"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--secs) secs=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--profiles) profiles=$2; shift 2 ;;
	--no-docs) docs=0; shift ;;
	*) bench_die "unknown option $1" ;;
	esac
done
server="$build/examples/httparena-server/httparena-server"
datagen="$build/examples/httparena-server/httparena-datagen"
zl="$build/examples/load/zerg-load"
bench_need_bins "$server" "$datagen" "$zl"
pkgs=(nginx-light libnginx-mod-http-brotli-filter libnginx-mod-http-brotli-static curl brotli python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: missing Debian packages ${missing[*]} (apt-get install them, or run as root)"
	exit 77
fi
bench_need_pkgs "${pkgs[@]}"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
modules=/usr/lib/nginx/modules
for m in ngx_http_brotli_filter_module ngx_http_brotli_static_module; do
	[ -f "$modules/$m.so" ] || bench_die "$modules/$m.so missing (Debian libnginx-mod-http-brotli-filter / -static)"
done
bench_init
server_cpu=1 load_cpu=0
shared=$here/../../../shared/httparena
t_start=$(date +%s)

# ---- data -----------------------------------------------------------------
data=$BENCH_TMP/data
raw=$BENCH_TMP/raw
mkdir -p "$data" "$raw" "$BENCH_TMP/www/json" "$BENCH_TMP/nginx/tmp"
"$datagen" "$data" >/dev/null
src_note="generated (httparena-datagen; static files made here)"
if [ -f "$shared/data/dataset-int.json" ] && [ -d "$shared/data/static" ] &&
	[ -f "$shared/requests-head/json-gzip-25.raw" ]; then
	cp "$shared/data/dataset-int.json" "$data/dataset-int.json"
	cp -r "$shared/data/static" "$data/static"
	for n in 25 40 50; do cp "$shared/requests-head/json-gzip-$n.raw" "$raw/comp-$n.raw"; done
	src_note="../shared/httparena (HEAD dataset-int.json, data/static, requests-head/json-gzip-{25,40,50}.raw)"
else
	bench_log "no $shared: generating the data"
	for t in 25:4 40:8 50:6; do
		printf 'GET /json/%s?m=%s HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip, br\r\n\r\n' \
			"${t%:*}" "${t#*:}" >"$raw/comp-${t%:*}.raw"
	done
	# the 20 files of SPEC-HEAD 4.2, same names and sizes: text made of
	# repeated CSS/JS-like lines with varying numbers (compresses about as
	# the real ones do), binary ones random
	python3 - "$data/static" <<'EOF'
import os, random, sys
d = sys.argv[1]
os.makedirs(d)
files = [("reset.css", 8192), ("layout.css", 25600), ("theme.css", 18432),
         ("components.css", 204800), ("utilities.css", 61440), ("analytics.js", 12288),
         ("helpers.js", 22528), ("app.js", 204800), ("vendor.js", 307200), ("router.js", 35840),
         ("header.html", 122880), ("footer.html", 56320), ("regular.woff2", 18432),
         ("bold.woff2", 22528), ("logo.svg", 15344), ("icon-sprite.svg", 71680),
         ("hero.webp", 46080), ("thumb1.webp", 8192), ("thumb2.webp", 6144),
         ("manifest.json", 2883)]
rnd = random.Random(11)
words = ["margin", "padding", "color", "display", "flex", "grid", "border", "function",
         "return", "const", "value", "width", "height", "div", "span", "class", "item"]
for name, size in files:
    if name.endswith((".woff2", ".webp")):
        body = bytes(rnd.getrandbits(8) for _ in range(size))
    else:
        out = []
        n = 0
        while n < size:
            line = ".%s-%d { %s: %dpx; %s: #%06x; }\n" % (
                rnd.choice(words), rnd.randrange(999), rnd.choice(words), rnd.randrange(64),
                rnd.choice(words), rnd.randrange(1 << 24))
            out.append(line)
            n += len(line)
        body = "".join(out).encode()[:size]
    open(os.path.join(d, name), "wb").write(body)
EOF
	for f in "$data"/static/*; do
		case $f in *.woff2 | *.webp) continue ;; esac
		gzip -9 -n -k "$f"
		brotli -q 11 -k "$f"
	done
fi
# the static-rotate.lua mix: the 20 paths in its order, its Accept-Encoding
i=0
for f in reset.css layout.css theme.css components.css utilities.css analytics.js helpers.js \
	app.js vendor.js router.js header.html footer.html regular.woff2 bold.woff2 logo.svg \
	icon-sprite.svg hero.webp thumb1.webp thumb2.webp manifest.json; do
	[ -f "$data/static/$f" ] || bench_die "$data/static/$f missing"
	i=$((i + 1))
	printf 'GET /static/%s HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: br;q=1, gzip;q=0.8\r\n\r\n' \
		"$f" >"$raw/static-$(printf %02d $i).raw"
done
for n in 25 40 50; do
	sed 's/^Accept-Encoding: .*\r$/Accept-Encoding: gzip\r/' "$raw/comp-$n.raw" >"$raw/comp-gzip-$n.raw"
	sed 's/^Accept-Encoding: .*\r$/Accept-Encoding: br\r/' "$raw/comp-$n.raw" >"$raw/comp-br-$n.raw"
	grep -q 'Accept-Encoding: gzip, br' "$raw/comp-$n.raw" || bench_die "$raw/comp-$n.raw: not the benchmark's request"
done

port_base=$(bench_free_port 19600)
next_port() { port=$(bench_free_port "$port_base"); port_base=$((port + 1)); }

# nginx reads the files as its unprivileged worker user
chmod 755 "$BENCH_TMP" "$BENCH_TMP/www" "$BENCH_TMP/www/json" "$data" "$data/static"
chmod 644 "$data"/static/*

start_zerg() {
	bench_spawn "$server_cpu" "$BENCH_TMP/zerg.log" "$server" --threads 1 --host 127.0.0.1 \
		--port "$1" --data "$data"
	SPID=$BENCH_LAST_PID
	SPIDS=("$SPID")
	bench_wait_listen "$SPID" "$1" 30 || { cat "$BENCH_TMP/zerg.log" >&2; return 1; }
}

write_nginx_conf() {
	cat >"$BENCH_TMP/nginx/nginx.conf" <<EOF
# generated by tests/bench/comp_static_bench.sh
load_module $modules/ngx_http_brotli_filter_module.so;
load_module $modules/ngx_http_brotli_static_module.so;
worker_processes 1;
daemon off;
master_process on;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=200 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path $BENCH_TMP/nginx/tmp/body;
    proxy_temp_path $BENCH_TMP/nginx/tmp/proxy;
    fastcgi_temp_path $BENCH_TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $BENCH_TMP/nginx/tmp/uwsgi;
    scgi_temp_path $BENCH_TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        # json-comp: httparena-server's identity bodies of the three
        # templates as files, compressed per request (the query is ignored)
        location /json/ {
            alias $BENCH_TMP/www/json/;
            default_type application/json;
            types { }
            gzip on; gzip_comp_level 1; gzip_types application/json; gzip_min_length 0;
            brotli on; brotli_comp_level 0; brotli_window 64k;
            brotli_types application/json; brotli_min_length 0;
        }
        # static: the directory, with the precompressed siblings
        location /static/ {
            root $data;
            gzip off; brotli off;
            gzip_static on; brotli_static on;
        }
    }
}
EOF
}

start_nginx() {
	local a i
	write_nginx_conf "$1"
	bench_spawn "$server_cpu" "$BENCH_TMP/nginx.log" "$nginx_bin" -p "$BENCH_TMP/nginx" \
		-c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/error.log"
	SPID=$BENCH_LAST_PID
	bench_wait_listen "$SPID" "$1" 30 || { cat "$BENCH_TMP/nginx/error.log" >&2; return 1; }
	for ((i = 0; i < 40; i++)); do
		SPIDS=("$SPID")
		for a in $(cat /proc/"$SPID"/task/*/children 2>/dev/null); do SPIDS+=("$a"); done
		[ ${#SPIDS[@]} -ge 2 ] && break
		sleep 0.05
	done
}

# ---- the same bytes from both ------------------------------------------------
# curl --compressed decodes gzip and br; both must decode to the same body
next_port
start_zerg "$port" || bench_die "httparena-server did not start"
for t in 25:4 40:8 50:6; do
	curl -fsS "http://127.0.0.1:$port/json/${t%:*}?m=${t#*:}" -o "$BENCH_TMP/www/json/${t%:*}"
done
chmod 644 "$BENCH_TMP"/www/json/*
check_pair() { # NAME PORT: what each answers, decoded, and its Content-Encoding
	local n ae f
	for n in 25 40 50; do
		for ae in "gzip, br" gzip br; do
			f=$BENCH_TMP/check-$1-$n-${ae//[ ,]/}
			curl -fsS --compressed -H "Accept-Encoding: $ae" -D "$f.h" "http://127.0.0.1:$2/json/$n?m=1" -o "$f.b"
			cmp -s "$f.b" "$BENCH_TMP/www/json/$n" || bench_die "$1: /json/$n with '$ae' does not decode to the identity body"
			echo "$1 $n '$ae' -> $(tr -d '\r' <"$f.h" | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')"
		done
	done
	for f in "$data"/static/*; do
		case $f in *.gz | *.br) continue ;; esac
		curl -fsS --compressed -H 'Accept-Encoding: br;q=1, gzip;q=0.8' "http://127.0.0.1:$2/static/${f##*/}" |
			cmp -s - "$f" || bench_die "$1: /static/${f##*/} is not the file"
	done
}
# zerg's answers are checked against its own identity bodies: m is taken
# from the templates, so refetch the bodies nginx holds with the right m
check_zerg() {
	local n ae f t
	for t in 25:4 40:8 50:6; do
		n=${t%:*}
		for ae in "gzip, br" gzip br; do
			f=$BENCH_TMP/check-zerg-$n-${ae//[ ,]/}
			curl -fsS --compressed -H "Accept-Encoding: $ae" -D "$f.h" "http://127.0.0.1:$1/json/$n?m=${t#*:}" -o "$f.b"
			cmp -s "$f.b" "$BENCH_TMP/www/json/$n" || bench_die "zerg: /json/$n with '$ae' does not decode to the identity body"
			echo "zerg $n '$ae' -> $(tr -d '\r' <"$f.h" | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')"
		done
	done
}
check_zerg "$port" >"$BENCH_TMP/codings.txt"
bench_stop "$SPID"
next_port
start_nginx "$port" || bench_die "nginx did not start"
check_pair nginx "$port" >>"$BENCH_TMP/codings.txt"
bench_stop "$SPID"
# "zerg 25 'gzip, br' -> gzip" lines -> one phrase per server and
# Accept-Encoding when the three templates agree (all of them otherwise)
codings=$(awk -F"'" '{ split($1, a, " "); c = $3; sub(/^ -> /, "", c)
	k = (a[1] == "zerg" ? "httparena-server" : a[1]) ": `" $2 "` -> " c
	if (!(k in seen)) { seen[k] = 1; order[++n] = k } cnt[k]++ }
	END { for (i = 1; i <= n; i++) printf "%s%s%s", (i > 1 ? "; " : ""), order[i], (cnt[order[i]] == 3 ? "" : " (" cnt[order[i]] " of 3 templates)") }' \
	"$BENCH_TMP/codings.txt")
bench_log "codings chosen: $codings"

# ---- runs -----------------------------------------------------------------------
profile_args() {
	case $1 in
	comp) echo "-c 512 -r 25 --raw $raw/comp-25.raw,$raw/comp-40.raw,$raw/comp-50.raw" ;;
	comp-gzip) echo "-c 512 -r 25 --raw $raw/comp-gzip-25.raw,$raw/comp-gzip-40.raw,$raw/comp-gzip-50.raw" ;;
	comp-br) echo "-c 512 -r 25 --raw $raw/comp-br-25.raw,$raw/comp-br-40.raw,$raw/comp-br-50.raw" ;;
	static) echo "-c 1024 --rotate-requests --raw $(ls "$raw"/static-*.raw | paste -sd,)" ;;
	*) return 1 ;;
	esac
}

# measure NAME PROFILE: one run with a fresh server; sets LINE
measure() {
	local name=$1 prof=$2 c0 c1 a0 a1 k0 k1 l0 l1 load rc
	LINE=""
	next_port
	if [ "$name" = zerg ]; then start_zerg "$port"; else start_nginx "$port"; fi || return 1
	# shellcheck disable=SC2206
	load=("$zl" "http://127.0.0.1:$port" -t 1 $(profile_args "$prof") --timeout 20000 --json)
	[ "$warmup" != 0 ] && { taskset -c "$load_cpu" "${load[@]}" -d "$warmup" >/dev/null 2>&1 || true; }
	bench_wait_quiet 20 || true
	c0=$(bench_cpu_s "${SPIDS[@]}")
	k0=$(bench_core_busy_s "$server_cpu")
	a0=$(bench_all_cpu_s)
	bench_children_cpu_s
	l0=$BENCH_CHILD_CPU
	rc=0
	taskset -c "$load_cpu" "${load[@]}" -d "$secs" >"$BENCH_TMP/run.json" 2>"$BENCH_TMP/run.err" || rc=$?
	bench_children_cpu_s
	l1=$BENCH_CHILD_CPU
	a1=$(bench_all_cpu_s)
	k1=$(bench_core_busy_s "$server_cpu")
	c1=$(bench_cpu_s "${SPIDS[@]}")
	kill -0 "$SPID" 2>/dev/null || { bench_log "$name died during $prof"; rc=1; }
	bench_stop "$SPID"
	[ $rc -eq 0 ] || { cat "$BENCH_TMP/run.err" >&2; return 1; }
	LINE=$(python3 - "$BENCH_TMP/run.json" "$name" "$prof" "$c0" "$c1" "$k0" "$k1" "$a0" "$a1" "$l0" "$l1" "$secs" <<'EOF'
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
name, prof = sys.argv[2], sys.argv[3]
c0, c1, k0, k1, a0, a1, l0, l1, secs = map(float, sys.argv[4:13])
t, e = d["totals"], d["errors"]
n = t["responses"]
foreign = max(0.0, (a1 - a0) - (c1 - c0) - (l1 - l0))
errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["parse"] + e["body"] + t["status_errors"]
print("server=%s profile=%s rps=%.0f cpu_us=%.2f busy_us=%.2f bpr=%.1f responses=%d errors=%d "
      "foreign_cpu_pct=%.1f load_cpu_us=%.2f" % (
      name, prof, d["ok"] / d["duration_s"], 1e6 * (c1 - c0) / n if n else 0,
      1e6 * (k1 - k0) / n if n else 0, d["bytes"] / d["requests"] if d["requests"] else 0,
      n, errs, 100 * foreign / secs, 1e6 * (l1 - l0) / n if n else 0))
EOF
)
}

results=$BENCH_TMP/results.txt
: >"$results"
failed=0
run_one() {
	if bench_quietest measure "$@"; then
		echo "$LINE rep=$3" >>"$results"
		bench_log "$LINE"
	else
		bench_log "$1 $2: the run failed"
		failed=1
	fi
}
pi=0
for prof in $profiles; do
	profile_args "$prof" >/dev/null || bench_die "unknown profile $prof"
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
elapsed=$(($(date +%s) - t_start))

# ---- tables -----------------------------------------------------------------------
summary() { # KIND (comp | static): the markdown table
	awk -v kind="$1" -v profiles="$profiles" "$BENCH_AWK_FUNCS"'
	{
		delete V; kv($0)
		if ((kind == "comp") != (V["profile"] ~ /^comp/)) next
		k = V["profile"] SUBSEP V["server"]
		R[k] = R[k] " " V["rps"]; C[k] = C[k] " " V["cpu_us"]; B[k] = B[k] " " V["bpr"]
		BU[k] = BU[k] " " V["busy_us"]; E[k] += V["errors"]
		RR[k, V["rep"]] = V["rps"]; CC[k, V["rep"]] = V["cpu_us"]
	}
	END {
		np = split(profiles, ps, " ")
		label["comp"] = "`gzip, br` (the benchmark)"; label["comp-gzip"] = "`gzip`"; label["comp-br"] = "`br`"
		label["static"] = "`br;q=1, gzip;q=0.8`, the 20 files in turn"
		coding["comp", "zerg"] = "gzip (ISA-L 1)"; coding["comp", "nginx"] = "br (q0, 64 KiB window)"
		coding["comp-gzip", "zerg"] = "gzip (ISA-L 1)"; coding["comp-gzip", "nginx"] = "gzip (zlib 1)"
		coding["comp-br", "zerg"] = "br (q0, lgwin 16)"; coding["comp-br", "nginx"] = "br (q0, 64 KiB window)"
		minb = 0
		for (i = 1; i <= np; i++) for (s = 0; s < 2; s++) {
			k = ps[i] SUBSEP (s ? "nginx" : "zerg")
			if (!(k in R)) continue
			b = median(B[k]); if (!minb || b < minb) minb = b
		}
		maxe = 0
		for (i = 1; i <= np; i++) for (s = 0; s < 2; s++) {
			k = ps[i] SUBSEP (s ? "nginx" : "zerg")
			if (!(k in R)) continue
			eff[k] = median(R[k]) * (minb / median(B[k])) ^ 2
			if (eff[k] > maxe) maxe = eff[k]
		}
		if (kind == "comp") {
			print "| Accept-Encoding | server | coding | req/s | server CPU µs/req | CPU/req zerg/nginx | bytes/response | score | errors |"
			print "|:---|:---|:---|---:|---:|---:|---:|---:|---:|"
		} else {
			print "| Accept-Encoding | server | req/s | req/s zerg/nginx | server CPU µs/req | CPU/req zerg/nginx | server-core busy µs/req | bytes/response | errors |"
			print "|:---|:---|---:|---:|---:|---:|---:|---:|---:|"
		}
		for (i = 1; i <= np; i++) {
			p = ps[i]
			if ((kind == "comp") != (p ~ /^comp/)) continue
			z = p SUBSEP "zerg"; g = p SUBSEP "nginx"
			qc = ""; qr = ""
			for (r = 1; r <= 99; r++) if (((z, r) in CC) && ((g, r) in CC) && CC[g, r] > 0) {
				qc = qc " " CC[z, r] / CC[g, r]; qr = qr " " RR[z, r] / RR[g, r]
			}
			for (s = 0; s < 2; s++) {
				k = s ? g : z
				if (!(k in R)) { printf "| %s | %s | (failed) |\n", label[p], s ? "nginx" : "httparena-server"; continue }
				if (kind == "comp")
					printf "| %s | %s | %s | %.0f | %.2f | %s | %.0f | %.1f | %d |\n", label[p],
						s ? "nginx" : "httparena-server", coding[p, s ? "nginx" : "zerg"], median(R[k]),
						median(C[k]), s ? "" : sprintf("%.2fx", median(qc)), median(B[k]),
						maxe ? 100 * eff[k] / maxe : 0, E[k]
				else
					printf "| %s | %s | %.0f | %s | %.2f | %s | %.2f | %.0f | %d |\n", label[p],
						s ? "nginx" : "httparena-server", median(R[k]), s ? "" : sprintf("%.2fx", median(qr)),
						median(C[k]), s ? "" : sprintf("%.2fx", median(qc)), median(BU[k]), median(B[k]), E[k]
			}
		}
		if (kind == "comp") printf "\nScore: SPEC-HEAD 3.4 over these rows, smallest bytes/response %.0f B.\n", minb
	}' "$results"
}

nginx_v=$("$nginx_bin" -v 2>&1 | sed 's|.*/||')
intro() {
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(bench_machine), source \`$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)\`."
	echo "httparena-server \`--threads 1\` and nginx $nginx_v (\`worker_processes 1\`, Debian's libnginx-mod-http-brotli-filter/-static 1.0.0~rc) each pinned to CPU $server_cpu;"
	echo "zerg-load \`-t 1\` on CPU $load_cpu; ${secs} s measured after ${warmup} s of warm-up, a fresh server per run, $reps runs per server and row, the order alternating; medians."
	echo "CPU µs/req = the server's utime+stime (nginx: master + worker) over the generator's whole run / its responses; the ratio is the median of the paired runs' ratios."
	echo "Data: $src_note."
	[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} run(s) other processes took more than 10% of a core after three tries (foreign_cpu_pct in the raw results)."
	echo
	echo "Command: \`flock /tmp/zg-bench.lock tests/bench/comp_static_bench.sh BUILD${args_line:+ $args_line}\` (BUILD: \`meson setup BUILD --buildtype=release\`)."
	echo
}
comp_t=$BENCH_TMP/comp.md static_t=$BENCH_TMP/static.md
{
	intro
	echo "json-comp (SPEC-HEAD 3): /json/25?m=4, /json/40?m=8, /json/50?m=6, 512 connections, 25 requests each then an RST and the next template."
	echo "httparena-server renders and compresses every response; nginx compresses a file holding httparena-server's identity body, with \`gzip_comp_level 1\` and \`brotli_comp_level 0; brotli_window 64k\`."
	echo "Bytes/response are what the client read per response, head included (nginx's compressed answers are chunked)."
	echo
	summary comp
	echo
	echo "Codings chosen, per server and Accept-Encoding, for all three templates unless said (checked before the runs; every answer decoded to the identity body): $codings."
	echo
	echo "<details><summary>raw results</summary>"
	echo
	echo '```'
	grep 'profile=comp' "$results" || true
	echo '```'
	echo
	echo "</details>"
} >"$comp_t"
{
	intro
	echo "static (SPEC-HEAD 4): the 20 files of static-rotate.lua in turn, 1024 keep-alive connections; httparena-server from memory by reference (sibling chosen per request),"
	echo "nginx with \`sendfile on; open_file_cache; gzip_static on; brotli_static on\` on the same directory. \"server-core busy\" also counts softirq time of CPU $server_cpu."
	echo
	summary static
	echo
	echo "<details><summary>raw results</summary>"
	echo
	echo '```'
	grep 'profile=static' "$results" || true
	echo '```'
	echo
	echo "</details>"
} >"$static_t"
cat "$comp_t" "$static_t"
echo "elapsed: ${elapsed}s"
if [ "$docs" = 1 ]; then
	case " $profiles " in *" comp"*) bench_docs_section "$here/../../docs/benchmarks.md" COMP "$comp_t" ;; esac
	case " $profiles " in *" static "*) bench_docs_section "$here/../../docs/benchmarks.md" STATIC "$static_t" ;; esac
fi
exit "$failed"
