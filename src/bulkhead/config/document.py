"""Read the bytes of bulkhead.yaml into plain data, bounded in size, depth and expansion.

A spec is small, but whoever writes it may be careless or hostile, and plain
``yaml.safe_load`` trusts it: ten lines of nested aliases expand into billions of values
(a rendered config of gigabytes, an error message that eats all memory), deep nesting
ends in a RecursionError, and odd scalars (a 5,000-digit number, the date 2024-13-45)
escape as tracebacks. So the document is checked at each stage before it can grow:

- the file: at most ``MAX_BYTES``, read without trusting its size (``/dev/zero`` too),
  and UTF-8, or a line saying where it is not;
- while it is parsed: at most ``MAX_DEPTH`` levels of nesting and ``MAX_NODES`` values;
  a key written twice in one mapping is refused (YAML would keep the last in silence);
- before any Python object exists: the parsed graph, with every alias counted as the
  copy it becomes, must stay within ``MAX_NODES`` values, ``MAX_TEXT`` characters of
  text and ``MAX_DEPTH`` levels; an alias that contains itself is refused.

Every refusal is a ``SpecError`` of one line that names the line of the file, never a
snippet of it: the snippet might be the line that holds a misplaced secret.

libyaml's parser reads the events when PyYAML has it (about 4x faster on a hostile
file), PyYAML's own otherwise; both feed the same counting composer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml._yaml import CParser

    HAVE_LIBYAML = True
except ImportError:  # PyYAML built without libyaml: the pure-Python parser does the same
    HAVE_LIBYAML = False

from bulkhead.config.problems import HIDDEN_KEY, SENSITIVE_KEYS, SpecError, one_line, shown

#: largest spec file read; a fleet of 100 fully commented bots takes about 170 KiB
MAX_BYTES = 256 * 1024
#: deepest nesting, counting the document and a scalar as levels; the example needs 6
MAX_DEPTH = 32
#: most values (keys, scalars, lists, mappings) once every alias is expanded; the
#: example's bot is 85, so this leaves room for hundreds of bots and their params
MAX_NODES = 50_000
#: most characters of scalar text once every alias is expanded
MAX_TEXT = 1024 * 1024
#: longest number written in the spec; longer ones cost quadratic time to convert
MAX_NUMBER_CHARS = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_spec_bytes(path: Path) -> bytes:
    """The file's bytes, reading at most one byte past ``MAX_BYTES`` whatever it claims."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise SpecError([f"cannot read ({error.strerror or type(error).__name__})"]) from None
    if len(data) > MAX_BYTES:
        raise SpecError(
            [f"larger than {MAX_BYTES // 1024} KiB, the most a spec may be: refused unread"]
        )
    return data


def load_document(data: bytes, loader_class: type[Any] | None = None) -> Any:
    """Plain data (dicts, lists, scalars) from a spec's bytes, or a one-line ``SpecError``.

    ``loader_class`` is for tests that hold both loaders to the same rules.
    """
    if len(data) > MAX_BYTES:
        raise SpecError([f"larger than {MAX_BYTES // 1024} KiB, the most a spec may be"])
    text = _decode(data)
    try:
        return _compose_and_construct(text, loader_class or LOADERS[0])
    except SpecError:
        raise
    except yaml.MarkedYAMLError as error:
        raise SpecError([_marked_problem(error)]) from None
    except ReaderError as error:
        line, column = _position(text, error.position)
        raise SpecError(
            [
                f"not valid YAML: character #x{error.character:04x} at line {line}, "
                f"column {column} is not allowed in YAML"
            ]
        ) from None
    except yaml.YAMLError as error:
        raise SpecError([one_line(f"not valid YAML: {type(error).__name__}")]) from None
    except (ValueError, OverflowError, TypeError) as error:
        # A constructor choked on a scalar the checks above did not foresee.
        raise SpecError([one_line(f"a value cannot be read ({type(error).__name__})")]) from None


def _compose_and_construct(text: str, loader_class: type[Any]) -> Any:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SpecError(
            [
                f"not UTF-8 text: the byte at line {line}, column {column} cannot be "
                "decoded (a Latin-1 or Windows-1252 character?); save the file as UTF-8"
            ]
        ) from None


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _at(node_or_mark: Node | yaml.Mark | None) -> str:
    mark = node_or_mark.start_mark if isinstance(node_or_mark, Node) else node_or_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


