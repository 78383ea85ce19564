"""Technical conversations: questions with logs and traces, deployments, boards, and patches."""

from __future__ import annotations

import random
from datetime import datetime

from bot.demo import snippets
from bot.demo.script import Line, Script, pick


def _tech_thanks(rng: random.Random) -> tuple[str, ...]:
    return (pick(rng, "That was it, thanks {helper}!", "Confirmed, works now. Thanks {helper}.",
                 "Thanks {helper}, upgrading fixed it.", "Many thanks {helper}, problem solved.",
                 "Works like a charm now, thank you {helper}!"),)


def tech_question(rng: random.Random, at: datetime) -> Script:
    version = f"3.{rng.randrange(2, 5)}.{rng.randrange(0, 3)}"
    options = [
        ("Server panics after upgrade to " + version,
         Line(f"After upgrading to {version} the server crashes right after start-up:",
              snippets.go_panic(rng)),
         [Line("That's the nil chunk bug in the upgrade path, fixed in 3.4.1. If you can't upgrade yet, run "
               "`syncwell-admin db repair --chunks` once and it starts again."),
          Line("Then the repair didn't find the broken rows; please run it with `--verbose` and post the "
               "output.")],
         [Line("Ran the repair, still the same panic. Anything else I can check?")]),
        ("SDK upload fails with an error",
         Line("Our nightly import script started failing with this, any idea?",
              snippets.python_traceback(rng)),
         [Line("You're uploading the same file from two jobs at once. Pass `if_match=etag` so the second "
               "upload retries instead of failing, or set `retry_rate_limited=True` for the 429 case.")],
         []),
        ("413 Request Entity Too Large behind nginx",
         Line("Uploads over ~1 MB fail with 413 since I put nginx in front. Config:",
              snippets.CONFIGS["nginx"]),
         [Line("nginx defaults to 1 MB bodies. Add `client_max_body_size 0;` and "
               "`proxy_request_buffering off;` to that location block, then reload.")],
         []),
        ("Sync stops on folders with many files",
         Line("The Linux client stops syncing after a while on my photo archive (~40k folders). Log says "
              "'inotify_add_watch: No space left on device'. The disk is not full!"),
         [Line("That message is misleading: you ran out of inotify watches, not disk. "
               "`sysctl fs.inotify.max_user_watches=524288` (and put it in /etc/sysctl.d/ to keep it).")],
         []),
        ("database is locked errors",
         Line("Getting these under load, around 30 clients:", snippets.server_log(rng, at, "db")),
         [Line("SQLite is fine for a handful of users, with 30 concurrent clients you want PostgreSQL. "
               "`syncwell-admin db migrate --to postgres://...` moves the data over.")],
         [Line("Is the migration safe to run while people are working?")]),
        ("Desktop client does not build from source",
         Line("Trying to build the desktop client from main:", snippets.rust_build_error(rng)),
         [Line("main needs Rust 1.80 since last month (LazyLock). `rustup update stable` and it builds.")],
         []),
        ("Websocket disconnects every 60 seconds",
         Line("Clients keep reconnecting, server log:", snippets.server_log(rng, at, "push")),
         [Line("Your load balancer has a 60 s idle timeout. Either raise it or set `push.ping_interval = "
               "\"25s\"` in the server config (default will change in the next release).")],
         []),
        ("Let's Encrypt renewal fails",
         Line("Certificate renewal started failing:", snippets.server_log(rng, at, "tls")),
         [Line("Port 80 must reach the server for the HTTP challenge. Looks like something in front of it "
               "answers with 403. Check the firewall or switch to the DNS challenge.")],
         []),
    ]
    subject, opener, answers, followups = rng.choice(options)
    while len(answers) < len(followups) + 1:
        answers.append(Line("Yes, it's transactional; worst case it aborts and you stay on the old "
                            "database."))
    return Script("question_tech", subject, opener, tuple(answers[: len(followups) + 1]), tuple(followups),
                  thanks=_tech_thanks(rng),
                  chatter=(pick(rng, "Seeing the same here on " + version + ".", "+1, same on my instance",
                                "Same here, subscribing."),))


