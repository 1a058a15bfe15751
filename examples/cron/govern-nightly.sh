#!/usr/bin/env bash
# Nightly governance audit of every version of every registered model, for cron or a systemd timer.
#
#   GOVERN_REPORTS=/srv/govern/reports MLFLOW_TRACKING_URI=https://mlflow.internal \
#     GOVERN_POLICY=/srv/govern/govern.yaml examples/cron/govern-nightly.sh
#
# Writes $GOVERN_REPORTS/YYYY-MM-DD/ (UTC date of the run: index.html, results.json, junit.xml and
# one report per version), points $GOVERN_REPORTS/latest at it (an atomic rename, so a web server
# or a reader never sees a missing or half-switched link), deletes dated folders older than
# $GOVERN_KEEP_DAYS days, and exits with govern's own exit code:
#
#   0 every version passed   1 policy violations   2 usage or policy error
#   3 could not audit (lineage, data, a model or an internal error: fix, then rerun)
#   4 registry unreachable or deadline passed (retry later)
#   75 another run still holds the lock (nothing was done)   64 bad configuration of this script
#
# Runs never overlap: the script takes an exclusive flock(1) on $GOVERN_LOCK and, by default,
# gives up at once (exit 75) when another run holds it; GOVERN_LOCK_WAIT=SECONDS waits that long
# first. `latest` moves only when govern wrote a results.json (exits 0, 1 and, for partial runs,
# 3 and 4), so a run that could not start leaves yesterday's reports in place.
#
# Settings (environment variables; GOVERN_ENV_FILE, if set, is sourced first, e.g. a mode-600
# file with MLFLOW_TRACKING_TOKEN so no secret sits in the crontab):
#   GOVERN_REPORTS     folder of dated report folders          (default /var/lib/govern/reports)
#   GOVERN_KEEP_DAYS   delete dated folders older than this; 0 keeps everything      (default 90)
#   GOVERN_JOBS        versions audited in parallel (govern --jobs)   (default: govern's, #CPUs)
#   GOVERN_TIMEOUT     deadline in seconds for the whole audit (govern --timeout)  (default 21600)
#   GOVERN_ARGS        extra govern arguments, split on spaces, e.g. "--latest 3 --force"
#   GOVERN_LOCK        lock file                                   (default $GOVERN_REPORTS/.lock)
#   GOVERN_LOCK_WAIT   seconds to wait for the lock                                   (default 0)
#   GOVERN_BIN         the govern executable                                    (default govern)
#   GOVERN_POLICY, MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN: read by govern itself.
set -euo pipefail

log() {
    printf '%s govern-nightly[%d]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2
}

die() {
    log "error: $*"
    exit 64
}

if [[ -n "${GOVERN_ENV_FILE:-}" ]]; then
    [[ -r "$GOVERN_ENV_FILE" ]] || die "GOVERN_ENV_FILE=$GOVERN_ENV_FILE is not readable"
    set -a
    # shellcheck disable=SC1090
    . "$GOVERN_ENV_FILE"
    set +a
fi

reports="${GOVERN_REPORTS:-/var/lib/govern/reports}"
keep_days="${GOVERN_KEEP_DAYS:-90}"
jobs="${GOVERN_JOBS:-}"
timeout="${GOVERN_TIMEOUT:-21600}"
lock="${GOVERN_LOCK:-$reports/.lock}"
lock_wait="${GOVERN_LOCK_WAIT:-0}"
govern="${GOVERN_BIN:-govern}"
read -r -a extra_args <<<"${GOVERN_ARGS:-}"

[[ "$keep_days" =~ ^[0-9]+$ ]] || die "GOVERN_KEEP_DAYS must be a whole number of days, got '$keep_days'"
[[ "$lock_wait" =~ ^[0-9]+$ ]] || die "GOVERN_LOCK_WAIT must be a whole number of seconds, got '$lock_wait'"
[[ -z "$jobs" || "$jobs" =~ ^[1-9][0-9]*$ ]] || die "GOVERN_JOBS must be a positive number, got '$jobs'"
[[ -z "$timeout" || "$timeout" =~ ^[1-9][0-9]*$ ]] || die "GOVERN_TIMEOUT must be a positive number of seconds, got '$timeout'"
command -v flock >/dev/null || die "flock(1) not found (package util-linux)"
command -v "$govern" >/dev/null || die "govern not found: '$govern' (set GOVERN_BIN or PATH)"

mkdir -p "$reports"

# One run at a time. fd 9 stays open (and the lock held) until this script exits, also when it
# is killed; a stale lock file from a crashed run is harmless because flock locks are released by
# the kernel.
exec 9>>"$lock"
if ! flock --exclusive --wait "$lock_wait" 9; then
    log "another run holds $lock; not starting (exit 75)"
    exit 75
fi

day="$(date -u +%F)"
out="$reports/$day"
args=(audit --all --out "$out" --junit "$out/junit.xml")
[[ -n "$jobs" ]] && args+=(--jobs "$jobs")
[[ -n "$timeout" ]] && args+=(--timeout "$timeout")
args+=("${extra_args[@]}")

log "starting: $govern ${args[*]}"
started=$SECONDS
code=0
"$govern" "${args[@]}" || code=$?
case "$code" in
    0) verdict="every version passed" ;;
    1) verdict="policy violations: see $out/index.html" ;;
    2) verdict="usage or policy error: nothing was audited" ;;
    3) verdict="could not audit (lineage, data, a model or an internal error): fix, then rerun" ;;
    4) verdict="registry unreachable or deadline passed: retry later" ;;
    *) verdict="govern ended abnormally" ;;
esac
log "govern exited $code after $((SECONDS - started))s: $verdict"

# Point `latest` at today's folder, only if govern produced results: build the new link beside
# the old one and rename it over it (rename(2) is atomic; `mv -T` renames onto the link itself
# instead of moving into the folder it points to).
if [[ -f "$out/results.json" ]]; then
    tmp_link="$reports/.latest.$$"
    ln -sfn "$day" "$tmp_link"
    mv -Tf "$tmp_link" "$reports/latest"
    log "latest -> $day"
else
    log "no results.json in $out: latest left unchanged"
fi

# Delete dated folders older than GOVERN_KEEP_DAYS (by the date in their name, never the one
# `latest` points to). Only names that are exactly YYYY-MM-DD are touched.
if ((keep_days > 0)); then
    cutoff="$(date -u -d "$keep_days days ago" +%F)"
    current="$(readlink "$reports/latest" 2>/dev/null || true)"
    for dir in "$reports"/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]; do
        [[ -d "$dir" && ! -L "$dir" ]] || continue
        name="${dir##*/}"
        if [[ "$name" < "$cutoff" && "$name" != "$current" ]]; then
            rm -rf -- "$dir"
            log "pruned $name (older than $keep_days days)"
        fi
    done
fi

exit "$code"
