"""Per-language tables: which tree-sitter nodes are definitions, and what their names are.

Everything else is generic (``treesitter.py``): any node can be split at its
children, so a table only says which nodes start a named chunk, which nodes
wrap a definition (decorators, ``export``, ``template<...>``), and which nodes
belong to the definition after them (comments, attributes, decorators).

Names are qualified by the definitions that enclose them *in the file*
(``Client.send``, ``Point.norm`` for a Rust ``impl Point``, ``Cache.Get`` for
a Go method on ``*Cache``, ``shop.Product.name`` inside a C++ namespace);
file-level package or namespace statements (Go ``package``, Java ``package``,
a PHP ``namespace X;``) are not part of a name: they are the same for every
symbol of a file and the path already says where it is.

Grammars come from the tree-sitter project's own per-language wheels (pinned
in pyproject.toml), which ship compiled parsers: nothing is downloaded at run
time. (``tree-sitter-language-pack`` 1.x fetches every parser from the network
on first use, so it cannot be used offline.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["GRAMMAR_VERSIONS", "LANGUAGES", "NodeLike", "Rules", "grammar_of"]


class NodeLike(Protocol):
    """The part of ``tree_sitter.Node`` the rules read (typed here: the binding is untyped)."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def text(self) -> bytes | None: ...
    @property
    def named_children(self) -> list[NodeLike]: ...
    def child_by_field_name(self, name: str, /) -> NodeLike | None: ...


#: The grammar wheels the chunker was written against; bump ``CHUNKER_VERSION``
#: whenever one of these changes (a new grammar can shape other chunks).
GRAMMAR_VERSIONS: dict[str, str] = {
    "tree-sitter": "0.26.1",
    "tree-sitter-python": "0.25.0",
    "tree-sitter-javascript": "0.25.0",
    "tree-sitter-typescript": "0.23.2",
    "tree-sitter-go": "0.25.0",
    "tree-sitter-rust": "0.24.2",
    "tree-sitter-java": "0.23.5",
    "tree-sitter-c": "0.24.2",
    "tree-sitter-cpp": "0.23.4",
    "tree-sitter-ruby": "0.23.1",
    "tree-sitter-c-sharp": "0.23.5",
    "tree-sitter-php": "0.25.1",
    "tree-sitter-kotlin": "1.1.0",
    "tree-sitter-scala": "0.26.3",
    "tree-sitter-swift": "0.7.4",
}

NameFn = Callable[[NodeLike], str | None]


@dataclass(frozen=True)
class Rules:
    """What one grammar calls a definition.

    :param module: the grammar's Python module and the function returning its language.
    :param definitions: node type -> kind (``function``, ``class``, ...).
    :param wrappers: node type -> field holding the wrapped definition ("" for the
        first named child that is a definition).
    :param leading: node types that belong to the node right after them.
    :param names: node type -> function returning its name (None: not a definition
        after all, e.g. a ``const x = 1`` that holds no function).
    :param needs_body: definition types that only count with a ``body`` (a C
        ``struct point`` used as a type is no definition).
    """

    module: tuple[str, str]
    definitions: Mapping[str, str]
    wrappers: Mapping[str, str] = field(default_factory=dict)
    leading: frozenset[str] = frozenset({"comment"})
    names: Mapping[str, NameFn] = field(default_factory=dict)
    needs_body: frozenset[str] = frozenset()
    kinds: Mapping[str, Callable[[NodeLike], str]] = field(default_factory=dict)

    def inner(self, node: NodeLike) -> NodeLike | None:
        """The definition a wrapper node holds (None when it holds none)."""
        fieldname = self.wrappers.get(node.type)
        if fieldname is None:
            return None
        if fieldname:
            return node.child_by_field_name(fieldname)
        for child in node.named_children:
            if child.type in self.definitions or child.type in self.wrappers:
                return child
        return None

    def definition(self, node: NodeLike) -> tuple[str, str] | None:
        """``(name, kind)`` when ``node`` is (or wraps) a named definition."""
        seen = 0
        while node.type in self.wrappers and seen < 4:
            inner = self.inner(node)
            if inner is None:
                return None
            node, seen = inner, seen + 1
        kind = self.definitions.get(node.type)
        if kind is None:
            return None
        if node.type in self.needs_body and node.child_by_field_name("body") is None:
            return None
        name = self.names.get(node.type, field_name)(node)
        if not name:
            return None
        refine = self.kinds.get(node.type)
        return (name, refine(node) if refine else kind)


