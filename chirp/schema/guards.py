"""Document guards that run before validation, in time linear in the document.

A document is measured once, with each fragment measured once and its
figures reused at every spread, so a chain of fragments that each spread the
next twice (a few hundred bytes whose expansion is 2^n fields) costs n steps
instead of 2^n. A document over any limit is refused with ``BAD_USER_INPUT``
before graphql-core's validation rules, some of which walk spreads and
compare fields pairwise, ever see it; a document within the limits is
validated as usual, through a cache, since clients send a small fixed set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
)
from strawberry.extensions import SchemaExtension

#: Nesting of fields (introspection fields aside): 12 fits every screen of a
#: client while bounding how deep one request can walk.
MAX_QUERY_DEPTH: Final = 12
#: Lexical tokens of a document, checked by the parser itself: far above real
#: documents, and a bound on everything measured here.
MAX_QUERY_TOKENS: Final = 5_000
#: Aliases once fragments are spread: aliases are how one document asks for
#: the same costly field many times.
MAX_QUERY_ALIASES: Final = 30
#: Fields once fragments are spread: far above any screen (GraphiQL's
#: introspection query has about 300), far below what stalls a process.
MAX_EXPANDED_FIELDS: Final = 2_000
#: Fragment spreads in a document: graphql-core's check that fields can
#: merge compares the fragments spread into a set pairwise. Real documents
#: spread a few dozen.
MAX_FRAGMENT_SPREADS: Final = 100
#: Pairs of same-named fields that check compares: every field counts once
#: (so 2,000 distinct fields pass); a name met k times in a merged set costs
#: k squared. Measured here, 10,000 pairs validate in well under 50 ms.
MAX_MERGE_COMPARISONS: Final = 10_000
#: Documents whose verdict is kept; clients send a small fixed set.
DOCUMENT_CACHE_SIZE: Final = 512


@dataclass(frozen=True, slots=True)
class Shape:
    """What a selection set costs once every fragment in it is spread."""

    depth: int
    aliases: int
    fields: int


_EMPTY = Shape(0, 0, 0)


def _shape(root: SelectionSetNode, fragments: dict[str, Shape]) -> Shape:
    """The shape of a selection set, reading each spread fragment's shape from
    ``fragments`` (unknown or cyclic ones count as empty: validation reports
    both). A post-order walk with an explicit stack, since a document may
    nest deeper than Python's recursion limit before validation refuses it."""
    results: dict[int, Shape] = {}
    stack: list[tuple[SelectionSetNode, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in _child_sets(node))
            continue
        depth = aliases = fields = 0
        for selection in node.selections:
            if isinstance(selection, FragmentSpreadNode):
                inner, own = fragments.get(selection.name.value, _EMPTY), 0
            elif selection.selection_set is not None:
                inner = results[id(selection.selection_set)]
                own = isinstance(selection, FieldNode)
            else:
                inner, own = _EMPTY, 1
            if not _is_introspection(selection):
                depth = max(depth, inner.depth + own)
            aliases += inner.aliases + (getattr(selection, "alias", None) is not None)
            fields += inner.fields + own
        # Capped, so the sums stay small integers however a document multiplies.
        results[id(node)] = Shape(
            depth, min(aliases, MAX_QUERY_ALIASES + 1), min(fields, MAX_EXPANDED_FIELDS + 1)
        )
    return results[id(root)]


def _is_introspection(selection: object) -> bool:
    """``__schema``, ``__type`` and the like: their nesting is the schema's,
    not the client's (GraphiQL's introspection query is 15 deep), so they
    count towards fields and aliases but not towards depth."""
    return isinstance(selection, FieldNode) and selection.name.value.startswith("__")


def _child_sets(node: SelectionSetNode) -> Iterator[SelectionSetNode]:
    """Selection sets directly inside ``node`` (not through fragment spreads)."""
    for selection in node.selections:
        if isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
            yield selection.selection_set


def _spreads_in(root: SelectionSetNode) -> list[str]:
    """The fragment names spread anywhere in ``root`` (not through spreads)."""
    names: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        names.extend(s.name.value for s in node.selections if isinstance(s, FragmentSpreadNode))
        stack.extend(_child_sets(node))
    return names


def _fragment_order(document: DocumentNode) -> list[FragmentDefinitionNode]:
    """The document's fragments, each after every fragment it spreads (a
    spread back into a cycle is left out: validation refuses cycles)."""
    definitions = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    spreads = {name: set(_spreads_in(d.selection_set)) for name, d in definitions.items()}
    order: list[FragmentDefinitionNode] = []
    started: set[str] = set()
    for first in definitions:
        if first in started:
            continue
        started.add(first)
        stack = [(first, iter(spreads[first]))]
        while stack:  # depth-first, post-order; an edge back into the path is a cycle
            name, pending = stack[-1]
            child = next((c for c in pending if c in definitions and c not in started), None)
            if child is not None:
                started.add(child)
                stack.append((child, iter(spreads[child])))
                continue
            stack.pop()
            order.append(definitions[name])
    return order


def _merge_refusal(
    operation: OperationDefinitionNode, definitions: dict[str, FragmentDefinitionNode]
) -> GraphQLError | None:
    """Refuses when graphql-core's check that fields can merge would compare
    too many pairs. It compares every two fields of one response name that
    meet in a selection set once fragments are spread and the sets of
    same-named fields are merged, level by level, so a document repeating a
    name in nested sets makes it compare the product of the repeats, squared.
    This walk builds that merged tree once (bounded by MAX_EXPANDED_FIELDS,
    checked first) and adds up the pairs."""
    comparisons = 0
    queue: list[tuple[list[SelectionSetNode], frozenset[str]]] = [
        ([operation.selection_set], frozenset())
    ]
    while queue:
        sets, outer = queue.pop()
        groups: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()  # a fragment merges once per set, as in execution
        members = list(sets)
        while members:
            for selection in members.pop().selections:
                if isinstance(selection, FieldNode):
                    groups.setdefault((selection.alias or selection.name).value, []).append(
                        selection
                    )
                elif isinstance(selection, InlineFragmentNode):
                    members.append(selection.selection_set)
                else:
                    name = selection.name.value
                    if name in definitions and name not in spread and name not in outer:
                        spread.add(name)
                        members.append(definitions[name].selection_set)
        inner = outer | spread  # a cycle back into these counts as empty
        for name, fields in groups.items():
            comparisons += len(fields) ** 2
            if comparisons > MAX_MERGE_COMPARISONS:
                return GraphQLError(
                    f"The operation repeats fields such as `{name}` too often "
                    "(across fragments and nested selections) to be checked.",
                    extensions={"maxMergeComparisons": MAX_MERGE_COMPARISONS},
                )
            subsets = [f.selection_set for f in fields if f.selection_set is not None]
            if subsets:
                queue.append((subsets, inner))
    return None


def _spread_count(document: DocumentNode) -> int:
    return sum(
        len(_spreads_in(d.selection_set))
        for d in document.definitions
        if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))
    )


