"""Reading job titles and signatures: who someone says they are and where they work."""

from __future__ import annotations

import re

_TECH_TITLE = re.compile(
    r"\b(?:engineer(?:ing)?|developer|programmer|hacker|maintainer|sys ?admin|system administrator|devops|"
    r"sre|architect|cto|kernel|firmware|software|backend|frontend|full[- ]?stack|embedded|data scientist|"
    r"technical lead|tech lead|admin(?:istrator)?|coder|security researcher|committer)\b",
    re.IGNORECASE,
)
_NON_TECH_TITLE = re.compile(
    r"\b(?:marketing|sales|account (?:manager|executive)|recruiter|hr|human resources|designer|"
    r"community manager|office manager|accountant|lawyer|attorney|journalist|writer|editor|teacher|"
    r"customer success|business development|operations manager)\b",
    re.IGNORECASE,
)
_BUSINESS_TITLE = re.compile(
    r"\b(?:ceo|cto|cio|coo|founder|co-founder|director|manager|vp|vice president|head of|consultant|"
    r"principal|partner|owner|president|engineer|developer|architect|administrator|analyst)\b",
    re.IGNORECASE,
)
_ACADEMIC_TITLE = re.compile(
    r"\b(?:professor|prof\.|ph\.?d\.?(?: student| candidate)?|doctoral|postdoc|post-doc|lecturer|"
    r"research(?:er| scientist| fellow| assistant)|student|graduate|undergrad|faculty|university|"
    r"universit[äa]t|institute|department of|dept\. of|school of|college|laborator(?:y|ies)|lab)\b",
    re.IGNORECASE,
)
# Legal forms. Long ones in any case; short ones only as written (so "as" and "ab" stay words).
_COMPANY_SUFFIX = re.compile(
    r"\b(?:[Ii]nc|INC|LLC|[Ll]lc|[Ll]td|LTD|[Ll]imited|GmbH|GMBH|[Cc]orp|[Cc]orporation|PLC|[Pp]lc|[Pp]ty|"
    r"S\.p\.A|S\.r\.l|SRL|Kft|AG|AB|AS|A/S|SA|S\.A|SAS|S\.A\.S|BV|B\.V|NV|N\.V|KK|K\.K|Oy|Oyj|SE)\b\.?"
)
_ORG_LINE = re.compile(r"^\s*organi[sz]ation:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def technical_title(text: str) -> str | None:
    m = _TECH_TITLE.search(text)
    return m.group(0) if m else None


def non_technical_title(text: str) -> str | None:
    if _TECH_TITLE.search(text):
        return None
    m = _NON_TECH_TITLE.search(text)
    return m.group(0) if m else None


def business_title(text: str) -> str | None:
    m = _BUSINESS_TITLE.search(text)
    return m.group(0) if m else None


def academic_title(text: str) -> str | None:
    m = _ACADEMIC_TITLE.search(text)
    return m.group(0) if m else None


def company_in(text: str) -> str | None:
    """A company named in a signature: an ``Organization:`` line or a legal suffix like GmbH or Inc."""
    m = _ORG_LINE.search(text)
    if m and not _ACADEMIC_TITLE.search(m.group(1)):
        return m.group(1).strip()[:80]
    m = _COMPANY_SUFFIX.search(text)
    if m:
        start = max(0, m.start() - 40)
        return text[start : m.end()].strip()[-80:]
    return None