def _marked_problem(error: yaml.MarkedYAMLError) -> str:
    """One line: what is wrong and where, without the snippet of the file PyYAML adds."""
    what = error.problem or error.context or "syntax error"
    where = error.problem_mark or error.context_mark
    line = f"not valid YAML: {what}"
    if where is not None:
        line += f" at {_at(where)}"
    if error.problem and error.context and error.context_mark is not None:
        line += f" ({error.context} at {_at(error.context_mark)})"
    return one_line(line)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting depth and values while it builds the node graph.

    Python's composer is kept even over libyaml's parser: it is where nesting and values
    can be counted before they exist, one event at a time.
    """

    # provided by the parser it is mixed with (PyYAML's or libyaml's)
    check_event: Callable[..., bool]
    peek_event: Callable[[], Any]

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._nodes = 0
        #: the keys above the node being composed: under a sensitive one (credentials,
        #: admin_password, ...) no key is ever quoted, since a secret may stand there
        self._keys: list[str] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        self._nodes += 1
        # a mapping's value is composed with its key node as ``index``
        under_key = isinstance(index, ScalarNode)
        if under_key:
            self._keys.append(str(index.value))
        try:
            if self._depth > MAX_DEPTH:
                raise SpecError(
                    [f"nested deeper than {MAX_DEPTH} levels at {_at(self._next_mark())}: refused"]
                )
            if self._nodes > MAX_NODES:
                raise SpecError(
                    [
                        f"more than {MAX_NODES:,} values (reached at "
                        f"{_at(self._next_mark())}): refused"
                    ]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if under_key:
                self._keys.pop()

    def _next_mark(self) -> yaml.Mark:
        mark: yaml.Mark = self.peek_event().start_mark
        return mark

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        first: dict[tuple[str, str], ScalarNode] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            earlier = first.setdefault((key.tag, key.value), key)
            if earlier is not key:
                secret = any(name in SENSITIVE_KEYS for name in self._keys)
                named = HIDDEN_KEY if secret else f"the key {shown(key.value)}"
                raise SpecError(
                    [
                        f"{named} is written twice in one mapping, at "
                        f"{_at(earlier)} and {_at(key)}: YAML would keep only the last; "
                        "keep one"
                    ]
                )
        return node


class _BoundedConstructor(SafeConstructor):
    """PyYAML's safe constructor, refusing scalars that cost too much or cannot exist."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        _check_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        _check_number(node)
        return super().construct_yaml_float(node)

    def construct_yaml_timestamp(self, node: ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise SpecError(
                [f"{shown(node.value)} at {_at(node)} looks like a date but is not a real one"]
            ) from None


def _check_number(node: ScalarNode) -> None:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise SpecError(
            [
                f"a number of {len(node.value):,} characters at {_at(node)}: "
                f"at most {MAX_NUMBER_CHARS} are allowed"
            ]
        )


_BoundedConstructor.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    "tag:yaml.org,2002:int": _BoundedConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _BoundedConstructor.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": _BoundedConstructor.construct_yaml_timestamp,
}


class PurePythonLoader(Reader, Scanner, Parser, _BoundedComposer, _BoundedConstructor, Resolver):
    """The bounded loader on PyYAML's own parser, for where libyaml is not installed."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _BoundedConstructor.__init__(self)
        Resolver.__init__(self)


if HAVE_LIBYAML:

    class LibyamlLoader(_BoundedComposer, _BoundedConstructor, Resolver, CParser):
        """The bounded loader on libyaml's parser: events from C, about 4x faster to read
        a hostile file, counted by the same Python composer."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _BoundedConstructor.__init__(self)
            Resolver.__init__(self)

        # libyaml's own composer would build the whole graph uncounted: keep Python's.
        get_single_node = _BoundedComposer.get_single_node
        get_node = _BoundedComposer.get_node
        check_node = _BoundedComposer.check_node


#: every loader this install has, the fastest first (tests hold each to the same rules)
LOADERS: tuple[type[Any], ...] = (
    (LibyamlLoader, PurePythonLoader) if HAVE_LIBYAML else (PurePythonLoader,)
)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Size the document as if every alias were copied out, without copying anything.

    Aliases make the parsed graph a DAG (or a cycle); each node's expanded size is
    computed once, bottom-up, so the walk costs the graph's size, not the expansion's.
    """
    measured: dict[int, tuple[int, int, int]] = {}  # id -> (values, text, depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            inner = [measured[id(child)] for child in _children(node)]
            values = 1 + sum(size[0] for size in inner)
            text = (len(node.value) if isinstance(node, ScalarNode) else 0) + sum(
                size[1] for size in inner
            )
            depth = 1 + max((size[2] for size in inner), default=0)
            measured[key] = (values, text, depth)
            _refuse_oversized(node, values, text, depth)
            continue
        if key in measured:
            continue
        if key in open_nodes:
            raise SpecError([f"the value at {_at(node)} contains an alias of itself: refused"])
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _refuse_oversized(node: Node, values: int, text: int, depth: int) -> None:
    if values > MAX_NODES:
        raise SpecError(
            [
                f"aliases expand the value at {_at(node)} to more than {MAX_NODES:,} "
                f"values, the most a spec may hold: refused"
            ]
        )
    if text > MAX_TEXT:
        raise SpecError(
            [
                f"aliases expand the value at {_at(node)} to more than {MAX_TEXT // 1024} "
                "KiB of text, the most a spec may hold: refused"
            ]
        )
    if depth > MAX_DEPTH:
        raise SpecError(
            [f"aliases nest the value at {_at(node)} deeper than {MAX_DEPTH} levels: refused"]
        )