def refusal(document: DocumentNode) -> GraphQLError | None:
    """Why ``document`` is refused before validation, or None. Every operation
    in the document counts, whichever one the request names."""
    spreads = _spread_count(document)
    if spreads > MAX_FRAGMENT_SPREADS:
        return GraphQLError(
            f"The document spreads fragments {spreads} times; "
            f"at most {MAX_FRAGMENT_SPREADS} are allowed.",
            extensions={"maxFragmentSpreads": MAX_FRAGMENT_SPREADS},
        )
    order = _fragment_order(document)
    fragments: dict[str, Shape] = {}
    for definition in order:
        fragments[definition.name.value] = _shape(definition.selection_set, fragments)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        shape = _shape(definition.selection_set, fragments)
        if shape.depth > MAX_QUERY_DEPTH:
            return GraphQLError(
                f"The operation exceeds maximum operation depth of {MAX_QUERY_DEPTH}.",
                extensions={"maxDepth": MAX_QUERY_DEPTH},
            )
        if shape.aliases > MAX_QUERY_ALIASES:
            return GraphQLError(
                f"The operation uses more than {MAX_QUERY_ALIASES} aliases "
                "(counting each fragment every time it is spread).",
                extensions={"maxAliases": MAX_QUERY_ALIASES},
            )
        if shape.fields > MAX_EXPANDED_FIELDS:
            return GraphQLError(
                f"The operation selects more than {MAX_EXPANDED_FIELDS} fields "
                "once its fragments are spread.",
                extensions={"maxFields": MAX_EXPANDED_FIELDS},
            )
        merge = _merge_refusal(definition, {d.name.value: d for d in order})
        if merge is not None:
            return merge
    return None


#: Text no column can store: NUL (Postgres text refuses it) and lone
#: surrogates (not encodable as UTF-8). Refused wherever a client sends them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(values: object) -> bool:
    """Whether any string in ``values`` (nested lists and dicts, keys too)
    holds unstorable text; iterative, so any nesting is safe."""
    stack = [values]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _literal_strings(document: DocumentNode) -> Iterator[str]:
    stack: list[object] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, StringValueNode):
            yield node.value
        elif isinstance(node, Node):
            stack.extend(getattr(node, key) for key in node.keys if key != "loc")
        elif isinstance(node, (tuple, list)):
            stack.extend(node)


class GuardedValidation(SchemaExtension):
    """Refuse unstorable text and over-limit documents, then validate the rest
    through a cache. Replaces Strawberry's ValidationCache and its depth and
    alias limiters, whose rules expand every fragment spread."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if unstorable_text([context.variables, context.operation_name]):
            context.pre_execution_errors = [_unstorable_error()]
        else:
            context.pre_execution_errors = _verdict(
                context.schema._schema, context.graphql_document, tuple(context.validation_rules)
            )
        yield


def _unstorable_error() -> GraphQLError:
    return GraphQLError("Text may not contain NUL characters or unpaired surrogates.")


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def _verdict(schema: object, document: DocumentNode, rules: tuple[type, ...]) -> list[GraphQLError]:
    # Imported here: strawberry.schema.schema imports the extensions package.
    from strawberry.schema.schema import validate_document

    if unstorable_text(list(_literal_strings(document))):
        return [_unstorable_error()]
    refused = refusal(document)
    if refused is not None:
        return [refused]
    return validate_document(schema, document, rules)  # type: ignore[arg-type]
