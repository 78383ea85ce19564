"""Per-message signals, table-driven: each row is a message and what it must (and must not) show."""

from __future__ import annotations

import pytest

from segmentation.signals import flag_names, message_signals

CASES = [
    # (own words, flags that must be present, flags that must be absent, phrases that must be present)
    ("```\nprint('hi')\n```", {"code"}, {"basic_question"}, set()),
    ("static int f(void) {\n  return 0;\n}", {"code"}, set(), set()),
    ("(defn inc2 [x]\n  (+ x 2))\n(def y 1)", {"code"}, set(), set()),
    ("Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'", {"trace"}, set(), set()),
    ("java.lang.IllegalStateException: boom\n\tat com.x.Y.run(Y.java:10)", {"trace"}, set(), set()),
    ("[  12.345] md: kicking sdb1\n[  12.346] md/raid:md0: degraded", {"log"}, set(), set()),
    ("[global]\nworkgroup = X\nsecurity = user\n", {"config"}, set(), set()),
    ("$ mdadm --detail /dev/md0", {"command"}, set(), set()),
    ('using "/set net_ping_timeout 0" seems to work', {"inline_code"}, set(), set()),
    ("call driver.findElement() then check my_var", {"inline_code"}, set(), set()),
    ("my_name is on the list", set(), {"inline_code"}, set()),
    ("How do I install the app on my phone?", {"question", "basic_question"}, {"code", "trace"}, set()),
    ("I'm not technical, where do I click to sync?", {"basic_question"}, set(), {"non_technical_self"}),
    ("Thanks a lot, that worked!", {"thanks", "solved"}, {"question"}, set()),
    ("We ship boards running this; our customers deploy them.", set(), set(), {"device_maker", "business"}),
    ("For my thesis at the university I measure latency.", set(), set(), {"academic"}),
    ("Just my home NAS, a hobby project in my spare time.", set(), set(), {"volunteer"}),
    ("We host customer VMs in our datacenter.", set(), set(), {"service_provider"}),
    ("Our product is built on your library.", set(), set(), {"isv"}),
    ("We deploy it for our customers as a system integrator.", set(), set(), {"system_integrator"}),
    ("I am the sysadmin; our IT department runs it internally.", set(), set(), {"end_user_org"}),
    ("We are a small startup of five people.", set(), set(), {"small_org"}),
    # Words that merely contain trigger letters must not fire.
    ("Party on the tyre shop rooftop as far as I know.", set(), {"thanks", "question"}, set()),
    ("", set(), {"code", "question", "thanks"}, set()),
]


@pytest.mark.parametrize(("text", "present", "absent", "phrases"), CASES)
def test_message_signals(text: str, present: set[str], absent: set[str], phrases: set[str]) -> None:
    s = message_signals(text)
    names = set(flag_names(s.flags))
    assert present <= names, f"missing {present - names} in {names}"
    assert not (absent & names), f"unexpected {absent & names}"
    assert phrases <= set(s.phrases), f"missing phrases {phrases - set(s.phrases)} in {s.phrases}"


def test_patch_counts_from_split_patch_lines_and_subject() -> None:
    assert "patch" in flag_names(message_signals("see below", patch_lines=12).flags)
    assert "patch" in flag_names(message_signals("v2 attached", subject="[PATCH v2 1/3] md: x").flags)
    assert "patch" not in flag_names(message_signals("no patch here").flags)


def test_huge_and_hostile_text_is_bounded(shared_data) -> None:
    import json

    strings = json.loads((shared_data / "bad-input" / "blns.json").read_text(encoding="utf-8"))
    for s in strings:
        message_signals(s)
    message_signals("x" * 5_000_000)  # scanned up to a bound, no blow-up
    message_signals("(a+)+$" * 1000 + "\n" * 1000)


@pytest.mark.parametrize(("text", "present", "absent", "phrases"), CASES)
def test_is_question_agrees_with_the_full_signals(
    text: str, present: set[str], absent: set[str], phrases: set[str]
) -> None:
    from segmentation.signals import QUESTION, is_question

    assert is_question(text) == bool(message_signals(text).flags & QUESTION)
