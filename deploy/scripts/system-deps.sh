#!/usr/bin/env bash
# Makes sure the system services the tests talk to are present and running:
# redis-server (the tests start their own instances on free ports) and a
# PostgreSQL server reachable on 127.0.0.1 (the tests create their own databases),
# and Debian's Chromium for the browser tests (tests/web, driven by Playwright)
# with a CJK font: without one every Chinese character of the page renders as a
# box in the screenshots (fonts-noto-cjk: Noto Sans/Serif CJK, the faces the
# printable receipt sheet asks for), and Node.js for the page's own logic tests
# (`make jstest`: `node --test tests/js/`, no npm packages).
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/bin/chromium ] || need_apt+=(chromium chromium-driver)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)  # tests/test_deploy.py runs nginx -t
command -v fc-list >/dev/null 2>&1 || need_apt+=(fontconfig)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)  # make jstest
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  need_apt+=(fonts-noto-cjk)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi

pg_url="${HUB_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if ! psql "$pg_url" -Atqc 'select 1' >/dev/null 2>&1; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 50); do
      psql "$pg_url" -Atqc 'select 1' >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
fi
if psql "$pg_url" -Atqc 'select 1' >/dev/null 2>&1; then
  echo "postgresql: reachable at ${pg_url%%@*}@…"
else
  echo "postgresql: not reachable at $pg_url; set HUB_TEST_DATABASE_URL" >&2
  exit 1
fi
echo "redis-server: $(redis-server --version | awk '{print $3}')"
echo "CJK fonts: $(fc-list :lang=zh family | head -n 1)"
echo "node: $(node --version)"