_GENERICS = re.compile(r"<[^<>]*>|\[[^\[\]]*\]")
_SEPARATORS = re.compile(r"::|\\|->")


def clean(raw: str | bytes | None) -> str | None:
    """A name as one token: generics and whitespace dropped, ``::``/``\\`` turned into ``.``."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    for _ in range(3):  # nested generics: Map<K, List<V>>
        text = _GENERICS.sub("", text)
    text = _SEPARATORS.sub(".", "".join(text.split())).strip(".*&")
    return text[:120] or None


def field_name(node: NodeLike) -> str | None:
    """The ``name`` field, the usual place."""
    child = node.child_by_field_name("name")
    return clean(child.text) if child is not None else None


def _field(fieldname: str) -> NameFn:
    def name(node: NodeLike) -> str | None:
        child = node.child_by_field_name(fieldname)
        return clean(child.text) if child is not None else None
    return name


def _constant(value: str) -> NameFn:
    return lambda node: field_name(node) or value


_FUNCTION_VALUES = frozenset({
    "arrow_function", "function_expression", "function", "generator_function", "class",
})


def _js_variable(node: NodeLike) -> str | None:
    """``const handler = (req) => {...}``: named by its single declarator."""
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return None
    value = declarators[0].child_by_field_name("value")
    if value is None or value.type not in _FUNCTION_VALUES:
        return None
    return field_name(declarators[0])


def _js_variable_kind(node: NodeLike) -> str:
    """``const Stream = class extends Readable {...}`` is a class."""
    for declarator in node.named_children:
        value = declarator.child_by_field_name("value")
        if value is not None and value.type == "class":
            return "class"
    return "function"


def _js_assignment(node: NodeLike) -> str | None:
    """``Foo.prototype.bar = function () {...}``: named by its left side (``this.`` dropped)."""
    right = node.child_by_field_name("right")
    if right is None or right.type not in _FUNCTION_VALUES:
        return None
    left = node.child_by_field_name("left")
    name = clean(left.text) if left is not None else None
    return name.removeprefix("this.") if name else None


def _js_field(fieldname: str) -> NameFn:
    """A class field or object property holding a function: ``onClick = () => {...}``."""
    def name(node: NodeLike) -> str | None:
        value = node.child_by_field_name("value")
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
        child = node.child_by_field_name(fieldname)
        return clean(child.text) if child is not None else None
    return name


_C_NAME_NODES = frozenset({
    "identifier", "field_identifier", "qualified_identifier", "type_identifier",
    "primitive_type", "destructor_name", "operator_name",
})


def _c_declarator(node: NodeLike) -> str | None:
    """The name under C/C++ declarators: ``**split(...)``, ``(*visit_fn)(...)``, ``Foo::bar()``."""
    current: NodeLike | None = node.child_by_field_name("declarator")
    for _ in range(10):
        if current is None:
            return None
        if current.type in _C_NAME_NODES:
            return clean(current.text)
        nxt = current.child_by_field_name("declarator")
        if nxt is None:  # parenthesized_declarator and friends: the first named child
            named = current.named_children
            nxt = named[0] if named else None
        current = nxt
    return None


def _go_method(node: NodeLike) -> str | None:
    """``func (c *Cache) Get()`` is ``Cache.Get``."""
    name = field_name(node)
    receiver = node.child_by_field_name("receiver")
    if name is None or receiver is None:
        return name
    for param in receiver.named_children:
        kind = param.child_by_field_name("type")
        owner = clean(kind.text) if kind is not None else None
        if owner:
            return f"{owner}.{name}"
    return name


def _go_type(node: NodeLike) -> str | None:
    specs = [c for c in node.named_children if c.type in {"type_spec", "type_alias"}]
    return field_name(specs[0]) if specs else None


def _rust_impl(node: NodeLike) -> str | None:
    """``impl<T> From<T> for Point`` is named ``Point``: its methods are ``Point.from``."""
    kind = node.child_by_field_name("type")
    return clean(kind.text) if kind is not None else None


_COMMENTS = frozenset({"comment", "line_comment", "block_comment", "multiline_comment"})

_JS_DEFINITIONS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "class_declaration": "class", "class": "class", "method_definition": "function",
    "lexical_declaration": "function", "variable_declaration": "function",
    "assignment_expression": "function", "field_definition": "function", "pair": "function",
}
_JS_NAMES: dict[str, NameFn] = {
    "lexical_declaration": _js_variable, "variable_declaration": _js_variable,
    "assignment_expression": _js_assignment, "field_definition": _js_field("property"),
    "pair": _js_field("key"), "class": _constant("default"),
}
_JS_WRAPPERS = {"export_statement": "", "expression_statement": ""}
_JS_KINDS = {"lexical_declaration": _js_variable_kind, "variable_declaration": _js_variable_kind}
_TS_DEFINITIONS = {
    **_JS_DEFINITIONS,
    "abstract_class_declaration": "class", "interface_declaration": "interface",
    "type_alias_declaration": "type", "enum_declaration": "enum", "internal_module": "module",
    "module": "module", "function_signature": "function", "method_signature": "function",
    "abstract_method_signature": "function", "public_field_definition": "function",
}
_TS_NAMES = {**_JS_NAMES, "public_field_definition": _js_field("name")}
_TS_WRAPPERS = {**_JS_WRAPPERS, "ambient_declaration": ""}

_C_DEFINITIONS = {
    "function_definition": "function", "struct_specifier": "struct",
    "union_specifier": "struct", "enum_specifier": "enum", "type_definition": "type",
    "preproc_function_def": "macro",
}
_C_NAMES: dict[str, NameFn] = {
    "function_definition": _c_declarator, "type_definition": _c_declarator,
}

LANGUAGES: dict[str, Rules] = {
    "python": Rules(
        ("tree_sitter_python", "language"),
        {"function_definition": "function", "class_definition": "class"},
        wrappers={"decorated_definition": "definition"},
    ),
    "javascript": Rules(
        ("tree_sitter_javascript", "language"), _JS_DEFINITIONS, _JS_WRAPPERS,
        _COMMENTS | {"decorator"}, _JS_NAMES, kinds=_JS_KINDS,
    ),
    "typescript": Rules(
        ("tree_sitter_typescript", "language_typescript"), _TS_DEFINITIONS, _TS_WRAPPERS,
        _COMMENTS | {"decorator"}, _TS_NAMES, kinds=_JS_KINDS,
    ),
    "tsx": Rules(
        ("tree_sitter_typescript", "language_tsx"), _TS_DEFINITIONS, _TS_WRAPPERS,
        _COMMENTS | {"decorator"}, _TS_NAMES, kinds=_JS_KINDS,
    ),
    "go": Rules(
        ("tree_sitter_go", "language"),
        {"function_declaration": "function", "method_declaration": "method",
         "type_declaration": "type"},
        names={"method_declaration": _go_method, "type_declaration": _go_type},
    ),
    "rust": Rules(
        ("tree_sitter_rust", "language"),
        {"function_item": "function", "function_signature_item": "function",
         "struct_item": "struct", "enum_item": "enum", "union_item": "struct",
         "trait_item": "trait", "impl_item": "impl", "mod_item": "module",
         "macro_definition": "macro", "type_item": "type"},
        leading=_COMMENTS | {"attribute_item"},
        names={"impl_item": _rust_impl},
    ),
    "java": Rules(
        ("tree_sitter_java", "language"),
        {"class_declaration": "class", "interface_declaration": "interface",
         "enum_declaration": "enum", "record_declaration": "record",
         "annotation_type_declaration": "interface", "method_declaration": "function",
         "constructor_declaration": "function", "compact_constructor_declaration": "function"},
        leading=_COMMENTS,
    ),
    "c": Rules(
        ("tree_sitter_c", "language"), _C_DEFINITIONS, names=_C_NAMES,
        needs_body=frozenset({"struct_specifier", "union_specifier", "enum_specifier"}),
    ),
    "cpp": Rules(
        ("tree_sitter_cpp", "language"),
        {**_C_DEFINITIONS, "class_specifier": "class", "namespace_definition": "namespace",
         "concept_definition": "type"},
        wrappers={"template_declaration": ""},
        leading=_COMMENTS | {"access_specifier"},
        names=_C_NAMES,
        needs_body=frozenset({"struct_specifier", "union_specifier", "enum_specifier",
                              "class_specifier", "namespace_definition"}),
    ),
    "ruby": Rules(
        ("tree_sitter_ruby", "language"),
        {"method": "function", "singleton_method": "function", "class": "class",
         "module": "module"},
    ),
    "csharp": Rules(
        ("tree_sitter_c_sharp", "language"),
        {"class_declaration": "class", "struct_declaration": "struct",
         "interface_declaration": "interface", "enum_declaration": "enum",
         "record_declaration": "record", "method_declaration": "function",
         "constructor_declaration": "function", "destructor_declaration": "function",
         "operator_declaration": "function", "property_declaration": "property",
         "namespace_declaration": "namespace", "local_function_statement": "function",
         "delegate_declaration": "type"},
        names={"operator_declaration": _constant("operator"),
               "destructor_declaration": _constant("destructor")},
    ),
    "php": Rules(
        ("tree_sitter_php", "language_php"),
        {"function_definition": "function", "class_declaration": "class",
         "interface_declaration": "interface", "trait_declaration": "trait",
         "enum_declaration": "enum", "method_declaration": "function",
         "namespace_definition": "namespace"},
        needs_body=frozenset({"namespace_definition"}),
    ),
    "kotlin": Rules(
        ("tree_sitter_kotlin", "language"),
        {"class_declaration": "class", "object_declaration": "object",
         "function_declaration": "function", "companion_object": "object"},
        leading=_COMMENTS,
        names={"companion_object": _constant("Companion")},
    ),
    "scala": Rules(
        ("tree_sitter_scala", "language"),
        {"class_definition": "class", "object_definition": "object",
         "trait_definition": "trait", "function_definition": "function",
         "function_declaration": "function", "enum_definition": "enum"},
        leading=_COMMENTS,
    ),
    "swift": Rules(
        ("tree_sitter_swift", "language"),
        {"class_declaration": "class", "protocol_declaration": "protocol",
         "function_declaration": "function", "init_declaration": "function",
         "protocol_function_declaration": "function", "deinit_declaration": "function"},
        leading=_COMMENTS,
        names={"init_declaration": _constant("init"), "deinit_declaration": _constant("deinit")},
    ),
}

#: Extensions whose grammar differs from their language label.
_BY_EXTENSION = {".tsx": "tsx", ".jsx": "javascript"}


def grammar_of(path: str, language: str) -> str | None:
    """The ``LANGUAGES`` key to parse ``path`` (labelled ``language``) with, if any."""
    dot = path.rfind(".")
    ext = path[dot:].lower() if dot > path.rfind("/") else ""
    if ext in _BY_EXTENSION:
        return _BY_EXTENSION[ext]
    return language if language in LANGUAGES else None
