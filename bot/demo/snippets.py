"""Technical material people paste: logs, stack traces, configuration files and patches.

Technical people reveal themselves by what they paste, so the demo needs believable
pastes: a Go panic from the server, a Python traceback from the SDK, a Rust build error,
configuration files, kernel logs from boards and unified diffs with real-looking hunks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


def _stamp(at: datetime, rng: random.Random, back_minutes: int = 30) -> datetime:
    return at - timedelta(minutes=rng.randint(1, back_minutes), seconds=rng.randint(0, 59))


def server_log(rng: random.Random, at: datetime, problem: str) -> str:
    t = _stamp(at, rng)
    lines = []
    user = rng.choice(("alice", "bob", "j.meyer", "backup-svc", "kiosk07"))
    msgs = {
        "chunk": [("INFO", f"sync: session opened user={user} device=android-{rng.randrange(1000, 9999)}"),
                  ("WARN", "sync: chunk upload retry 3/5 size=8388608 err=\"context deadline exceeded\""),
                  ("ERROR", f"sync: chunk upload failed user={user} err=\"unexpected EOF\"")],
        "db": [("INFO", "store: opening database driver=sqlite path=/var/lib/syncwell/syncwell.db"),
               ("WARN", "store: slow query 4.81s: SELECT * FROM file_versions WHERE ..."),
               ("ERROR", "store: commit failed: database is locked (SQLITE_BUSY)")],
        "auth": [("INFO", "auth: ldap bind dn=\"cn=syncwell,ou=services,dc=corp,dc=local\""),
                 ("ERROR", "auth: ldap search failed: LDAP Result Code 32 \"No Such Object\""),
                 ("WARN", f"auth: login failed user={user} reason=backend_error")],
        "tls": [("INFO", "acme: renewing certificate for sync.example.net"),
                ("ERROR", "acme: challenge failed: 403 urn:ietf:params:acme:error:unauthorized"),
                ("WARN",
                 "http: TLS handshake error from 203.0.113.7:51544: remote error: tls: bad certificate")],
        "push": [("INFO", "push: websocket connected clients=1843"),
                 ("WARN", "push: websocket closed code=1006 after=60.0s"),
                 ("WARN", "push: 412 clients reconnecting")],
    }[problem]
    for level, msg in msgs:
        lines.append(f"{t:%Y-%m-%dT%H:%M:%S}Z {level:<5} {msg}")
        t += timedelta(seconds=rng.randint(1, 40))
    return "\n".join(lines)


def go_panic(rng: random.Random) -> str:
    g = rng.randrange(40, 900)
    line = rng.randrange(180, 640)
    return "\n".join([
        "panic: runtime error: invalid memory address or nil pointer dereference",
        f"[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x{rng.getrandbits(24):x}]",
        "",
        f"goroutine {g} [running]:",
        "github.com/syncwell/syncwell/server/sync.(*Engine).applyChunk(0xc0004a2000, {0x0, 0x0})",
        f"\t/build/server/sync/engine.go:{line} +0x2a",
        "github.com/syncwell/syncwell/server/sync.(*Engine).Run.func1()",
        f"\t/build/server/sync/engine.go:{line - 97} +0x1c5",
        "created by github.com/syncwell/syncwell/server/sync.(*Engine).Run in goroutine 1",
        f"\t/build/server/sync/engine.go:{line - 120} +0x1f4",
    ])


def python_traceback(rng: random.Random) -> str:
    err = rng.choice((
        ("ConflictError", "412 Precondition Failed: etag mismatch for /Documents/report.xlsx"),
        ("AuthError", "401 Unauthorized: token expired"),
        ("RateLimitError", "429 Too Many Requests (retry after 30s)"),
    ))
    return "\n".join([
        "Traceback (most recent call last):",
        '  File "/opt/ingest/run.py", line 88, in <module>',
        "    main()",
        '  File "/opt/ingest/run.py", line 61, in main',
        "    client.upload(path, remote, overwrite=True)",
        '  File "/usr/lib/python3.12/site-packages/syncwell/client.py", line 412, in upload',
        "    self._raise_for_status(resp)",
        '  File "/usr/lib/python3.12/site-packages/syncwell/client.py", line 198, in _raise_for_status',
        f"    raise {err[0]}(resp)",
        f"syncwell.errors.{err[0]}: {err[1]}",
    ])


def rust_build_error(rng: random.Random) -> str:
    return "\n".join([
        f"   Compiling syncwell-desktop v3.{rng.randrange(3, 6)}.0 (/home/build/syncwell/desktop)",
        "error[E0658]: use of unstable library feature `lazy_cell`",
        "  --> desktop/src/watcher.rs:27:5",
        "   |",
        "27 |     LazyLock::new(|| Mutex::new(HashMap::new()))",
        "   |     ^^^^^^^^^^^^^",
        "",
        "error: could not compile `syncwell-desktop` (bin \"syncwell\") due to 1 previous error",
        f"$ rustc --version\nrustc 1.{rng.randrange(72, 78)}.0 (stable)",
    ])


def board_log(rng: random.Random) -> str:
    t = rng.uniform(10, 40)
    mem = rng.choice(("64M", "128M", "256M"))
    lines = [
        f"[{t:10.6f}] syncwell-agent[{rng.randrange(200, 900)}]: starting, config=/etc/syncwell/agent.conf",
        f"[{t + 1.2:10.6f}] syncwell-agent: flash partition /data mounted ro, journal disabled",
        f"[{t + 3.9:10.6f}] Out of memory: Killed process {rng.randrange(200, 900)} (syncwell-agent) "
        f"total-vm:{rng.randrange(90, 200)}000kB, anon-rss:{rng.randrange(40, 90)}000kB",
        f"[{t + 4.0:10.6f}] oom_reaper: reaped process (syncwell-agent), now anon-rss:0kB, RAM={mem}",
    ]
    return "\n".join(lines)


def yocto_error(rng: random.Random) -> str:
    return "\n".join([
        "ERROR: syncwell-agent-3.4.1-r0 do_compile: oe_runmake failed",
        "| arm-poky-linux-gnueabi-gcc  -march=armv7-a -mfpu=neon -mfloat-abi=hard -c src/journal.c",
        "| src/journal.c:212:9: error: implicit declaration of function 'getrandom'",
        "| make: *** [Makefile:64: src/journal.o] Error 1",
        f"ERROR: Task (.../meta-syncwell/recipes-core/syncwell-agent_3.4.1.bb:do_compile) failed "
        f"with exit code '{rng.choice((1, 2))}'",
    ])


CONFIGS = {
    "nginx": """server {
    listen 443 ssl http2;
    server_name sync.example.net;
    location / {
        proxy_pass http://127.0.0.1:8443;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}""",
    "compose": """services:
  syncwell:
    image: ghcr.io/syncwell/server:3.4
    volumes:
      - ./data:/var/lib/syncwell
    environment:
      SYNCWELL_DB_URL: postgres://syncwell:secret@db/syncwell
    ports:
      - "8443:8443"
  db:
    image: postgres:16""",
    "ldap": """[auth.ldap]
url = "ldaps://dc01.corp.local:636"
bind_dn = "cn=syncwell,ou=services,dc=corp,dc=local"
user_base = "ou=Staff,dc=corp,dc=local"
user_filter = "(&(objectClass=person)(sAMAccountName={username}))"
group_sync = true""",
    "helm": """replicaCount: 3
storage:
  backend: s3
  s3:
    endpoint: https://minio.internal:9000
    bucket: syncwell-prod
readinessProbe:
  httpGet:
    path: /healthz
    port: 8443
  initialDelaySeconds: 5
resources:
  limits:
    memory: 2Gi""",
    "agent": """# /etc/syncwell/agent.conf
server = "https://devices.example.com"
journal = "/data/syncwell/journal"
max_memory = "24M"
upload_window = "02:00-05:00"
ota_channel = "stable\"""",
    "oidc": """[auth.oidc]
issuer = "https://login.microsoftonline.com/<tenant>/v2.0"
client_id = "7f3c0e2a-...-91d2"
scopes = ["openid", "email", "profile"]
claim_username = "preferred_username\"""",
}


@dataclass(frozen=True, slots=True)
class PatchIdea:
    """A small, plausible fix: where, why, and the lines before and after."""

    area: str
    summary: str
    why: str
    path: str
    function: str
    context: tuple[str, ...]
    old: tuple[str, ...]
    new: tuple[str, ...]


PATCHES = (
    PatchIdea("sync", "fix off-by-one at chunk boundaries",
              "When a file is an exact multiple of the chunk size we request one chunk too many and the "
              "server "
              "answers 416, which the client treats as a hard failure.",
              "server/sync/chunker.go", "func (c *Chunker) Count(size int64) int64 {",
              ("\tif size == 0 {", "\t\treturn 0", "\t}"),
              ("\treturn size/c.chunkSize + 1",), ("\treturn (size + c.chunkSize - 1) / c.chunkSize",)),
    PatchIdea("agent", "do not fsync the journal on every record",
              "On cheap eMMC this wears the flash out and makes the agent take 40% of the CPU on boards with "
              "slow storage. Batch the fsync to once per flush interval.",
              "agent/src/journal.c", "int journal_append(struct journal *j, const struct record *r)",
              ("\tif (write_record(j->fd, r) < 0)", "\t\treturn -errno;"),
              ("\tif (fsync(j->fd) < 0)", "\t\treturn -errno;"),
              ("\tif (++j->pending >= j->flush_every && fsync(j->fd) < 0)", "\t\treturn -errno;")),
    PatchIdea("desktop", "handle renamed folders while offline",
              "A folder renamed while the client was offline was uploaded as a new folder and the old one "
              "deleted, losing the version history.",
              "desktop/src/watcher.rs", "fn reconcile(&mut self, event: FsEvent) -> Result<()> {",
              ("        let local = self.index.lookup(&event.path)?;",),
              ("        self.queue.push(Change::Create(event.path.clone()));",),
              ("        if let Some(prev) = self.index.by_inode(event.inode) {",
               "            self.queue.push(Change::Rename(prev.path.clone(), event.path.clone()));",
               "        } else {",
               "            self.queue.push(Change::Create(event.path.clone()));",
               "        }")),
    PatchIdea("auth", "escape LDAP filter values",
              "User names containing parentheses or asterisks broke the search filter and, worse, could "
              "widen it.",
              "server/auth/ldap.go", "func (b *LDAPBackend) userFilter(name string) string {",
              ("\t// filter comes from the config, name from the login form",),
              ("\treturn strings.ReplaceAll(b.cfg.UserFilter, \"{username}\", name)",),
              ("\treturn strings.ReplaceAll(b.cfg.UserFilter, \"{username}\", ldap.EscapeFilter(name))",)),
    PatchIdea("sdk", "retry on 429 with the server's Retry-After",
              "Bulk uploads from scripts hit the rate limit and died instead of waiting.",
              "sdk/python/syncwell/client.py", "    def _send(self, request):",
              ("        resp = self._session.send(request, timeout=self.timeout)",),
              ("        return resp",),
              ("        if resp.status_code == 429 and self.retry_rate_limited:",
               "            time.sleep(float(resp.headers.get(\"Retry-After\", \"1\")))",
               "            resp = self._session.send(request, timeout=self.timeout)",
               "        return resp")),
    PatchIdea("push", "send websocket pings every 25 seconds",
              "Load balancers with a 60 s idle timeout drop the push connection; clients then poll and the "
              "server load doubles.",
              "server/push/hub.go", "func (h *Hub) serve(conn *websocket.Conn) {",
              ("\tdefer conn.Close()",),
              ("\tticker := time.NewTicker(90 * time.Second)",),
              ("\tticker := time.NewTicker(h.cfg.PingInterval) // default 25s, below common LB idle "
               "timeouts",)),
    PatchIdea("docs", "document the inotify watch limit",
              "Several people on the users list ran into this; the error message alone does not say what to "
              "do.",
              "docs/troubleshooting.md", "## Large folders",
              ("Syncwell watches every folder it syncs.",),
              ("If sync stops, restart the client.",),
              ("On Linux each folder needs one inotify watch. For more than ~8,000 folders raise the limit:",
               "", "    sysctl fs.inotify.max_user_watches=524288")),
    PatchIdea("server", "close the database rows iterator on error",
              "The early return leaked a connection per failed listing; under load the pool ran dry.",
              "server/store/listing.go",
              "func (s *Store) List(ctx context.Context, dir string) ([]Entry, error) {",
              ("\trows, err := s.db.QueryContext(ctx, listQuery, dir)", "\tif err != nil {",
               "\t\treturn nil, err",
               "\t}"),
              ("\tvar out []Entry",),
              ("\tdefer rows.Close()", "\tvar out []Entry")),
)


def unified_diff(rng: random.Random, idea: PatchIdea) -> str:
    """A ``git format-patch`` style diff with one hunk; line numbers and blob ids vary per call."""
    start = rng.randrange(20, 600)
    old_len = len(idea.context) + len(idea.old) + 1
    new_len = len(idea.context) + len(idea.new) + 1
    hunk = [f"@@ -{start},{old_len} +{start},{new_len} @@ {idea.function}"]
    hunk += [f" {line}" for line in idea.context]
    hunk += [f"-{line}" for line in idea.old]
    hunk += [f"+{line}" for line in idea.new]
    hunk.append(" ")
    return "\n".join([
        f"diff --git a/{idea.path} b/{idea.path}",
        f"index {rng.getrandbits(28):07x}..{rng.getrandbits(28):07x} 100644",
        f"--- a/{idea.path}",
        f"+++ b/{idea.path}",
        *hunk,
    ])


def diffstat(idea: PatchIdea) -> str:
    added, removed = len(idea.new), len(idea.old)
    bar = "+" * added + "-" * removed
    return (f" {idea.path} | {added + removed} {bar}\n"
            f" 1 file changed, {added} insertion{'s' if added != 1 else ''}"
            f"(+), {removed} deletion{'s' if removed != 1 else ''}(-)")
