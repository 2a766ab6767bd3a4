#!/bin/bash
# Start netmeasure's test server (docs/test-server.md): Debian's nginx with nginx.conf.
#
#   start.sh PREFIX [--listen ADDR:PORT]... [--object SIZE]... [--tls]
#
# PREFIX holds everything the server writes (temporary upload files, logs; PREFIX/files: the
# objects, a link to a directory on /dev/shm when it is a tmpfs, or NETMEASURE_OBJECTS_DIR).
# Objects are sparse files of exactly SIZE bytes ("100MB" = 10^8, "1GiB" = 2^30), served as
# /files/SIZE. Defaults: --listen 80 and objects 1MB 10MB 100MB 1GB. --tls adds a self-signed
# certificate (PREFIX/tls/cert.pem, give it to the probes as ca_file) and listens with TLS
# on the --tls-listen address (default 443). Runs nginx in the foreground (exec).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PREFIX [--listen ADDR:PORT]... [--object SIZE]... [--tls]" >&2; exit 2; }
prefix=$(mkdir -p "$1" && cd "$1" && pwd); shift
listens=(); objects=(); tls=""; tls_listens=()
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) listens+=("$2"); shift 2 ;;
    --object) objects+=("$2"); shift 2 ;;
    --tls) tls=1; shift ;;
    --tls-listen) tls_listens+=("$2"); tls=1; shift 2 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
done
[ ${#listens[@]} -gt 0 ] || listens=(80)
[ ${#objects[@]} -gt 0 ] || objects=(1MB 10MB 100MB 1GB)
[ -z "$tls" ] || [ ${#tls_listens[@]} -gt 0 ] || tls_listens=(443)
mkdir -p "$prefix"/{tmp,logs,run}
# The objects are sparse files on a tmpfs when there is one: reading a hole of a tmpfs file
# maps the kernel's zero page (1 GB: 0.2 s, no memory), where a disk file system fills the
# page cache with zeroed pages the first time (1 GB: 6 s on ext4 here, and 1 GB of memory),
# which would slow the first transfer of each object.
if [ -z "${NETMEASURE_OBJECTS_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  NETMEASURE_OBJECTS_DIR=/dev/shm/netmeasure-objects-$(printf %s "$prefix" | md5sum | cut -c1-12)
fi
if [ -n "${NETMEASURE_OBJECTS_DIR:-}" ]; then
  mkdir -p "$NETMEASURE_OBJECTS_DIR"
  chmod 755 "$NETMEASURE_OBJECTS_DIR"
  [ -d "$prefix/files" ] && [ ! -L "$prefix/files" ] && rm -rf "$prefix/files"
  ln -sfn "$NETMEASURE_OBJECTS_DIR" "$prefix/files"
else
  mkdir -p "$prefix/files"
fi

bytes_of() {  # "100MB" -> 100000000; "1GiB" -> 1073741824; a bare number is bytes
  local n unit
  [[ "$1" =~ ^([0-9]+)([A-Za-z]*)$ ]] || { echo "$0: bad object size '$1'" >&2; exit 2; }
  n=${BASH_REMATCH[1]}; unit=${BASH_REMATCH[2]}
  case "$unit" in
    ""|B) echo "$n" ;; kB|KB) echo $((n * 1000)) ;; MB) echo $((n * 1000000)) ;;
    GB) echo $((n * 1000000000)) ;; KiB) echo $((n << 10)) ;; MiB) echo $((n << 20)) ;;
    GiB) echo $((n << 30)) ;; *) echo "$0: bad size unit in '$1'" >&2; exit 2 ;;
  esac
}
for object in "${objects[@]}"; do
  size=$(bytes_of "$object")
  rm -f "$prefix/files/$object"
  truncate -s "$size" "$prefix/files/$object"  # sparse: no disk space, zeros on read
done

{
  for l in "${listens[@]}"; do echo "listen $l reuseport backlog=4096;"; done
  for l in "${tls_listens[@]}"; do echo "listen $l ssl reuseport backlog=4096;"; done
  if [ -n "$tls" ]; then
    echo "ssl_certificate $prefix/tls/cert.pem;"
    echo "ssl_certificate_key $prefix/tls/key.pem;"
  fi
} > "$prefix/run/listen.conf"
if [ -n "$tls" ] && [ ! -s "$prefix/tls/cert.pem" ]; then
  mkdir -p "$prefix/tls"
  san="DNS:localhost"
  for l in "${tls_listens[@]}" "${listens[@]}"; do
    host=${l%:*}; [ "$host" != "$l" ] && san="$san,IP:${host//[\[\]]/}"
  done
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=netmeasure test server" \
    -addext "subjectAltName=$san" -keyout "$prefix/tls/key.pem" -out "$prefix/tls/cert.pem" \
    2>/dev/null
fi
cat > "$prefix/run/sink.conf" <<SINK
upstream netmeasure_sink { server unix:$prefix/run/sink.sock; keepalive 64; }
server {
    listen unix:$prefix/run/sink.sock;
    access_log off;
    location / { return 204; }
}
SINK
rm -f "$prefix/run/sink.sock"
cp "$here/nginx.conf" "$prefix/run/nginx.conf"
exec nginx -p "$prefix/" -c "$prefix/run/nginx.conf" -g 'daemon off;'
