#!/usr/bin/env bash
# The nightly database backup (docs/operations.md §2), run by cron or a systemd timer on the host:
#
#   30 1 * * *  cd /opt/tracker && scripts/backup.sh /opt/tracker/backups >> /var/log/tracker-backup.log 2>&1
#
# Writes DIR/tracker-YYYY-MM-DD.dump (pg_dump's custom format: compressed, one consistent snapshot,
# restorable whole or table by table), checks that pg_restore can read it, and only then gives it its
# name — a failed or cut-off dump never looks like a backup. Then removes dumps older than
# TRACKER_BACKUP_KEEP_DAYS (30), except each month's first, kept TRACKER_BACKUP_KEEP_MONTHLY_DAYS (400).
# Exits non-zero on any failure, so cron's mail (or the timer's status) tells someone.
#
# By default the dump is made inside the `postgres` container (the server's own pg_dump version);
# TRACKER_BACKUP_DUMP and TRACKER_BACKUP_LIST replace the two commands (tests/ops/test_backup_script.py
# runs the script against a scratch database with the host's pg_dump).
set -euo pipefail
dir=${1:?usage: scripts/backup.sh BACKUP_DIR}
dump_cmd=${TRACKER_BACKUP_DUMP:-docker compose exec -T postgres pg_dump --format=custom -U tracker tracker}
list_cmd=${TRACKER_BACKUP_LIST:-docker compose exec -T postgres pg_restore --list}
keep_days=${TRACKER_BACKUP_KEEP_DAYS:-30}
keep_monthly_days=${TRACKER_BACKUP_KEEP_MONTHLY_DAYS:-400}
today=${TRACKER_BACKUP_DATE:-$(date +%F)}

mkdir -p "$dir"
chmod 700 "$dir"  # the dumps hold citizens' personal data
final="$dir/tracker-$today.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

umask 077
$dump_cmd > "$partial"
listing=$($list_cmd < "$partial")  # read whole: `| grep -q` would cut pg_restore off (SIGPIPE)
if ! grep -q "TABLE DATA public tickets" <<< "$listing"; then
    echo "backup: $partial is not a readable dump of the tracker database" >&2
    exit 1
fi
mv "$partial" "$final"
echo "backup: $final ($(du -h "$final" | cut -f1))"

# Prune: daily dumps after keep_days; the first of each month after keep_monthly_days.
find "$dir" -maxdepth 1 -name 'tracker-????-??-??.dump' -mtime +"$keep_days" ! -name 'tracker-????-??-01.dump' -print -delete
find "$dir" -maxdepth 1 -name 'tracker-????-??-01.dump' -mtime +"$keep_monthly_days" -print -delete
