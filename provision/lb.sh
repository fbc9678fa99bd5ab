#!/bin/sh
# Written by `firedrill export vagrant`, which rewrites it: change the lab file and export again.
# Node lb of lab three-tier (labs/three-tier.yaml): what `firedrill up` runs on it as root over SSH
# when it comes fresh from the golden image, in order, rendered by the same role code.
# Safe to run again (`vagrant provision lb`).
set -eu

sh -c 'd=/etc/haproxy/tls
if [ ! -s "$d/site.pem" ]; then
  set -e
  umask 077
  mkdir -p "$d"
  fqdn=$(hostname -f 2>/dev/null || echo lb)
  [ -s "$d/ca.key" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj '\''/CN=firedrill lab three-tier CA'\'' -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  chmod 644 "$d/ca.pem"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$fqdn" -keyout "$d/site.key" -out "$d/site.csr" 2>/dev/null
  printf '\''subjectAltName=DNS:lb,DNS:%s,DNS:localhost,IP:10.78.0.10,IP:127.0.0.1
'\'' "$fqdn" > "$d/site.ext"
  openssl x509 -req -sha256 -days 825 -in "$d/site.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d '\'' '\'')" -extfile "$d/site.ext" -out "$d/site.crt" 2>/dev/null
  cat "$d/site.crt" "$d/site.key" > "$d/site.pem.new"
  mv -f "$d/site.pem.new" "$d/site.pem"
  rm -f "$d/site.csr" "$d/site.ext"
  echo made
fi
' </dev/null

# haproxy: checking haproxy.cfg

sh -c 'set -e
python3 -I -S -c '\''import grp, hashlib, os, pwd, sys
END = b"\n--firedrill-end-of-file--\n"
def ids(owner):
    u, _, g = owner.partition(":")
    uid = int(u) if u.isdigit() else pwd.getpwnam(u).pw_uid
    if not g:
        return uid, pwd.getpwuid(uid).pw_gid
    return uid, int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
args = sys.argv[1:]
files = [args[i:i + 4] for i in range(0, len(args), 4)]
parts = sys.stdin.buffer.read().split(END)
if len(parts) != len(files) + 1 or parts[-1]:
    sys.exit("the files arrived cut short: %d of %d" % (len(parts) - 1, len(files)))
for (path, mode, owner, checksum), data in zip(files, parts):
    tmp = None
    try:
        uid, gid = ids(owner)
        d, name = os.path.split(path)
        new = os.path.join(d or "/", "." + name + ".firedrill-" + os.urandom(6).hex())
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        tmp = new
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, int(mode, 8))
        os.rename(tmp, path)
        tmp = None
        if checksum != "-":
            os.makedirs(os.path.dirname(checksum), exist_ok=True)
            with open(checksum, "w") as f:
                f.write(hashlib.sha256(data).hexdigest())
    except (OSError, KeyError) as e:
        sys.exit("%s: %s" % (path, e.strerror if isinstance(e, OSError) and e.strerror else e))
    finally:
        if tmp:
            os.unlink(tmp)
'\'' /etc/haproxy/haproxy.cfg.new 644 root:root -
' <<'FIREDRILL_EOF'
# HAProxy for firedrill lab "three-tier", node lb.
# Written by `firedrill up`, which rewrites it when the lab changes. Edit it freely while you
# practise: check your edit with `haproxy -c -f /etc/haproxy/haproxy.cfg`, then apply it with
# `systemctl reload haproxy`.

global
    # No chroot, so haproxy can reach journald's /dev/log: `journalctl -u haproxy` shows
    # every request.
    log /dev/log local0
    user haproxy
    group haproxy
    # The runtime API. Drain a server, for example:
    #   echo "set server app/app1 state drain" | socat stdio /run/haproxy/admin.sock
    # or, without socat:
    #   python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect("/run/haproxy/admin.sock"); s.sendall(b"show servers state\n"); print(s.makefile().read())'
    # expose-fd listeners: a reload hands the listening sockets to the new process, so not one
    # connection is refused while haproxy reloads.
    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
    stats timeout 30s

defaults
    log global
    mode http
    option dontlognull
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    # A request whose server refused the connection or closed it without an answer (an app
    # restarting) is sent again, to another server: a rolling change costs no failed request.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

# HTTPS on :443: the certificate and its key in one file, signed by the lab's own CA (ca.pem
# beside it): `curl --cacert /etc/haproxy/tls/ca.pem https://lb/todos`. Its dates:
# `openssl x509 -noout -dates -subject -ext subjectAltName -in /etc/haproxy/tls/site.pem`.
frontend web
    bind :80
    bind :443 ssl crt /etc/haproxy/tls/site.pem
    option httplog
    default_backend app

backend app
    balance roundrobin
    # A server is taken out after 2 failed checks (about 4 s) and back after 2 good ones.
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 2s fall 2 rise 2
    server app1 10.78.0.11:8080 check
    server app2 10.78.0.12:8080 check

# The stats page: http://10.78.0.10:8404/ shows every server's state; you can drain servers there too.
# http://10.78.0.10:8404/metrics is the same in Prometheus' text format (a monitor node scrapes it).
frontend stats
    bind :8404
    no log
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /
    stats refresh 5s
    stats admin if TRUE

--firedrill-end-of-file--
FIREDRILL_EOF

sh -c 'if haproxy -c -q -f /etc/haproxy/haproxy.cfg.new; then mv -f /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg; else rm -f /etc/haproxy/haproxy.cfg.new; exit 1; fi && mkdir -p /var/lib/firedrill/written && printf %s 9f12d00178bfb61666a383c5110c41b95ce436175e60ee52882c2e64b08076f9 > /var/lib/firedrill/written/%etc%haproxy%haproxy.cfg' </dev/null

# /etc/haproxy/haproxy.cfg updated

sh -c 'systemctl enable --no-reload haproxy.service' </dev/null

# haproxy.service enabled

# starting haproxy.service

sh -c 'systemctl start haproxy.service' </dev/null

# haproxy.service started
