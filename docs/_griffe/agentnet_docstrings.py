"""A Griffe extension that reads agentnet's docstrings as they are written.

agentnet's docstrings are Google-like (``Args:``, ``Returns:``) with a few habits from Sphinx and
Lasagne that Markdown does not know. Before mkdocstrings parses them, this extension rewrites,
in the loaded API data only (the source files are untouched):

- doctest blocks (``>>>`` lines outside an ``Example:`` section) into fenced code blocks, so
  that ``x[:, 0]`` in them is code, not a Markdown link;
- Sphinx roles (``:class:`~agentnet.agent.Sessions```, ``:func:`get_output```) into
  cross-references that link when the target is documented and stay plain code otherwise;
- ``Args:`` items that name several parameters at once (``a, b: as in torch``) into one item per
  parameter, several items on one line (``x: float [B, T]. y: int64 [B, T].``) into one line
  each, and lines that are not items (``Others as ...``) into a paragraph after the section;
- a reST literal-block marker (``math::``) into a colon (the indented block stays code);
- a module-level alias without a docstring (``MDPAgent = Agent``) gets one saying so, so that
  the reference lists it (members without docstrings are not shown);
- an example's ``Config`` (a dataclass without a docstring whose fields have docstrings) gets
  an ``Attributes:`` section listing the fields, their types, defaults and docstrings, so that
  a page shows the settings as one table (render it with ``members: false``).

Used by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""
from __future__ import annotations

import re
from typing import Any

from griffe import Alias, Attribute, Class, Docstring, ExprName, Extension, Object

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|obj|data|exc|const):`~?\.?([^`<>]+?)`")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|"
                      r"Other Parameters|Attributes):\s*$")
_EXAMPLE_SECTION = re.compile(r"^(\s*)Examples?:\s*$")
_NAME = r"\*{0,2}[A-Za-z_]\w*"
_ITEM = re.compile(rf"^({_NAME})\s*(\([^)]*\))?:(\s|$)")
_GROUP = re.compile(rf"^({_NAME}(?:\s*,\s*{_NAME})+)\s*(\([^)]*\))?:\s*(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence_doctests(lines: list[str]) -> list[str]:
    """Wrap ``>>>`` blocks (up to the next blank line) in ```` ```python ```` fences, except
    inside fences and ``Example:`` sections (Griffe renders those as code already)."""
    out: list[str] = []
    in_fence, example_indent, i = False, None, 0
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if example_indent is not None and stripped and _indent(line) <= example_indent:
            example_indent = None
        if match := _EXAMPLE_SECTION.match(line):
            example_indent = len(match.group(1))
        if in_fence or example_indent is not None or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        pad = line[:_indent(line)]
        out.append(f"{pad}```python")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{pad}```")
    return out


def _resolve(obj: Object, target: str, collection: Any) -> str | None:
    """The full path of ``target`` as written next to ``obj``, if Griffe knows it."""
    candidates = [target]
    scope: Object | None = obj
    while scope is not None:  # relative to the object, its class, its module...
        candidates.append(f"{scope.path}.{target}")
        scope = scope.parent
    candidates.append(f"agentnet.{target}")
    for path in candidates:
        try:
            found = collection.get_member(path)
        except Exception:  # noqa: BLE001 - any miss: try the next candidate
            continue
        if isinstance(found, Alias):  # an import: link to where it is defined
            try:
                return found.final_target.path
            except Exception:  # noqa: BLE001 - an unresolvable import
                return found.target_path
        return path
    return None


def _roles_to_refs(text: str, obj: Object, collection: Any) -> str:
    def replace(match: re.Match) -> str:
        target = match.group(1).strip().removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if match.group(0).split("`")[1].startswith("~") \
            else target
        path = _resolve(obj, target, collection)
        if path is None:
            return f"`{shown}`"
        return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'

    return _ROLE.sub(replace, text)


def _parameter_names(obj: Object) -> set[str]:
    try:
        return {parameter.name for parameter in obj.parameters}  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - modules and attributes have none
        return set()


def _split_inline_items(line: str, names: set[str]) -> list[str]:
    """``x: float [B, T]. y: int64 [B, T].`` -> two items (only at a known parameter name)."""
    if not names:
        return [line]
    pattern = re.compile(rf"(?<=[.;])\s+({'|'.join(map(re.escape, sorted(names)))})"
                         rf"(\s*\([^)]*\))?:\s")
    parts, start = [], 0
    for match in pattern.finditer(line):
        parts.append(line[start:match.start()].rstrip().removesuffix(";"))
        start = match.start(1)
    parts.append(line[start:])
    return parts


