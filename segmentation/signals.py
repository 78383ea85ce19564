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

from segmentation.vocabulary import (
    _WORD,
    PROBLEM,
    TECH_TERMS,
    USAGE_TERMS,
    _t,
    find_phrases,
)

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

_TRAILER = re.compile(
    r"^\s*(?:Signed-off-by|Reviewed-by|Acked-by|Tested-by|Co-developed-by):[^<\n]*<[^@>\s]+@([^>\s]+)>",
    re.MULTILINE | re.IGNORECASE,
)


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
        and (flags & QUESTION or PROBLEM.search(lowered))
    ):
        # A question or a problem about using the application, with nothing technical in it.
        flags |= BASIC_QUESTION
    if not _THANKS_WORDS.isdisjoint(words):
        flags |= THANKS
    if _SOLVED.search(lowered, words):
        flags |= SOLVED
    tech = len(words & TECH_TERMS) if len(word_list) < 40 else sum(map(TECH_TERMS.__contains__, word_list))
    phrases = find_phrases(lowered, words)
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
