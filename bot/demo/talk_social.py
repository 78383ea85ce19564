"""Conversations beyond help requests: products, business, research, intros, news, chat and bots."""

from __future__ import annotations

import random
from datetime import datetime

from bot.demo.people import Person
from bot.demo.script import Line, Script, Voice, pick


def product(rng: random.Random) -> Script:
    options = [
        ("How stable is the REST API between minor versions?",
         "Can we rely on /api/v2 staying compatible across 3.x releases? Breaking changes cost us a release "
         "cycle each time.",
         ("v2 is frozen for the whole 3.x series; additions only. Anything deprecated is announced here two "
          "releases ahead.", "We pin the server version per customer and run our API tests against main "
          "nightly, that catches things early.")),
        ("Embedding the SDK in a proprietary product",
         "Is it OK under the licence to ship the Syncwell SDK inside a closed-source desktop app?",
         ("The SDK is Apache-2.0, so yes, keep the NOTICE file and you're fine. The server is AGPL, which "
          "matters only if you modify it and offer it over a network.",)),
        ("Webhooks for file events",
         "We'd like to react to file uploads in our backend without polling. Are there webhooks?",
         ("Yes, since 3.3: `[webhooks]` in the server config, events file.created/updated/deleted, signed "
          "with HMAC-SHA256.", "We use them in production, just make sure your endpoint answers within 5 s, "
          "the server doesn't retry forever.")),
        ("White-labelling the desktop client",
         "Our product ships a rebranded desktop client. Is there a supported way to change name, icon and "
         "default server, or do we have to fork?",
         ("Build with `BRANDING=path/to/branding.toml`, it covers name, icons, colours and default server. "
          "No "
          "fork needed.",)),
        ("Plugin API roadmap",
         "Is the server plugin API going to be stable for 4.0? We'd build a connector for our DMS on it.",
         ("It's marked experimental in 3.x, the plan is to stabilise it in 4.0. Feedback from people "
          "building "
          "real connectors is exactly what we need, please join the design thread.",)),
    ]
    subject, text, answers = rng.choice(options)
    return Script("product", subject, Line(text), tuple(Line(a) for a in answers[:1]), (),
                  thanks=(pick(rng, "Thanks {helper}, that's what we needed to know.",
                               "Great, thanks {helper}."),),
                  chatter=tuple(answers[1:]), helpers=("core_maintainer", "isv"))


def business(rng: random.Random) -> Script:
    options = [
        ("Commercial support options?",
         "Is there a company offering commercial support or SLAs for Syncwell? Our customers ask for it "
         "before "
         "they sign.",
         "There's a list of companies offering support on the website under Community → Partners. The "
         "project "
         "itself doesn't sell support."),
        ("Partner programme",
         "We deploy Syncwell for clients and would like to be listed as a partner. How does that work?",
         "Open a pull request against the website repo adding your company to partners.yaml; we ask for one "
         "public reference deployment."),
        ("Using the Syncwell name in our offering",
         "Can we call our hosted offering \"Syncwell Cloud by ...\" or does the trademark policy forbid "
         "that?",
         "Descriptive use (\"hosted Syncwell\", \"powered by Syncwell\") is fine; please don't make it look "
         "like "
         "an official project service. Details in TRADEMARKS.md."),
        ("Roadmap for the next year",
         "Is there a public roadmap? We need to plan our product releases around yours.",
         "The roadmap is in the wiki and we discuss it at the monthly community call; next one is on the "
         "first "
         "Thursday of the month."),
        ("Security disclosure process",
         "How should we report a security issue we found during a customer audit?",
         "Please mail security@syncwell.org (PGP key on the website); we answer within 72 hours and "
         "coordinate "
         "a release with you."),
        ("Sponsoring the project",
         "Our company would like to give something back. Is there a way to sponsor development?",
         "Thank you! We're on Open Collective, and sponsoring a specific feature is possible too, ping the "
         "steering group."),
    ]
    subject, text, answer = rng.choice(options)
    return Script("business", subject, Line(text), (Line(answer),), (),
                  thanks=(pick(rng, "Thank you {helper}, very helpful.",
                               "Thanks {helper}, I'll pass it on."),),
                  technical=False, helpers=("core_maintainer", "integrator", "service_provider"))