def deployment(rng: random.Random, at: datetime) -> Script:
    users = rng.choice((300, 800, 2500, 6000, 12000))
    options = [
        ("High availability setup", Line(
            f"We need HA for about {users} users. Plan: two app nodes behind HAProxy, shared PostgreSQL, S3 "
            "storage. Is the file locking safe with two nodes or do we need Redis?"),
         [Line("With more than one node you need the Redis lock backend, yes: `[locking] backend = "
               "\"redis\"`. "
               "Without it two nodes can both accept a write to the same file."),
          Line("We run three nodes like that for a few thousand users, no issues. Make sure sticky sessions "
               "are "
               "off, the push hub copes with clients moving between nodes.")]),
        ("Helm chart readiness probe fails", Line(
            "Pods never become ready on our cluster with these values:", snippets.CONFIGS["helm"]),
         [Line("/healthz waits for the S3 bucket check, 5 s is too short when MinIO is behind TLS with a "
               "private CA. Raise initialDelaySeconds to 30 and mount the CA bundle."),
          Line("Also check that the bucket exists, the server won't create it.")]),
        ("LDAP login fails for all users", Line(
            "Moved LDAP to LDAPS and now nobody can log in:", snippets.CONFIGS["ldap"]
            + "\n\n" + snippets.server_log(rng, at, "auth")),
         [Line("Result code 32 means the user_base doesn't exist as written. On AD the OU for people is "
               "often `OU=Users` rather than `ou=Staff`; try an ldapsearch with the same base to confirm.")]),
        ("SSO with Azure AD / OIDC", Line(
            "Trying to get OIDC login with Azure AD working. Users get in, but their usernames are random "
            "GUIDs. Config:", snippets.CONFIGS["oidc"]),
         [Line("Azure only sends preferred_username if you add the `profile` scope AND the optional claim "
               "in the app registration. Otherwise fall back to `claim_username = \"email\"`.")]),
        ("Upgrade from 2.x to 3.x with minimal downtime", Line(
            f"We're planning the 2.9 → 3.4 upgrade for {users} users. How long does the schema migration "
            "take and can clients stay connected?"),
         [Line("The migration rewrites the file_versions table, roughly 1 minute per million versions. "
               "Clients "
               "will retry on their own, so a 30 minute window is plenty for most."),
          Line("Do a dry run on a copy of the database first, that gives you the exact time.")]),
        ("Backup strategy for files and database", Line(
            "What is the recommended way to back up a production instance? We use pg_dump nightly plus "
            "bucket replication, but I'm not sure the two are consistent."),
         [Line("Put the server in maintenance mode (`syncwell-admin maintenance on`), dump, snapshot the "
               "bucket, "
               "maintenance off. Or use `syncwell-admin backup`, which does exactly that.")]),
        ("Docker volume permission denied", Line(
            "Container exits with 'permission denied' on /var/lib/syncwell:", snippets.CONFIGS["compose"]),
         [Line("The image runs as uid 1000. `chown -R 1000:1000 ./data` on the host, or add `:z` to the "
               "volume if you're on SELinux.")]),
    ]
    subject, opener, answers = rng.choice(options)
    return Script("deployment", subject, opener, tuple(answers[:1]), (),
                  thanks=_tech_thanks(rng),
                  chatter=tuple(a.text for a in answers[1:]) or ("We're about to do the same, following.",),
                  helpers=("core_maintainer", "it_pro", "service_provider", "integrator", "hobbyist"))


def hardware(rng: random.Random, at: datetime) -> Script:
    board = rng.choice(("i.MX8M Mini", "STM32MP157", "Allwinner H616", "RK3568", "AM62x", "Raspberry Pi CM4"))
    options = [
        (f"Agent killed by OOM on {board}", Line(
            f"On our {board} board (128 MB RAM variant) the agent gets killed after a few hours:",
            snippets.board_log(rng) + "\n\n" + snippets.CONFIGS["agent"]),
         [Line("max_memory only limits the journal cache. The big allocation is the TLS session cache, set "
               "`tls_session_cache = 0` on boards that small; it costs one extra handshake per sync.")]),
        ("meta-syncwell fails to build with older glibc", Line(
            "Building the agent in our Yocto (kirkstone) BSP:", snippets.yocto_error(rng)),
         [Line("getrandom() needs glibc 2.25. For kirkstone use the `kirkstone` branch of meta-syncwell, it "
               "has the fallback to /dev/urandom.")]),
        ("Flash wear from the agent journal", Line(
            f"Our firmware team measured ~2 GB/day of writes from the agent on {board}. That would kill the "
            "eMMC within the warranty period. Is there a way to reduce that?"),
         [Line("Yes, the journal fsyncs every record. There's a patch on the list that batches it; until "
               "then "
               "put the journal on tmpfs if you can tolerate losing a few minutes of changes on power "
               "loss.")]),
        ("OTA updates of the agent", Line(
            "Can the agent be updated over the air separately from the rest of the firmware image? We use "
            "RAUC with A/B partitions."),
         [Line("The agent is a single static binary plus config, so you can ship it as a RAUC bundle slot of "
               "its own. Pin `ota_channel` so devices don't update themselves behind your back.")]),
        (f"Cross-compiling the agent for {board}", Line(
            f"What's the recommended toolchain for aarch64? We'd like to ship it in our {board} BSP."),
         [Line("Any GCC >= 10 works; we test with the Bootlin toolchains. `make CROSS=aarch64-linux-gnu-` "
               "and "
               "you get a static binary, no runtime deps.")]),
    ]
    subject, opener, answers = rng.choice(options)
    return Script("hardware", subject, opener, tuple(answers), (), thanks=_tech_thanks(rng),
                  chatter=(pick(rng, "We see exactly the same on our boards.", "Interested too, we ship a "
                                "similar board.", "Following, same SoC here."),),
                  helpers=("core_maintainer", "device_maker", "hobbyist"))


def patch(rng: random.Random) -> Script:
    idea = rng.choice(snippets.PATCHES)
    version = pick(rng, "", "", "v2 ", "v3 ")
    subject = f"[PATCH {version}]".replace(" ]", "]") + f" {idea.area}: {idea.summary}"
    diff = snippets.unified_diff(rng, idea)
    review = pick(rng,
                  "Good catch. Could you add a test for the exact-multiple case? Otherwise looks fine.",
                  "Thanks! The logic looks right, but please keep the old behaviour behind a config flag for "
                  "one "
                  "release.",
                  "Nice. One nit: the comment should say why, not what. Happy to take it with that fixed.",
                  "This changes behaviour for existing installs, can you mention it in the changelog?")
    return Script(
        "patch", subject,
        Line(idea.why, patch=diff, diffstat=snippets.diffstat(idea)),
        answers=(Line(review),),
        followups=(Line(pick(rng, "Sure, will send a v2 with the test.", "Fair point, updated in v2.",
                             "Done, see the new version.")),),
        thanks=(pick(rng, "Thanks for the quick review {helper}!", "Thanks {helper}!"),),
        helpers=("core_maintainer",),
        closing=Line(pick(rng, "Applied to main, thanks!", "Merged, thank you. It'll be in the next release.",
                          "Applied, thanks for fixing this.")),
    )
