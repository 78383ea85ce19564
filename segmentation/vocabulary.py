"""Vocabulary: the words and phrases that give a message away, and the cheap guards around them.

Kept apart from ``signals`` so the lists can grow (and be reviewed) without touching the
scanning code. Every pattern is a ``Trigger``: a regular expression that runs only when
one of its trigger words is among the message's words, which keeps the cost per message
flat however many phrases there are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trigger:
    """A regular expression guarded by words (or literal fragments) that must occur for it to match.

    Word triggers are tested against the message's set of words, one C-level set
    intersection; fragments (``?``, ``Traceback``) with a substring test. Both are far
    cheaper than a regular expression with dozens of alternatives, which then runs on few
    messages. ``requires`` adds a second word set that must also meet the message
    ("we"/"our" *and* a hardware word), for phrases built of two common words.
    """

    words: frozenset[str]
    fragments: tuple[str, ...]
    pattern: re.Pattern[str]
    requires: frozenset[str] = frozenset()

    def search(self, text: str, words: frozenset[str]) -> bool:
        if self.words.isdisjoint(words) and not any(f in text for f in self.fragments):
            return False
        if self.requires and self.requires.isdisjoint(words):
            return False
        return self.pattern.search(text) is not None


def _t(triggers: str, pattern: str, flags: int = 0, *, requires: str = "") -> Trigger:
    """Triggers: space-separated words; items starting with ``~`` are substrings instead."""
    items = triggers.split()
    return Trigger(
        words=frozenset(i for i in items if not i.startswith("~")),
        fragments=tuple(i[1:].replace("_", " ") for i in items if i.startswith("~")),
        pattern=re.compile(pattern, flags),
        requires=frozenset(requires.split()),
    )


_TECH_TERMS_TEXT = """
api apis abi compile compiler compiled compiling linker kernel module modules driver drivers
firmware bios uefi syscall ioctl mutex spinlock semaphore thread threads threading async await
callback callbacks closure lambda regex regexp parser lexer ast bytecode jit runtime stack malloc
pointer pointers segfault struct enum typedef macro macros generics interface inheritance refactor
refactoring commit commits rebase branch merge upstream downstream patch patches diff bisect
cherry-pick repo repos repository github gitlab bitbucket pr build builds toolchain makefile cmake
gcc clang llvm rustc cargo npm pip virtualenv venv conda yarn maven gradle webpack babel eslint
linter lint dependency dependencies library libraries sdk framework frameworks endpoint endpoints
json yaml xml toml csv http https tcp udp ip dns ssl tls ssh socket sockets nginx apache latency
throughput benchmark benchmarks profiler profiling debug debugging debugger gdb strace valgrind
backtrace traceback exception exceptions null nullptr undefined typeerror namespace namespaces repl
function functions method methods variable variables argument arguments arg args parameter
parameters param params immutable mutable recursion recursive iterators hashmap typed typing
compile-time runtime-error monad monads functor typeclass decoder decoders encoder encode decode
serialization serialize raid mdadm superblock resync reshape degraded lvm luks dm-crypt filesystem
filesystems ext4 xfs btrfs zfs inode fsck blk bio nvme sata scsi hba lba mkfs fstab udev systemd
initramfs grub dracut kvm qemu virtio docker dockerfile compose container containers kubernetes k8s
pod pods helm ci cd jenkins travis deploy deployment deployments sql query queries schema migration
migrations postgres postgresql mysql sqlite mongodb redis transaction transactions orm indexes
database databases db clojure clojurescript leiningen lein deps.edn elm haskell racket scheme lisp
typescript javascript python java rust golang kotlin scala swift c++ c# jvm nodejs react vue angular
css html dom frontend backend webview selenium appium xcode uiautomator adb emulator simulator oauth
jwt auth cors websocket websockets rest graphql grpc localhost unix linux bash zsh powershell cli
stdout stderr stdin thread-safe concurrency parallelism async/await coroutine coroutines config
configuration shell port ports proxy daemon metadata sector sectors bitmap chunk stripe parity
interfaces template templates pipeline pipelines cpu gpu cache caching terminal syntax array arrays
boolean integer float tuple tuples dict vector vectors heap generator generators iterator fork
forked branches merged lib libs ios macos automation unicode utf-8 encoding binary binaries
executable
"""
#: Words of using an application rather than building one: its screens, buttons and account.
_USAGE_TERMS_TEXT = (
    "click clicked clicking menu button buttons settings setting window font notification notifications "
    "account login password mention mentions send sent sending picture photo photos delete deleted edit "
    "profile app install installed uninstall download downloaded screen icon tab page phone tablet "
    "sync upload share theme dark mode message messages post posts chat room rooms"
)
USAGE_TERMS: frozenset[str] = frozenset(_USAGE_TERMS_TEXT.split())
PROBLEM = re.compile(
    r"\b(?:can'?t|cannot|can not|could not|couldn'?t|unable to|not able to|doesn'?t work|does not work|"
    r"won'?t|not working|trying to figure out|how (?:do|can|to)|where (?:is|are|do|can))\b"
)
#: Words that builders of software use and most other people rarely do.
TECH_TERMS: frozenset[str] = frozenset(_TECH_TERMS_TEXT.split())
_WORD = re.compile(r"[a-z][a-z0-9+#-]*[a-z0-9+#]|[a-z]")

_WE = "we our us i'm"
#: Self-descriptions: phrases people use about themselves and their organisation (lower-cased text).
#: Each category may have several guarded patterns; any one matching counts.
PHRASES: dict[str, tuple[Trigger, ...]] = {
    "business": (
        _t(
            "customer customers client clients company business product products employer production "
            "enterprise devs engineers developers ops",
            r"\b(?:our (?:customers?|clients?|company|business|products?|employer|team at|"
            r"production (?:systems?|servers?|environment)|enterprise|devs|engineers|developers|ops team)|"
            r"for a (?:customer|client)|customers?'s?|clients?'s?)\b",
            requires=_WE + " a",
        ),
        _t(
            "work job employer company boss manager production commercial enterprise sla sell ship "
            "offer provide service",
            r"\b(?:at (?:my |our )?(?:work|job|company|employer|office)|"
            r"my (?:employer|company|boss|manager|job)|"
            r"in production|we (?:sell|ship|offer|provide) |(?:commercial|enterprise) (?:support|customers?|"
            r"product|version|license)|service level agreement|sla)\b",
        ),
        _t(
            "team colleague colleagues coworker coworkers co-worker internship intern hiring job work "
            "workplace codebase app production",
            r"\b(?:(?:my|our) (?:team|teams|colleagues?|co-?workers?|company'?s?|boss|employer|codebase|"
            r"app|apps|product|production)|at (?:my )?work|work project|internship|intern at|"
            r"we(?:'re| are) hiring|my (?:day )?job|in our production|our (?:dev|qa|test) team)\b",
        ),
    ),
    "volunteer": (
        _t(
            "hobby hobbyist homelab home lab personal side spare fun own desktop workstation gaming media "
            "plex family wife kids learning free retired",
            r"\b(?:hobby|hobbyist|homelab|home ?lab|at home|"
            r"my home (?:server|nas|network|lab|machine|pc|setup)|"
            r"home (?:nas|server|media server|setup)|personal (?:project|use|server|machine)|side project|"
            r"spare time|for fun|just for me|my own (?:machine|pc|computer|box|server|nas)|"
            r"my (?:desktop|workstation|gaming pc|media server|plex)|family photos|my wife'?s|my kids'?|"
            r"learning (?:clojure|elm|racket|python|rust|to code|programming)|in my free time|retired)\b",
        ),
        _t(
            "myself self-taught portfolio learning fun own personal",
            r"\b(?:teaching myself|self-taught|my portfolio|i'?m (?:just )?learning|"
            r"for my own (?:use|project)|my (?:personal|pet|toy) project|just for fun)\b",
        ),
    ),
    "academic": (
        _t(
            "thesis dissertation phd ph supervisor advisor professor student students class course homework "
            "assignment research lab university universität universitat college academic postdoc lecturer "
            "undergrad teaching grad",
            r"\b(?:my (?:thesis|dissertation|phd|ph\.d\.|supervisor|advisor|professor|students?|class|course|"
            r"homework|assignment|research)|our (?:lab|research (?:group|lab|project)|university|department|"
            r"students)|phd (?:student|candidate)|postdoc|research(?:er| group| project| paper)|professor|"
            r"lecturer|university|universit[äa]t|college|for (?:a|my|our) (?:class|course|paper)|academic|"
            r"grad student|undergrad|teaching)\b",
        ),
        _t(
            "homework quiz exam exams class classes course courses teach students school assignment semester "
            "lecture",
            r"\b(?:homework|quiz|exams?|my class|our class|in class|course ?work|i teach|my students|"
            r"school project|assignments?|semester|lectures?)\b",
        ),
    ),
    "device_maker": (
        _t(
            "boards board firmware hardware devices device soc socs chip chips silicon appliance appliances "
            "controller controllers hba asic fpga storage nas servers",
            r"\b(?:we (?:ship|build|make|design|manufacture|sell) (?:boards?|devices?|hardware|appliances?|"
            r"controllers?|chips?|servers?|storage (?:systems?|arrays?|appliances?)|nas (?:boxes|devices|"
            r"products))|our (?:boards?|firmware|hardware|devices?|soc|socs|chips?|silicon|appliances?|"
            r"controllers?|hba|asic|fpga|storage (?:products?|appliances?|arrays?))|"
            r"we ship (?:about |around |over )?[\d,.]+ ?k? (?:units|devices|boards)|"
            r"our (?:\w+ ){1,3}(?:boards?|devices?|appliances?|routers?|gateways?|hardware))\b",
            requires=_WE,
        ),
        _t(
            "oem odm bsp chipmaker ~board_support ~hardware_vendor ~chip_maker ~embedded",
            r"\b(?:oem|odm|bsp|board support package|hardware vendor|chip ?maker|"
            r"embedded (?:product|device|system)s? we)\b",
        ),
    ),
    "isv": (
        _t(
            "product software application app saas platform sdk tool solution licenses licences",
            r"\b(?:our (?:product|software|application|app|saas|platform|sdk|tool|solution) (?:is |was )?"
            r"(?:built|based|running|runs) on|our (?:software|product|application) (?:uses|embeds|bundles|"
            r"ships with)|we (?:develop|build|sell|make) (?:a |an |our )?(?:software|product|application|app|"
            r"saas|platform|backup (?:software|product)|storage software)|our (?:saas|sdk|licen[cs]es?))\b",
            requires=_WE,
        ),
        _t("isv vendor", r"\b(?:software vendor|isv)\b"),
    ),
    "system_integrator": (
        _t(
            "integrator integrators integration consulting consultancy consultant managed",
            r"\b(?:(?:system|systems) integrat(?:or|ion)|integrator|consult(?:ing|ancy|ant)|"
            r"managed (?:services|it))\b",
        ),
        _t(
            "customers clients customer client",
            r"\b(?:we (?:deploy|install|integrate|set up|build|maintain) (?:\w+ ){0,3}for (?:our )?"
            r"(?:customers|clients)|our (?:customers?|clients?)'? (?:deployments?|sites?|systems?|servers?|"
            r"installations?|setups?|arrays?)|for (?:a |one of our )?(?:customer|client)s?'? "
            r"(?:site|deployment|project))\b",
            requires=_WE + " for",
        ),
    ),
    "service_provider": (
        _t(
            "host cloud hosting data datacenter datacentre isp network subscribers tenants vps colo users",
            r"\b(?:we host|our (?:cloud|hosting|data ?cent(?:er|re)s?|isp|network|subscribers|tenants|"
            r"hosting (?:platform|customers)|vps|colo)|our (?:users'|customers') (?:data|vms|servers))\b",
            requires=_WE,
        ),
        _t(
            "hosting provider telco operator carrier vps colocation",
            r"\b(?:hosting (?:provider|company|service)|cloud provider|telco|mobile operator|"
            r"network operator|"
            r"carrier|managed hosting|vps|colocation)\b",
        ),
    ),
    "end_user_org": (
        _t(
            "it internal office employees staff file mail backup servers company school hospital bank",
            r"\b(?:our (?:it (?:department|team|staff)|internal (?:systems?|servers?|tools?)|office|"
            r"employees|"
            r"staff|file ?server|mail ?server|backup server|servers at work)|at work we (?:use|run|have)|"
            r"our (?:company|office|school|hospital|bank) (?:uses|runs|has))\b",
            requires=_WE,
        ),
        _t(
            "sysadmin administrator admin manager",
            r"\b(?:(?:i'?m|i am|as) (?:a |the )?(?:sysadmin|system administrator|it admin|it manager))\b",
        ),
    ),
    "small_org": (
        _t(
            "small startup start-up team one-man two-person few employees shop people devs developers",
            r"\b(?:(?:we are|we're|i work (?:at|for)|our) (?:a |the )?(?:small|tiny) (?:company|team|startup|"
            r"business|shop|firm)|start-?up|small business|small shop|team of (?:two|three|four|five|\d+)\b|"
            r"(?:we(?:'re| are) |company of |here, )(?:\d{1,2}|two|three|four|five|six|seven|eight|nine|ten) "
            r"(?:people|employees|devs|developers)\b|"
            r"one-man|two-person|few employees)\b",
        ),
    ),
    "large_org": (
        _t(
            "fortune multinational thousands large global big enterprise",
            r"\b(?:fortune (?:500|100)|multinational|thousands of (?:servers|employees|machines|nodes)|"
            r"(?:a |our )?(?:large|global|big) (?:enterprise|corporation|company|organi[sz]ation))\b",
        ),
    ),
    "non_technical_self": (
        _t(
            "technical programmer developer coder techie savvy layman",
            r"\b(?:i(?:'m| am) not (?:a |very )?(?:technical|programmer|developer|coder|techie|tech[- ]savvy|"
            r"computer (?:person|expert))|non[- ]technical|not a (?:programmer|developer|coder)|layman)\b",
        ),
    ),
}


# The author's own trailers on patches and reviews: where employers show even from free-mail.
def _index_phrases() -> tuple[dict[str, list[tuple[int, str, Trigger]]], list[tuple[int, str, Trigger]]]:
    """Word -> the phrase triggers it can set off, so a message only tries the patterns its words allow."""
    by_word: dict[str, list[tuple[int, str, Trigger]]] = {}
    by_fragment: list[tuple[int, str, Trigger]] = []
    order = 0
    for name, triggers in PHRASES.items():
        for trigger in triggers:
            entry = (order, name, trigger)
            order += 1
            for word in trigger.words:
                by_word.setdefault(word, []).append(entry)
            if trigger.fragments:
                by_fragment.append(entry)
    return by_word, by_fragment


_PHRASE_WORDS, _PHRASE_FRAGMENTS = _index_phrases()
_PHRASE_TRIGGER_WORDS = frozenset(_PHRASE_WORDS)


def find_phrases(lowered: str, words: frozenset[str]) -> tuple[str, ...]:
    candidates: dict[int, tuple[str, Trigger]] = {}
    for word in words & _PHRASE_TRIGGER_WORDS:
        for order, name, trigger in _PHRASE_WORDS[word]:
            candidates[order] = (name, trigger)
    for order, name, trigger in _PHRASE_FRAGMENTS:
        if order not in candidates and any(f in lowered for f in trigger.fragments):
            candidates[order] = (name, trigger)
    found: dict[str, None] = {}
    for order in sorted(candidates):
        name, trigger = candidates[order]
        if name in found:
            continue
        if trigger.requires and trigger.requires.isdisjoint(words):
            continue
        if trigger.pattern.search(lowered) is not None:
            found[name] = None
    return tuple(found)