def research(rng: random.Random) -> Script:
    options = [
        ("Traces of real sync sessions for research?",
         "For my thesis I'm evaluating conflict resolution strategies. Is there an anonymised dataset of "
         "sync "
         "sessions, or would anyone be willing to share one?",
         "There's no public dataset. The server can write anonymised traces (`trace.anonymise = true`); a "
         "few "
         "operators might share if you ask nicely and explain the privacy story."),
        ("CRDTs for folder renames",
         "Our research group is working on a CRDT for tree moves. Has anyone looked at using it for "
         "Syncwell's rename handling? We have a prototype and a paper draft.",
         "Very interesting, renames are our biggest source of conflicts. Would you present it at the next "
         "community call?"),
        ("Benchmarking Syncwell against other sync tools",
         "We're writing a paper comparing sync tools under high latency. What's the recommended "
         "configuration "
         "for a fair comparison?",
         "Use the default chunk size and turn off the bandwidth limiter; and please share the scripts, we'd "
         "love to run them in CI."),
        ("User study participants",
         "Our lab is running a user study on file-sharing mental models. Could I post a call for "
         "participants "
         "here? It takes 20 minutes and is approved by our ethics board.",
         "Sure, go ahead, please post it in the announcements channel and say who runs it."),
        ("Citing Syncwell in a paper",
         "Is there a preferred way to cite Syncwell? My supervisor wants a DOI.",
         "Every release is archived on Zenodo with a DOI, the badge is in the README. CITATION.cff is in the "
         "repository root."),
    ]
    subject, text, answer = rng.choice(options)
    return Script("research", subject, Line(text), (Line(answer),), (),
                  thanks=(pick(rng, "Thanks {helper}, that helps a lot!", "Great, thank you {helper}."),),
                  chatter=(pick(rng, "I'd be interested in the results too.",
                                "Please share the paper when it's out!"),),
                  helpers=("core_maintainer", "academic"))


def intro(rng: random.Random, person: Person, voice: Voice) -> Script:
    why = {
        "end_user": "I use Syncwell to keep photos and documents in sync between my phone and laptop.",
        "hobbyist": "I run Syncwell on my home server and I'd like to contribute some patches.",
        "it_pro": "We're rolling Syncwell out at work and I'm the one looking after the servers.",
        "integrator": "We deploy Syncwell for our customers and I'm here to learn and help.",
        "isv": "We build our product on top of Syncwell, so I'll be around.",
        "device_maker": "We're looking at shipping the Syncwell agent on our boards.",
        "service_provider": "We host Syncwell for our customers and want to get more involved.",
        "academic": "I'm researching file synchronisation for my thesis.",
    }.get(person.persona, "Happy to be here.")
    hello = pick(rng, "Hi everyone!", "Hello all 👋", "Hi folks,", "Hey everyone,")
    text = f"{hello} {voice.intro_line(person)} {why}"
    return Script("intro", f"Hello from {person.first}", Line(text),
                  answers=(Line(pick(rng, "Welcome {asker}! Shout if you have questions.",
                                     "Welcome aboard {asker} 🎉", "Hi {asker}, great to have you here!",
                                     "Welcome! The #help channel is the best place for questions.")),),
                  technical=False, helpers=("core_maintainer",))


