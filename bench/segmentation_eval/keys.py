"""Stable pseudonymous person keys for the segmentation evaluation set.

The labels in ``labels.jsonl`` must never carry a name or an address, yet the evaluator has to
find the same person again in the raw archives. Both sides therefore derive the key with the
functions below, and the format must stay exactly as written here:

* mail:       ``mail:`` + blake2b(lower-cased sender address, digest_size=8).hexdigest()
* Slack QA:   ``slackqa:<community>:`` + blake2b(user name, digest_size=8).hexdigest()
  where ``<community>`` is the folder name under ``slack-qa-chats/data`` (``clojurians``,
  ``elmlang``, ``racket``); the user name is taken as written in ``<user>``, not case-folded.
* Gitter:     ``gitter:<file stem>:`` + blake2b(user name, digest_size=8).hexdigest()
  where ``<file stem>`` is ``pathlib.Path(log_file).stem`` of the raw log, e.g.
  ``docker_docker_chatFormat.ascii`` for ``docker_docker_chatFormat.ascii.txt``; the user name is
  the text between ``<`` and ``>`` as written, not case-folded.

Strings are hashed as UTF-8. For a DMARC-rewritten list post (``From: X via linux-raid``) the
person is the ``Reply-To`` address, so that is the address to hash.
"""

from __future__ import annotations

from hashlib import blake2b


def _digest(text: str) -> str:
    return blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def mail_key(address: str) -> str:
    """Key of a mail sender; the address is lower-cased (and stripped) before hashing."""
    return "mail:" + _digest(address.strip().lower())


def slackqa_key(community: str, user: str) -> str:
    """Key of a Slack QA user within one community (folder name under ``data/``)."""
    return f"slackqa:{community}:" + _digest(user)


def gitter_key(file_stem: str, user: str) -> str:
    """Key of a Gitter user within one raw log, named by the log's ``Path.stem``."""
    return f"gitter:{file_stem}:" + _digest(user)
