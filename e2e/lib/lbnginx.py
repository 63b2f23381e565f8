"""A real nginx (Debian's nginx-light) for the load-balancing tests: its
own config, pid and log files in a temp dir, on a free loopback port, run
as the current user; corrald's nginx provider writes into <dir>/lb and
reloads it (docs/loadbalancing.md)."""
import getpass
import os
import shutil

import harness

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """# nginx for a Corral test (e2e/lib/lbnginx.py)
%(user)s
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx-error.log notice;
events { worker_connections 512; }
http {
    access_log %(dir)s/nginx-access.log;
    client_body_temp_path %(dir)s/tmp/body;
    proxy_temp_path %(dir)s/tmp/proxy;
    fastcgi_temp_path %(dir)s/tmp/fastcgi;
    uwsgi_temp_path %(dir)s/tmp/uwsgi;
    scgi_temp_path %(dir)s/tmp/scgi;
    include %(dir)s/lb/upstreams/*.conf;
    server {
        listen 127.0.0.1:%(port)d;
        location = /nginx-health { return 200 "ok\\n"; }
        include %(dir)s/lb/locations/%(group)s/*.conf;
    }
}
"""


def available():
    return os.access(NGINX, os.X_OK)


def start(cluster, group="web"):
    """Starts nginx; returns (url, conf path, include dir)."""
    d = os.path.join(cluster.tmpdir, "nginx")
    for sub in ("tmp", "lb/upstreams", "lb/locations/" + group):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    port = harness.free_port()
    conf = os.path.join(d, "nginx.conf")
    # as root, nginx would switch its workers to nobody, who cannot read the temp dir
    user = "user %s;" % getpass.getuser() if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(CONF % {"dir": d, "port": port, "group": group, "user": user})
    cluster.spawn("nginx", [NGINX, "-c", conf, "-e", os.path.join(d, "nginx-stderr.log")])
    url = "http://127.0.0.1:%d" % port
    harness.wait_until(lambda: harness.http("GET", url + "/nginx-health", timeout=1)[0] == 200,
                       15, "nginx at " + url)
    return url, conf, os.path.join(d, "lb")
