#!/usr/bin/env bash
# Backs up a Parley installation into one directory: the database and every stored file.
#
#   scripts/backup.sh [--out DIR]          (npm run backup -- --out DIR)
#
# Reads the server's own settings from the environment:
# - DATABASE_URL set: `pg_dump -Fc` of that database — safe while the servers run (one
#   consistent snapshot).
# - DATABASE_URL unset (the embedded default): a copy of DATA_DIR/db. PGlite belongs to one
#   process, so the server must be stopped: the script refuses while it runs (DATA_DIR/db.lock
#   names a live process) and holds that lock itself meanwhile, so no server starts mid-copy.
# - S3_ENDPOINT set: every object of S3_BUCKET (scripts/lib/objects.mjs, needs `npm install`);
#   else every file under DATA_DIR/media. Objects are written once and never changed, so a
#   copy taken while servers run holds every object the database dump refers to, unless one
#   was deleted in between (an upload deleted or expired meanwhile).
# - DATA_DIR (default ./data, relative to the repository like `npm start`), for the embedded
#   database, local files and the generated JWT secret (DATA_DIR/jwt-secret, kept so sessions
#   stay valid after a restore).
#
# The result, DIR/parley-backup-<UTC time>/ (DIR defaults to ./backups):
#   manifest.json  database.dump (PostgreSQL) or db.tar (embedded)  objects/<key>…
#   objects.json (S3: content types)  jwt-secret (embedded, if there is one)
#   SHA256SUMS     every file above; scripts/restore.sh checks it first
# It holds password hashes, messages and files: store it as carefully as the database.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=./backups
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

data_dir=${DATA_DIR:-./data}
case "$data_dir" in /*) ;; *) data_dir="$root/$data_dir" ;; esac
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
dest="$(cd "$out" && pwd)/parley-backup-$stamp"
work="$dest.partial"
lock=""
cleanup() {
  [ -n "$lock" ] && rm -f "$lock"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work"

alive() { [ -n "$1" ] && { [ -d "/proc/$1" ] || kill -0 "$1" 2>/dev/null; }; }

if [ -n "${DATABASE_URL:-}" ]; then
  database=postgres
  echo "Dumping the PostgreSQL database…" >&2
  pg_dump --format=custom --no-owner --no-privileges --file="$work/database.dump" --dbname="$DATABASE_URL"
else
  database=pglite
  db="$data_dir/db"
  [ -d "$db" ] || { echo "No embedded database at $db (set DATA_DIR, or DATABASE_URL for PostgreSQL)" >&2; exit 1; }
  if [ -f "$db.lock" ]; then
    owner=$(cat "$db.lock" 2>/dev/null || true)
    if alive "$owner"; then
      echo "The embedded database $db is in use by process $owner (a running Parley server)." >&2
      echo "Stop the server, then back up (PGlite has no online backup)." >&2
      exit 1
    fi
    rm -f "$db.lock"
  fi
  # Hold the lock while copying: a server started now refuses to open the database.
  if ! (set -C; echo $$ >"$db.lock") 2>/dev/null; then
    echo "The embedded database $db was just opened by another process: stop it first." >&2
    exit 1
  fi
  lock="$db.lock"
  echo "Copying the embedded database…" >&2
  tar -C "$data_dir" -cf "$work/db.tar" db
  [ -f "$data_dir/jwt-secret" ] && cp -p "$data_dir/jwt-secret" "$work/jwt-secret"
fi

mkdir "$work/objects"
if [ -n "${S3_ENDPOINT:-}" ]; then
  objects=s3
  echo "Copying the objects of s3://${S3_BUCKET:-parley-media}…" >&2
  node "$root/scripts/lib/objects.mjs" download "$work/objects" >&2
else
  objects=local
  if [ -d "$data_dir/media" ]; then
    echo "Copying $data_dir/media…" >&2
    # Files only (the store's temporary files start with a dot and are left out).
    (cd "$data_dir/media" && find . -type f ! -name '.*' -print0 | tar --null -cf - -T - ) | tar -C "$work/objects" -xf -
  fi
fi
count=$(find "$work/objects" -type f | wc -l | tr -d ' ')

migrations=$(ls "$root/prisma/migrations" | grep -v '\.toml$' | tail -1)
cat >"$work/manifest.json" <<JSON
{
  "format": 1,
  "created": "$stamp",
  "database": "$database",
  "objects": "$objects",
  "objectCount": $count,
  "newestMigrationInCheckout": "$migrations"
}
JSON
(cd "$work" && find . -type f ! -name SHA256SUMS -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >SHA256SUMS)
mv "$work" "$dest"
[ -n "$lock" ] && rm -f "$lock" && lock=""
echo "Backed up ($database database, $count $objects object(s)) to:" >&2
echo "$dest"
