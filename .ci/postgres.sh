# Sourced by .ci/run: install and start a PostgreSQL server on localhost (Debian
# package) and export SKPD_TEST_POSTGRES_URL for the multi-process TPE test.
pg_retry() { "$@" || { sleep 5; "$@"; }; }
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  pg_retry apt-get update -qq
  DEBIAN_FRONTEND=noninteractive pg_retry apt-get install -y -qq postgresql >/dev/null
fi
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$pg_version main"; then
  pg_createcluster "$pg_version" main >/dev/null
fi
pg_ctlcluster "$pg_version" main start 2>/dev/null || true
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p "$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')" && break; sleep 1; done
pg_isready -h 127.0.0.1
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='skpd'\" | grep -q 1 || psql -q -c \"CREATE ROLE skpd LOGIN PASSWORD 'skpd'\""
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='skpd_test'\" | grep -q 1 || createdb -O skpd skpd_test"
pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')
export SKPD_TEST_POSTGRES_URL="postgresql://skpd:skpd@127.0.0.1:${pg_port}/skpd_test"
echo "PostgreSQL $pg_version ready at $SKPD_TEST_POSTGRES_URL"