def _fix_sections(lines: list[str], names: set[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _SECTION.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        section_indent = len(match.group(1))
        out.append(lines[i])
        i += 1
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > section_indent):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():  # trailing blank lines belong after the section
            body.pop()
            i -= 1
        item_indent = next((_indent(line) for line in body if line.strip()), None)
        if item_indent is None:
            out.extend(body)
            continue
        items: list[list[str]] = []
        stray: list[str] = []
        last_was_stray = False
        for line in body:
            at_item = bool(line.strip()) and _indent(line) == item_indent
            is_item = at_item and bool(_ITEM.match(line.strip()) or _GROUP.match(line.strip()))
            if (at_item and not is_item) or (last_was_stray and line.strip() and not is_item):
                stray.append(line.strip())  # "Others as ...": prose, not an item
                last_was_stray = True
                continue
            last_was_stray = False
            if at_item or not items:
                items.append([line])
            else:
                items[-1].append(line)
        pad, cont = " " * item_indent, " " * (2 * item_indent)
        for item in items:
            first = item[0].strip()
            pieces = _split_inline_items(first, names)
            for k, piece in enumerate(pieces):
                group = _GROUP.match(piece)
                rest = item[1:] if k == len(pieces) - 1 else []
                if group:
                    for name in re.split(r"\s*,\s*", group.group(1)):
                        annotation = f" {group.group(2)}" if group.group(2) else ""
                        out.append(f"{pad}{name}{annotation}: {group.group(3)}")
                        out.extend(cont + line.strip() if line.strip() else "" for line in rest)
                else:
                    out.append(pad + piece)
                    out.extend(rest)
        if stray:
            out.append("")
            out.append(" " * section_indent + " ".join(stray))
    return out


def rewrite(text: str, obj: Object, collection: Any) -> str:
    lines = _fence_doctests(text.split("\n"))
    lines = [re.sub(r"(\S)::$", r"\1:", line) if not line.lstrip().startswith((">>>", "..."))
             else line for line in lines]
    lines = _fix_sections(lines, _parameter_names(obj))
    return _roles_to_refs("\n".join(lines), obj, collection)


def _alias_docstring(attribute: Attribute) -> str | None:
    """``Another name for Agent.`` for a module-level ``MDPAgent = Agent``, or None."""
    module = attribute.parent
    if module is None or not module.is_module or not isinstance(attribute.value, ExprName):
        return None
    original = module.members.get(attribute.value.name)
    if original is None or isinstance(original, Alias) or not (original.is_class
                                                                 or original.is_function):
        return None
    return (f'Another name for <autoref identifier="{original.path}" optional>'
            f"<code>{original.name}</code></autoref>.")


def _settings_table(cls: Class) -> str | None:
    """An ``Attributes:`` section for a documented-field dataclass, or None."""
    if cls.docstring is not None or not cls.path.startswith("agentnet.examples.") or not any(
            str(decorator.value).split(".")[-1].startswith("dataclass")
            for decorator in cls.decorators):
        return None
    fields: dict[str, Attribute] = {}  # dataclass order: inherited fields first
    try:
        lineage = [*reversed(cls.mro()), cls]
    except Exception:  # noqa: BLE001 - bases Griffe cannot resolve: own fields only
        lineage = [cls]
    for klass in lineage:
        own = [member for member in klass.members.values()
               if isinstance(member, Attribute) and member.annotation is not None]
        for field in sorted(own, key=lambda field: field.lineno or 0):
            fields[field.name] = field  # an override keeps the inherited position
    if not fields or not all(field.docstring for field in fields.values()):
        return None
    lines = ["The example's settings. From Python, `main(field=value, ...)` changes any of them; "
             "the command line sets `total_steps` (`--steps`) and `seed` (`--seed`).", "",
             "Attributes:"]
    for field in fields.values():
        doc = " ".join(field.docstring.value.split())  # type: ignore[union-attr]
        lines.append(f"    {field.name} ({field.annotation}): {doc} "
                     f"(default: `{field.value}`)")
    return "\n".join(lines)


class AgentnetDocstrings(Extension):
    """Rewrite every docstring of the loaded package once it is loaded (see the module)."""

    def on_package(self, *, pkg: Object, loader: Any, **kwargs: Any) -> None:
        collection = loader.modules_collection
        seen: set[int] = set()

        def visit(obj: Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, collection)
            elif isinstance(obj, Attribute) and (text := _alias_docstring(obj)) is not None:
                obj.docstring = Docstring(text, parent=obj)
            elif isinstance(obj, Class) and (table := _settings_table(obj)) is not None:
                model = obj.module.docstring  # parse it as the module's docstring is parsed
                obj.docstring = Docstring(
                    table, parent=obj, parser=model.parser if model else "google",
                    parser_options=model.parser_options if model else None)
            for member in obj.members.values():
                if not isinstance(member, Alias):
                    visit(member)

        visit(pkg)