def showcase(rng: random.Random) -> Script:
    what = rng.choice((
        ("a Home Assistant integration that shows sync status", "https://github.com/{h}/ha-syncwell"),
        ("a terminal UI for Syncwell (sw-tui), written in Go", "https://github.com/{h}/sw-tui"),
        ("an e-ink status display on a Raspberry Pi Zero", "https://{h}.dev/blog/syncwell-eink"),
        ("a script that backs up my Syncwell to a USB disk every night", "https://gist.github.com/{h}"),
        ("a Syncwell module for NixOS", "https://github.com/{h}/nixos-syncwell"),
    ))
    return Script("showcase", f"Show & tell: {what[0]}",
                  Line(f"Made {what[0]} over the weekend! Code is here: {what[1]} — feedback welcome."),
                  answers=(Line(pick(rng, "Very cool! Mind if we link it from the docs?", "Nice work 👏",
                                     "This is great, starred.")),),
                  thanks=(pick(rng, "Thanks {helper}! Sure, go ahead.", "Thanks {helper} 😊"),),
                  technical=False)


def announcement(rng: random.Random) -> Script:
    n = rng.randrange(1, 6)
    options = [
        (f"Syncwell 3.4.{n} released",
         f"Syncwell 3.4.{n} is out: fixes for the upgrade crash, faster chunk uploads and the inotify docs. "
         "Thanks to everyone who sent patches and tested the release candidate!"),
        ("Call for testing: 3.5 beta",
         "The 3.5 beta is available. Highlights: end-to-end encrypted folders, the new push hub and OIDC "
         "group sync. Please test on a copy of your data and report here."),
        ("Community call this Thursday",
         "Our monthly community call is on Thursday at 16:00 UTC. Agenda: roadmap for 4.0, the plugin API, "
         "and a demo of the tree-move CRDT prototype."),
        ("Security release 3.4.x",
         "We've released a security fix for the LDAP filter escaping issue. Everyone using LDAP login should "
         "upgrade; details in the advisory."),
    ]
    subject, text = rng.choice(options)
    return Script("announcement", subject, Line(text),
                  answers=(Line(pick(rng, "Great news, thanks to all!", "Upgraded, all fine here.",
                                     "Congrats on the release! 🎉",
                                     "Will there be a recording of the call?")),),
                  technical=False)


def chat(rng: random.Random) -> Script:
    options = [
        ("Keyboards",
         "What keyboards is everyone using? Mine just died and I need an excuse to buy a new one.",
         ("Split ergonomic here, never going back.", "Same ThinkPad keyboard for 10 years 😅")),
        ("FOSDEM", "Anyone going to FOSDEM this year? Would be fun to meet up.",
         ("I'll be there! Let's do a Syncwell dinner.", "Can't make it this time, have fun!")),
        ("Weekend", "Finally finished my garden shed this weekend. What did you all do?",
         ("Nice! I spent mine debugging my home network, as usual.", "Hiking in the rain 🌧️")),
        ("Coffee", "Hot take: tea is the better coding drink.", ("Absolutely not ☕", "Mate, obviously.")),
    ]
    subject, text, answers = rng.choice(options)
    return Script("chat", subject, Line(text), answers=(Line(answers[0]),), chatter=(answers[1],),
                  technical=False)


def ci_notice(rng: random.Random, at: datetime, build: int) -> Script:
    sha = f"{rng.getrandbits(28):07x}"
    target = rng.choice(("linux-amd64", "linux-arm64", "linux-armv7", "windows-x64", "macos-arm64"))
    if rng.random() < 0.45:
        test = rng.choice(("TestChunkerCount", "test_conflict_rename", "journal_power_loss",
                           "TestPushReconnect"))
        subject = f"[CI] build #{build} failed on {target} (main@{sha})"
        text = (f"Build #{build} of main@{sha} FAILED on {target}.\nFailed: {test}\n"
                f"Log: https://ci.syncwell.org/builds/{build}/{target}\n"
                f"Triggered: {at:%Y-%m-%d %H:%M} UTC (nightly)")
        return Script("ci", subject, Line(text),
                      answers=(Line(pick(rng, "Looking into it.", "Flaky test, re-running.",
                                         "My fault, fix incoming.")),),
                      helpers=("core_maintainer",))
    subject = f"[CI] build #{build} passed (main@{sha})"
    text = f"Build #{build} of main@{sha} passed on all targets. Artifacts: https://ci.syncwell.org/builds/{build}"
    return Script("ci", subject, Line(text), technical=False)
