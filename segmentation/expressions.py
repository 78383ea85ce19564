"""Segment expressions: a tiny, safe language over dimension values.

Managers write ``skill == 'technical' and org_type in ('isv', 'system_integrator')`` in
configuration. We parse it with Python's own parser but accept only comparisons of
dimension names with string literals joined by ``and``/``or``/``not`` — no calls, no
attributes, nothing that could run code — and reject anything else with a message that
names the offending part.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

from bot.core.errors import ConfigurationError
from segmentation.model import DIMENSIONS

Predicate = Callable[[Mapping[str, str]], bool]


class Expression:
    """A compiled segment expression; call ``matches(values)`` with a dimension → value mapping."""

    def __init__(self, source: str, *, names: tuple[str, ...] = DIMENSIONS) -> None:
        self.source = source
        self._names = names
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ConfigurationError(f"cannot parse segment expression {source!r}: {exc.msg}") from None
        self._predicate = self._compile(tree.body)
        self.dimensions = tuple(sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}))

    def matches(self, values: Mapping[str, str]) -> bool:
        return self._predicate(values)

    def _fail(self, node: ast.AST, why: str) -> ConfigurationError:
        part = ast.get_source_segment(self.source.strip(), node) or type(node).__name__
        return ConfigurationError(f"segment expression {self.source!r}: {why} at {part!r}")

    def _compile(self, node: ast.expr) -> Predicate:
        if isinstance(node, ast.BoolOp):
            parts = [self._compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda v: all(p(v) for p in parts)
            return lambda v: any(p(v) for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._compile(node.operand)
            return lambda v: not inner(v)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        raise self._fail(node, "only comparisons joined by and/or/not are allowed")

    def _compare(self, node: ast.Compare) -> Predicate:
        if len(node.ops) != 1:
            raise self._fail(node, "chained comparisons are not allowed")
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if not isinstance(left, ast.Name):
            raise self._fail(left, "the left side must be a dimension name")
        name = left.id
        if name not in self._names:
            raise self._fail(left, f"unknown dimension (known: {', '.join(self._names)})")
        if isinstance(op, ast.Eq | ast.NotEq):
            literal = self._string(right)
            if isinstance(op, ast.Eq):
                return lambda v: v.get(name, "unknown") == literal
            return lambda v: v.get(name, "unknown") != literal
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.Tuple | ast.List | ast.Set):
                raise self._fail(right, "'in' needs a list of strings")
            options = frozenset(self._string(e) for e in right.elts)
            if isinstance(op, ast.In):
                return lambda v: v.get(name, "unknown") in options
            return lambda v: v.get(name, "unknown") not in options
        raise self._fail(node, "only ==, !=, in and not in are allowed")

    def _string(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise self._fail(node, "values must be quoted strings")
