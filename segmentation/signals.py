"""Per-message signals: what one message, in the author's own words, says about its author.

Pure and fast: it runs once per message over archives of millions of messages. Each
pattern carries literal trigger words, and the regular expression runs only when one of
them occurs in the message (a substring test is a hundred times cheaper than a regex
with many alternatives). Only the author's own words come in — quoted text, patches and
signatures were split off at the edge — which keeps a member who merely quotes a stack
trace from being taken for its author.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Bit flags, so a message's signals fit in one small integer when stored or shipped between processes.
CODE = 1 << 0
TRACE = 1 << 1
LOG = 1 << 2
PATCH = 1 << 3
CONFIG = 1 << 4
COMMAND = 1 << 5
QUESTION = 1 << 6
BASIC_QUESTION = 1 << 7
THANKS = 1 << 8
SOLVED = 1 << 9
INLINE_CODE = 1 << 10

FLAG_NAMES: dict[int, str] = {
    CODE: "code",
    TRACE: "trace",
    LOG: "log",
    PATCH: "patch",
    CONFIG: "config",
    COMMAND: "command",
    QUESTION: "question",
    BASIC_QUESTION: "basic_question",
    THANKS: "thanks",
    SOLVED: "solved",
    INLINE_CODE: "inline_code",
}

TECHNICAL_FLAGS = CODE | TRACE | LOG | PATCH | CONFIG | COMMAND | INLINE_CODE

# Code inside prose: `backticks`, calls like foo(), snake_case, camelCase, --flags, paths
# and file names. Two of them in one message is how programmers write, not others. Each
# kind has a cheap literal guard so most messages never run its pattern.
_INLINE_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("`", re.compile(r"`[^`\n]{2,80}`")),
    ("(", re.compile(r"\b[A-Za-z_]\w*\([^()\n]{0,40}\)")),
    ("_", re.compile(r"\b[a-z]+_[a-z_0-9]+\b")),
    ("--", re.compile(r"(?<![\w-])--[a-z][a-z-]+\b")),
    ("/", re.compile(r"(?<![\w.:/])(?:/[\w.-]+){2,}")),
    (
        ".",
        re.compile(
            r"\.(?:py|js|ts|c|h|cpp|go|rs|java|json|yaml|yml|toml|xml|cfg|conf|sh|clj|elm|rkt|html|css|jsx|tsx|rb|"
            r"php|ini|log)\b"
        ),
    ),
)
_CAMEL_HINT = re.compile(r"[a-z][A-Z]")
_CAMEL = re.compile(r"\b[a-z]+[A-Z][a-zA-Z0-9]+\b")


def _inline_code(text: str) -> bool:
    found = 0
    for guard, pattern in _INLINE_KINDS:
        if guard in text:
            for m in pattern.finditer(text):
                # A name with two underscores (net_ping_timeout) is a setting or a variable on its own.
                found += 2 if guard == "_" and m.group().count("_") >= 2 else 1
                if found >= 2:
                    return True
    if _CAMEL_HINT.search(text):
        for _ in _CAMEL.finditer(text):
            found += 1
            if found >= 2:
                return True
    return False


#: Characters read for words and conversation; technical content is looked for in all of MAX_SCAN.
_TALK_SCAN = 4000
#: Longest text scanned per message; a pasted 1 MB log says nothing more than its first 20 kB.
MAX_SCAN = 20_000


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


_CODE_STARTS = (
    "def ",
    "class ",
    "import ",
    "from ",
    "return ",
    "static ",
    "struct ",
    "typedef ",
    "public ",
    "private ",
    "func ",
    "fn ",
    "let ",
    "const ",
    "var ",
    "#include",
    "#define",
    "package ",
    "module ",
    "elif ",
    "except ",
    "raise ",
    "yield ",
    "async def",
    "(defn ",
    "(def ",
    "(ns ",
    "(require ",
    "(define ",
    "if (",
    "for (",
    "while (",
    "} else",
    "int ",
    "void ",
    "char ",
    "unsigned ",
    "printf(",
    "console.log",
    "fmt.",
    "std::",
    "System.out",
    "type ",
    "@",
    "main =",
    "view ",
    "update msg",
)
_CODE_ENDS = (";", "{", "}", "};", "})", "});", "):", "=>", ") {", "->")

#: Unmistakable pieces of crash output, as they appear in the text (case matters).
_TRACE_LITERALS = (
    "Traceback (most recent call last)",
    "Exception in thread",
    "Call Trace:",
    "BUG: ",
    "kernel panic",
    "Kernel panic",
    "panic: ",
    "Segmentation fault",
    "SIGSEGV",
    "core dumped",
    "stack trace",
    "Stack trace",
    "backtrace",
    "Backtrace",
    "NullPointerException",
    "Oops: ",
)
_TRACE_PATTERNS = (
    _t("~\tat_ ~____at_", r"^\s+at [\w.$<>/]+\(.*\)\s*$", re.MULTILINE),
    _t('~File_"', r'^\s*File "[^"]+", line \d+', re.MULTILINE),
    _t(
        "~:_error ~:_warning ~error: ~warning:",
        r"\.(?:c|cc|cpp|h|py|go|rs|java|js|ts|clj|elm|rkt):\d+(?::\d+)?:? (?:error|warning)",
    ),
    _t("~Error:_ ~Exception:_", r"^[\w.]*(?:Error|Exception): ", re.MULTILINE),
)


# Any literal or guard fragment above: one C-level scan that most messages fail at once.
_TRACE_HINT = re.compile(
    "|".join(re.escape(x) for x in (*_TRACE_LITERALS, *(f for p in _TRACE_PATTERNS for f in p.fragments)))
)


def _has_trace(text: str, words: frozenset[str]) -> bool:
    hint = _TRACE_HINT.search(text)
    if hint is None:
        return False
    if hint.group() in _TRACE_LITERAL_SET:
        return True
    for literal in _TRACE_LITERALS:
        if literal in text:
            return True
    return any(p.search(text, words) for p in _TRACE_PATTERNS)


_TRACE_LITERAL_SET = frozenset(_TRACE_LITERALS)


# Matched against one stripped line at a time (anchored at its start, so each try is cheap).
_LOG_LINE = re.compile(
    r"\[\s*\d+\.\d+\]|\w{3}\s+\d+\s+\d\d:\d\d:\d\d\s|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|"
    r"\[?(?:INFO|WARN|WARNING|ERROR|DEBUG|FATAL)[:\] ]|"
    r"(?:md|mdadm|sd \d|ata\d+|nvme\d|blk_update_request|EXT4-fs|XFS|btrfs|kernel)[:( /]|"
    r"(?:Personalities|md\d+ :|unused devices:)|/dev/\w+:|"
    r"(?:State|Raid Level|Array Size|Events|Update Time|Used Dev Size|Raid Devices) :"
)
_CONFIG_LINE = re.compile(
    r"\[[\w .:-]+\]$|[\w.-]+\s*=\s*\S+$|[\w.-]+:\s+\S+$|<\w+(?:\s[^>]*)?>[^<]*</\w+>$|"
    r"(?:ARRAY|DEVICE|MAILADDR|HOMEHOST)\s+\S"
)
_COMMAND = re.compile(
    r"^\s*(?:[$#%]|\w+@[\w.-]+[:~\w/]*[$#])\s+\S|"
    r"^\s*(?:sudo|apt(?:-get)?|yum|dnf|pacman|pip3?|npm|yarn|cargo|go|git|docker|kubectl|make|cmake|gcc|"
    r"clang|mdadm|lsblk|blkid|fdisk|parted|smartctl|mount|umount|mkfs\.\w+|cat|grep|dd|systemctl|"
    r"journalctl|dmesg|lein|clj|elm|raco|python3?|node|mvn|gradle|curl|wget|ssh|chmod|chown|ls|cd|"
    r"echo|export)\s+[-\w./]",
    re.MULTILINE,
)

# ---- Conversation. Patterns on lower-cased text. ----
_QUESTION_MARK = re.compile(r"\?(?:\s|$)")
_QUESTION = _t(
    "how anyone any possible way someone somebody help stuck confused why",
    r"\?\s*(?:$|\n)|\b(?:how (?:do|can|should|would) (?:i|we|you)|is (?:it|there) (?:possible|a way)|"
    r"does anyone|anyone (?:know|seen|tried)|any (?:idea|ideas|advice|hints?|pointers?)|"
    r"what(?:'s| is) the (?:best|right|correct) way|can (?:someone|somebody|anyone)|please help|help me|"
    r"i(?:'m| am) (?:stuck|confused|lost)|why (?:does|is|do|doesn't|isn't|won't))\b",
    re.MULTILINE,
)
# Questions as people who do not build software ask them: installing, clicking, their phone.
_BASIC = _t(
    "install download click button phone iphone android tablet mac laptop app technical new step "
    "newbie noob beginner dummies unable log sign find where",
    r"\b(?:how (?:do|can) i (?:install|download|use|set ?up|sync|update|upgrade|log ?in|sign ?up|find|"
    r"get|open|start|uninstall|connect|change|enable|turn)|where (?:do|can) i (?:find|download|click|get)|"
    r"i(?:'m| am) (?:not (?:a )?(?:technical|programmer|developer|techie|computer person)|"
    r"new to (?:this|computers|linux))|non[- ]technical|(?:which|what) button|click(?:ed|ing)? (?:on|the)|"
    r"my (?:phone|iphone|android|tablet|mac|windows pc|laptop) (?:won't|doesn't|does not|can't|cannot|isn't)|"
    r"the app (?:won't|doesn't|keeps|crashes|is)|step[- ]by[- ]step|for dummies|newbie question|"
    r"noob question|total beginner|complete beginner|"
    r"(?:can't|cannot|unable to) (?:log ?in|sign ?in|find the|install))\b",
)
_THANKS_WORDS = frozenset(
    [
        "thanks",
        "thank",
        "thx",
        "ty",
        "tia",
        "appreciated",
        "danke",
        "merci",
        "gracias",
        "grazie",
        "obrigado",
        "obrigada",
        "spasibo",
    ]
)
_SOLVED = _t(
    "worked fixed did solved helped works was right good resolved",
    r"\b(?:that (?:worked|fixed it|did it|solved it|helped)|(?:it )?works now|"
    r"(?:problem |issue )?(?:is )?solved|fixed it|that was it|you(?:'re| are) right,? (?:it|that)|"
    r"all good now|resolved now)\b",
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
_PROBLEM = re.compile(
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
_TRAILER = re.compile(
    r"^\s*(?:Signed-off-by|Reviewed-by|Acked-by|Tested-by|Co-developed-by):[^<\n]*<[^@>\s]+@([^>\s]+)>",
    re.MULTILINE | re.IGNORECASE,
)


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


def _phrases(lowered: str, words: frozenset[str]) -> tuple[str, ...]:
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


@dataclass(frozen=True, slots=True)
class MessageSignals:
    """What one message shows: bit flags, technical-term hits and self-description categories."""

    flags: int
    tech_terms: int
    words: int
    phrases: tuple[str, ...]
    trailer_domains: tuple[str, ...] = ()

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)


def _line_flags(text: str) -> int:
    """One pass over the lines: two code-like, two log-like or three config-like lines set a flag."""
    code = log = config = 0
    flags = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or len(line) > 300:
            continue
        if code < 2 and (line.startswith(_CODE_STARTS) or line.endswith(_CODE_ENDS)):
            code += 1
            if code == 2:
                flags |= CODE
        if log < 2 and _LOG_LINE.match(line):
            log += 1
            if log == 2:
                flags |= LOG
        if config < 3 and _CONFIG_LINE.match(line):
            config += 1
            if config == 3:
                flags |= CONFIG
    return flags


def _at_least(pattern: re.Pattern[str], text: str, n: int) -> bool:
    return any(found >= n for found, _ in enumerate(pattern.finditer(text), start=1))


def message_signals(
    own: str, *, patch_lines: int = 0, subject: str | None = None, signature: str = ""
) -> MessageSignals:
    """Signals of one message from the author's own words (plus the size of any patch they sent).

    The signature is read only for sign-off trailers, which the mail parser keeps there.
    """
    flags = 0
    text = own if len(own) <= MAX_SCAN else own[:MAX_SCAN]
    if patch_lines > 0 or "diff --git" in text or (subject is not None and "[PATCH" in subject.upper()):
        flags |= PATCH
    if not text and not signature:
        return MessageSignals(flags=flags, tech_terms=0, words=0, phrases=())
    multiline = "\n" in text
    # Words and conversation (questions, thanks, self-descriptions) show in the first few
    # thousand characters; scanning a long mail to its end only costs time.
    lowered = (text if len(text) <= _TALK_SCAN else text[:_TALK_SCAN]).lower()
    word_list = _WORD.findall(lowered)
    words = frozenset(word_list)
    if "```" in text:
        flags |= CODE
    if multiline:
        flags |= _line_flags(text)
    if _has_trace(text, words):
        flags |= TRACE
    if _COMMAND.search(text):
        flags |= COMMAND
    if _inline_code(text):
        flags |= INLINE_CODE
    basic = _BASIC.search(lowered, words)
    if basic or _asks(lowered, words):
        flags |= QUESTION
    if basic:
        flags |= BASIC_QUESTION
    elif (
        not flags & TECHNICAL_FLAGS
        and not words.isdisjoint(USAGE_TERMS)
        and words.isdisjoint(TECH_TERMS)
        and (flags & QUESTION or _PROBLEM.search(lowered))
    ):
        # A question or a problem about using the application, with nothing technical in it.
        flags |= BASIC_QUESTION
    if not _THANKS_WORDS.isdisjoint(words):
        flags |= THANKS
    if _SOLVED.search(lowered, words):
        flags |= SOLVED
    tech = len(words & TECH_TERMS) if len(word_list) < 40 else sum(map(TECH_TERMS.__contains__, word_list))
    phrases = _phrases(lowered, words)
    trailers: tuple[str, ...] = ()
    signed = f"{text}\n{signature}" if signature else text
    if "-by:" in signed or "-By:" in signed:
        trailers = tuple(sorted({d.lower().rstrip(".") for d in _TRAILER.findall(signed)}))
    return MessageSignals(
        flags=flags, tech_terms=tech, words=len(word_list), phrases=phrases, trailer_domains=trailers
    )


def _asks(lowered: str, words: frozenset[str]) -> bool:
    return _QUESTION_MARK.search(lowered) is not None or _QUESTION.search(lowered, words)


def is_question(own: str) -> bool:
    """Exactly the QUESTION flag of ``message_signals``, at a fraction of the cost: what a reply
    needs to know about the message it answers."""
    lowered = (own if len(own) <= _TALK_SCAN else own[:_TALK_SCAN]).lower()
    words = frozenset(_WORD.findall(lowered))
    return _asks(lowered, words) or _BASIC.search(lowered, words)


def flag_names(flags: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES.items() if flags & bit]
