#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into an EMPTY database and an EMPTY object
# store, then checks every restored object against the backup's hashes.
#
#   scripts/restore.sh <backup directory>          (npm run restore -- <backup directory>)
#
# The target comes from the same environment as the server's:
# - a PostgreSQL backup (database.dump) goes to DATABASE_URL, which must name an existing,
#   empty database (no tables): `pg_restore` recreates the schema, the migrations table and
#   the data;
# - an embedded backup (db.tar) goes to DATA_DIR/db, which must not exist yet (stop the
#   server; DATABASE_URL unset), with DATA_DIR/jwt-secret if the backup has one;
# - objects go to S3_BUCKET when S3_ENDPOINT is set (made if missing, refused if it holds
#   anything), else to DATA_DIR/media (refused if it holds files).
# A PostgreSQL backup restores into PostgreSQL, an embedded one into PGlite. The backup's
# SHA256SUMS is checked before anything is written. Start the servers afterwards: they apply
# any migration newer than the backup.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
[ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] && { usage; exit 0; }
[ $# -eq 1 ] || { usage >&2; exit 2; }
backup=$(cd "$1" && pwd)
data_dir=${DATA_DIR:-./data}
case "$data_dir" in /*) ;; *) data_dir="$root/$data_dir" ;; esac

[ -f "$backup/manifest.json" ] && [ -f "$backup/SHA256SUMS" ] || { echo "$backup is not a Parley backup" >&2; exit 1; }
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$backup/manifest.json" | head -1; }
database=$(field database)
objects=$(field objects)

echo "Checking the backup's checksums…" >&2
(cd "$backup" && sha256sum --quiet --strict -c SHA256SUMS) || { echo "The backup is damaged: nothing restored" >&2; exit 1; }

# --- the targets must be empty, before anything is written ----------------------------------
case "$database" in
  postgres)
    [ -n "${DATABASE_URL:-}" ] || { echo "A PostgreSQL backup: set DATABASE_URL to an empty database" >&2; exit 1; }
    tables=$(psql --no-psqlrc -qAt --dbname="$DATABASE_URL" -c \
      "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    [ "$tables" = "0" ] || { echo "The database of DATABASE_URL is not empty ($tables tables): restore into an empty one" >&2; exit 1; }
    ;;
  pglite)
    [ -z "${DATABASE_URL:-}" ] || { echo "An embedded backup restores into DATA_DIR/db: unset DATABASE_URL" >&2; exit 1; }
    [ ! -e "$data_dir/db" ] || { echo "$data_dir/db exists: restore into a DATA_DIR without a database" >&2; exit 1; }
    ;;
  *) echo "Unknown database kind in the manifest: $database" >&2; exit 1 ;;
esac
if [ -n "${S3_ENDPOINT:-}" ]; then
  target_objects=s3
else
  target_objects=local
  if [ -d "$data_dir/media" ] && [ -n "$(find "$data_dir/media" -type f -print -quit)" ]; then
    echo "$data_dir/media holds files: restore into an empty one" >&2
    exit 1
  fi
fi

# --- the database -----------------------------------------------------------------------------
if [ "$database" = postgres ]; then
  echo "Restoring the PostgreSQL database…" >&2
  pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$backup/database.dump"
else
  echo "Restoring the embedded database into $data_dir/db…" >&2
  mkdir -p "$data_dir"
  tar -C "$data_dir" -xf "$backup/db.tar"
  rm -f "$data_dir/db.lock"
  if [ -f "$backup/jwt-secret" ] && [ ! -e "$data_dir/jwt-secret" ]; then
    cp -p "$backup/jwt-secret" "$data_dir/jwt-secret"
    chmod 600 "$data_dir/jwt-secret"
  fi
fi

# --- the objects, then their hashes -------------------------------------------------------------
count=$(find "$backup/objects" -type f | wc -l | tr -d ' ')
if [ "$target_objects" = s3 ]; then
  echo "Restoring $count object(s) to s3://${S3_BUCKET:-parley-media}…" >&2
  # Content types from objects.json (an S3 backup); a backup of local files has none to give.
  node "$root/scripts/lib/objects.mjs" upload "$backup/objects" >&2
  node "$root/scripts/lib/objects.mjs" verify "$backup/SHA256SUMS" >&2
else
  echo "Restoring $count object(s) to $data_dir/media…" >&2
  mkdir -p "$data_dir/media"
  (cd "$backup/objects" && tar -cf - .) | tar -C "$data_dir/media" -xf -
  # The restored files against the backup's hashes (paths objects/… → media/…).
  (cd "$data_dir" && grep ' \./objects/' "$backup/SHA256SUMS" | sed 's# \./objects/# ./media/#' |
    sha256sum --quiet --strict -c -) || { echo "Restored files do not match the backup" >&2; exit 1; }
fi
echo "Restored the $database database and $count object(s) (from $objects storage) from $backup" >&2
