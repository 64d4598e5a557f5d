"""The detector form: a kind's parameters edited as real form fields, never as a JSON box.

A kind declares its parameters once, as a msgspec struct. ``ParamFields`` reads that struct's type
information and gives every scalar its own form field (nested structs become groups of prefixed
fields, lists of structs repeated groups with a "remove" box and blank ones to add), so the form
follows the kind without a line of per-kind code. What the fields hold is assembled back into the
params dict and validated by the kind itself (``parse_params``); its error, which names a path
such as ``rules[2].regexes[0]``, is shown on the field that path leads to.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
import msgspec.inspect as mi
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_slug
from django.forms.boundfield import BoundField

from detection.engine import KINDS, DetectorKind, parse_params
from detection.models import Detector
from traces.schema import STEP_KINDS, DocumentError, TraceDoc
from traces.services import parse

# Blank groups offered after a list's items, to add new ones.
EXTRA_ITEMS = 2
# A bound form never builds more groups than this per list, whatever its POST claims.
MAX_ITEMS = 500
TRY_LAST_DEFAULT = 20
TRY_LAST_MAX = 200
# Strings whose default is longer than this, or spans lines, are edited in a textarea.
LONG_TEXT = 100

_OMIT = object()  # a leaf that contributes no key: the kind's default (or "required") applies
_REQUIRED = "This field is required."

validate_category = RegexValidator(
    r"^[a-z0-9][a-z0-9_]*\Z",
    "Enter a category slug such as reward_hacking: lowercase letters, digits and underscores.",
)


# --- What a struct field is, read from msgspec's type information -----------------------------


@dataclass(frozen=True)
class Param:
    """One field of a parameters struct: its key, how it is shown, its type and its default."""

    key: str
    label: str
    help: str
    type: mi.Type
    optional: bool
    default: Any  # plain data (msgspec.to_builtins), or msgspec.NODEFAULT when required


def _unwrap(t: mi.Type, notes: dict[str, str]) -> mi.Type:
    """Strip ``Annotated`` metadata, keeping its title and description."""
    while isinstance(t, mi.Metadata):
        for name in ("title", "description"):
            if isinstance((t.extra_json_schema or {}).get(name), str):
                notes.setdefault(name, t.extra_json_schema[name])
        t = t.type
    return t


def struct_params(cls: type[msgspec.Struct]) -> list[Param]:
    """The fields of a msgspec struct, in declaration order."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return [_param(f) for f in info.fields]


def _param(f: mi.Field) -> Param:
    notes: dict[str, str] = {}
    t = _unwrap(f.type, notes)
    optional = False
    if isinstance(t, mi.UnionType) and any(isinstance(m, mi.NoneType) for m in t.types):
        others = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(others) == 1:
            optional = True
            t = _unwrap(others[0], notes)
    if f.default is not msgspec.NODEFAULT:
        default = msgspec.to_builtins(f.default)
    elif f.default_factory is not msgspec.NODEFAULT:
        default = msgspec.to_builtins(f.default_factory())
    else:
        default = msgspec.NODEFAULT
    label = notes.get("title") or f.encode_name.replace("_", " ").capitalize()
    return Param(f.encode_name, label, notes.get("description", ""), t, optional, default)


_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_NUMBERS = (mi.IntType, mi.FloatType)


def _choices(t: mi.Type) -> list[Any] | None:
    """The values a ``Literal`` or an enum allows, or None for other types."""
    if isinstance(t, mi.LiteralType):
        return list(t.values)
    if isinstance(t, mi.EnumType):
        return [member.value for member in t.cls]
    return None


def _item_type(t: mi.Type) -> mi.Type | None:
    return _unwrap(t.item_type, {}) if isinstance(t, _SEQUENCES) else None


_SCALARS: dict[type[mi.Type], type] = {mi.StrType: str, mi.IntType: int, mi.FloatType: float}


def _mapping_value(t: mi.Type) -> mi.Type | None:
    """The value type of a ``dict[str, scalar]``, or None for other types."""
    if not isinstance(t, mi.DictType) or not isinstance(_unwrap(t.key_type, {}), mi.StrType):
        return None
    value = _unwrap(t.value_type, {})
    return value if isinstance(value, tuple(_SCALARS)) else None


def _is_struct(t: mi.Type) -> bool:
    return isinstance(t, mi.StructType) and not t.array_like


# --- Scalar fields ----------------------------------------------------------------------------


class LinesField(forms.CharField):
    """A list edited one item per line; blank lines are dropped, other lines kept as typed."""

    widget = forms.Textarea

    def __init__(self, *, item: type = str, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.item = item
        # One item per line: soft wrapping would make a long item look like two.
        self.widget.attrs["wrap"] = "off"

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            return "\n".join(str(v) for v in value)
        return value

    def lines(self, value: Any) -> Iterator[tuple[int, str]]:
        text = super().to_python(value) or ""
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                yield number, line.rstrip("\r")

    def convert(self, number: int, text: str) -> Any:
        if self.item is str:
            return text
        try:
            return self.item(text.strip())
        except ValueError:
            kind = "a whole number" if self.item is int else "a number"
            raise ValidationError(f"Line {number}: {text.strip()!r} is not {kind}.") from None

    def to_python(self, value: Any) -> Any:
        return [self.convert(number, line) for number, line in self.lines(value)]

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(self.prepare_value(initial)) != self.to_python(data)
        except ValidationError:
            return True


class MappingField(LinesField):
    """A mapping of names to values edited one ``name: value`` per line."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{k}: {v}" for k, v in value.items())
        return value

    def to_python(self, value: Any) -> Any:
        mapping: dict[str, Any] = {}
        for number, line in self.lines(value):
            name, colon, text = line.partition(":")
            name = name.strip()
            if not colon or not name:
                raise ValidationError(f"Line {number}: write it as name: value.")
            if name in mapping:
                raise ValidationError(f"Line {number}: {name} is given twice.")
            mapping[name] = self.convert(number, text.strip())
        return mapping


@dataclass
class Leaf:
    """One form field holding one scalar (or list of scalars) of the params."""

    name: str
    param: Param
    convert: str  # how the cleaned value becomes a params value: text, number, bool, choice...
    choices: dict[str, Any] = field(default_factory=dict)
    bound: BoundField | None = None
    node_type: ClassVar[str] = "leaf"

    @property
    def key(self) -> str:
        return self.param.key

    def to_param(self, value: Any) -> Any:
        """The params value for a cleaned value; raises ValidationError when it must be given."""
        p = self.param
        empty = value in (None, "", [])
        if self.convert == "bool":
            return value
        if self.convert == "json":
            if value is None:
                return None if p.optional else _OMIT
            return value
        if self.convert == "lines":
            return None if (p.optional and not value) else value
        if self.convert == "multichoice":
            return [self.choices[v] for v in value]
        if empty:
            if p.optional:
                return None
            if self.convert == "text":
                return _OMIT if p.default is msgspec.NODEFAULT else ""
            raise ValidationError(_REQUIRED, code="required")
        if self.convert == "choice":
            return self.choices[value]
        return value

    def to_initial(self, value: Any) -> Any:
        """The form field's initial value for a params value."""
        if value is msgspec.NODEFAULT:
            return None
        if self.convert == "choice":
            return "" if value is None else _choice_key(value)
        if self.convert == "multichoice":
            return [_choice_key(v) for v in value or []]
        return value


def _choice_key(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _text_field(p: Param, t: mi.StrType, required: bool) -> forms.Field:
    default = p.default if isinstance(p.default, str) else ""
    long = "\n" in default or len(default) > LONG_TEXT or (t.max_length or 0) > 10 * LONG_TEXT
    widget = forms.Textarea if long else None
    return forms.CharField(
        required=required, max_length=t.max_length, widget=widget, strip=not long, empty_value=""
    )


def _leaf(name: str, p: Param, *, top: bool) -> tuple[Leaf, forms.Field]:
    """The node and the form field for a scalar-like param (not a struct or list of structs)."""
    t = p.type
    # Inside a group, requiredness is checked when the group is kept (blank new groups are not).
    required = top and not p.optional
    help_text = p.help
    choices = _choices(t)
    if isinstance(t, mi.StrType):
        leaf = Leaf(name, p, "text")
        form_field = _text_field(p, t, required and p.default is msgspec.NODEFAULT)
    elif isinstance(t, mi.BoolType):
        leaf = Leaf(name, p, "bool")
        form_field = forms.NullBooleanField() if p.optional else forms.BooleanField(required=False)
    elif isinstance(t, _NUMBERS):
        leaf = Leaf(name, p, "number")
        if isinstance(t, mi.IntType):
            low = t.ge if t.gt is None else t.gt + 1
            high = t.le if t.lt is None else t.lt - 1
            form_field = forms.IntegerField(required=required, min_value=low, max_value=high)
        else:  # strict bounds (gt, lt) are left to msgspec's message
            form_field = forms.FloatField(required=required, min_value=t.ge, max_value=t.le)
    elif choices is not None:
        leaf = Leaf(name, p, "choice", {_choice_key(v): v for v in choices})
        options = [(key, key) for key in leaf.choices]
        if not required:
            options.insert(0, ("", "—"))
        form_field = forms.ChoiceField(required=required, choices=options)
    elif (item := _item_type(t)) is not None and (item_choices := _choices(item)) is not None:
        leaf = Leaf(name, p, "multichoice", {_choice_key(v): v for v in item_choices})
        form_field = forms.MultipleChoiceField(
            required=False,
            choices=[(key, key) for key in leaf.choices],
            widget=forms.CheckboxSelectMultiple,
        )
    elif isinstance(item, tuple(_SCALARS)):
        leaf = Leaf(name, p, "lines")
        form_field = LinesField(item=_SCALARS[type(item)], required=False)
        help_text = f"{help_text} One per line.".strip()
    elif (value := _mapping_value(t)) is not None:
        leaf = Leaf(name, p, "lines")
        form_field = MappingField(item=_SCALARS[type(value)], required=False)
        help_text = f"{help_text} One per line, as name: value.".strip()
    else:
        # Types without a natural widget (nested containers, unions, timestamps): this one field
        # as JSON.
        leaf = Leaf(name, p, "json")
        form_field = forms.JSONField(required=False, widget=forms.Textarea)
        help_text = f"{help_text} As JSON.".strip()
    if p.optional and leaf.convert not in ("bool", "lines", "multichoice"):
        help_text = f"{help_text} Leave blank for none.".strip()
    form_field.label = p.label
    form_field.help_text = help_text
    return leaf, form_field


# --- Groups ---------------------------------------------------------------------------------


@dataclass
class Group:
    """A nested struct: its fields under one prefix. In a list, an item with a "remove" box."""

    name: str
    key: str
    title: str
    help: str
    children: list["Node"]
    remove: str = ""  # the "remove" checkbox of a list item
    toggle: str = ""  # the "set" checkbox of an optional struct (unticked: None)
    extra: bool = False  # a blank item offered to add one, dropped when left unchanged
    remove_bound: BoundField | None = None
    toggle_bound: BoundField | None = None
    node_type: ClassVar[str] = "group"


@dataclass
class Repeated:
    """A list of structs: one group per item, then blank groups to add more."""

    name: str
    key: str
    title: str
    help: str
    groups: list[Group]
    total: str  # hidden field: how many groups the page showed
    initial: str  # hidden field: how many of them were existing items
    total_bound: BoundField | None = None
    initial_bound: BoundField | None = None
    node_type: ClassVar[str] = "repeated"


Node = Leaf | Group | Repeated


def _hidden_count() -> forms.CharField:
    # Read leniently by ``_count``: a tampered count must not become an error nobody can see.
    return forms.CharField(widget=forms.HiddenInput, required=False)


def _count(raw: Any, default: int, limit: int = MAX_ITEMS) -> int:
    try:
        return max(0, min(int(raw), limit))
    except (TypeError, ValueError):
        return default


def _value(values: Any, p: Param) -> Any:
    if isinstance(values, dict) and p.key in values:
        return values[p.key]
    return p.default


class ParamFields:
    """Form fields for a msgspec struct's fields, added to ``form`` under ``prefix``.

    ``values`` are the params shown (plain data, missing keys take the struct's defaults). A bound
    form rebuilds the groups its page showed, from the hidden counts in its data, and always
    offers ``EXTRA_ITEMS`` blank groups after a list's last filled one.
    """

    def __init__(
        self, form: forms.BaseForm, cls: type[msgspec.Struct], values: Any, prefix: str = "params"
    ) -> None:
        self.form = form
        self.names: list[str] = []
        self._injecting = False
        self.nodes = self._struct(struct_params(cls), values, prefix, top=True)
        for node in self.walk():
            self._bind(node)

    # Building.

    def _add(self, name: str, form_field: forms.Field, initial: Any) -> None:
        form_field.initial = initial
        if isinstance(form_field.widget, forms.Textarea):
            shown = form_field.prepare_value(initial)
            lines = shown.count("\n") + 1 if isinstance(shown, str) else 1
            form_field.widget.attrs["rows"] = max(3, min(lines + 1, 15))
        self.form.fields[name] = form_field
        self.names.append(name)
        if self._injecting:
            self._inject(name, form_field, initial)

    def _struct(self, params: list[Param], values: Any, prefix: str, *, top: bool) -> list[Node]:
        nodes: list[Node] = []
        for p in params:
            name = f"{prefix}-{p.key}"
            value = _value(values, p)
            item = _item_type(p.type)
            if _is_struct(p.type):
                nodes.append(self._group(p, name, value))
            elif item is not None and _is_struct(item):
                nodes.append(self._repeated(p, item, name, value))
            else:
                leaf, form_field = _leaf(name, p, top=top)
                self._add(name, form_field, leaf.to_initial(value))
                nodes.append(leaf)
        return nodes

    def _group(self, p: Param, name: str, value: Any) -> Group:
        assert isinstance(p.type, mi.StructType)
        toggle = ""
        if p.optional:
            toggle = f"{name}-SET"
            self._add(toggle, forms.BooleanField(required=False, label="Set"), value is not None)
        children = self._struct(struct_params(p.type.cls), value, name, top=False)
        return Group(name, p.key, p.label, p.help, children, toggle=toggle)

    def _repeated(self, p: Param, item: mi.Type, name: str, value: Any) -> Repeated:
        assert isinstance(item, mi.StructType)
        item_params = struct_params(item.cls)
        items = value if isinstance(value, list) else []
        node_total, node_initial = f"{name}-TOTAL", f"{name}-INITIAL"
        data = self.form.data if self.form.is_bound and not self._injecting else None
        if data is None:
            total, existing = len(items) + EXTRA_ITEMS, len(items)
        else:
            total = _count(data.get(self.form.add_prefix(node_total)), len(items) + EXTRA_ITEMS)
            existing = _count(data.get(self.form.add_prefix(node_initial)), len(items), total)
        node = Repeated(name, p.key, p.label, p.help, [], node_total, node_initial)
        for index in range(total):
            node.groups.append(self._item(item_params, node, index, items, existing))
        if data is not None:
            # Keep blank groups to add items after those just filled in (re-shown after a try).
            blank = 0
            for group in reversed(node.groups):
                if not group.extra or self._group_changed(group):
                    break
                blank += 1
            if blank < EXTRA_ITEMS:
                self._start_injecting()
                for index in range(total, total + EXTRA_ITEMS - blank):
                    node.groups.append(self._item(item_params, node, index, items, existing))
                self._injecting = False
        shown = len(node.groups)
        self._add(node.total, _hidden_count(), shown)
        self._add(node.initial, _hidden_count(), existing)
        if data is not None and shown != total:
            self.form.data[self.form.add_prefix(node.total)] = str(shown)
        return node

    def _item(
        self, params: list[Param], node: Repeated, index: int, items: list, existing: int
    ) -> Group:
        name = f"{node.name}-{index}"
        extra = index >= existing
        value = items[index] if not extra and index < len(items) else {}
        remove = f"{name}-REMOVE"
        self._add(remove, forms.BooleanField(required=False, label="Remove"), False)
        children = self._struct(params, value, name, top=False)
        title = f"{node.key}[{index}]" + (" (new)" if extra else "")
        return Group(name, node.key, title, "", children, remove=remove, extra=extra)

    def _start_injecting(self) -> None:
        if not self._injecting:
            self.form.data = self.form.data.copy()
            self._injecting = True

    def _inject(self, name: str, form_field: forms.Field, initial: Any) -> None:
        """Give a group added to a bound form the data its blank fields would post."""
        key = self.form.add_prefix(name)
        widget = form_field.widget
        if isinstance(widget, forms.CheckboxInput):
            if initial:
                self.form.data[key] = "on"
            return
        if isinstance(widget, forms.NullBooleanSelect):
            self.form.data[key] = {True: "true", False: "false"}.get(initial, "unknown")
            return
        if isinstance(form_field, forms.MultipleChoiceField):
            values = [str(v) for v in initial or []]
            if hasattr(self.form.data, "setlist"):
                self.form.data.setlist(key, values)
            else:
                self.form.data[key] = values
            return
        text = widget.format_value(form_field.prepare_value(initial))
        self.form.data[key] = "" if text is None else str(text)

    def _bind(self, node: Node) -> None:
        if isinstance(node, Leaf):
            node.bound = self.form[node.name]
        elif isinstance(node, Group):
            node.remove_bound = self.form[node.remove] if node.remove else None
            node.toggle_bound = self.form[node.toggle] if node.toggle else None
        else:
            node.total_bound = self.form[node.total]
            node.initial_bound = self.form[node.initial]

    def walk(self, nodes: Iterable[Node] | None = None) -> Iterator[Node]:
        """Every node, depth first."""
        for node in self.nodes if nodes is None else nodes:
            yield node
            if isinstance(node, Group):
                yield from self.walk(node.children)
            elif isinstance(node, Repeated):
                yield from self.walk(node.groups)

    def _group_changed(self, group: Group) -> bool:
        """Whether anything in a group differs from what it was shown with."""
        for node in self.walk(group.children):
            if isinstance(node, Leaf):
                name = node.name
            elif isinstance(node, Group) and node.toggle:
                name = node.toggle
            else:
                continue
            form_field = self.form.fields[name]
            key = self.form.add_prefix(name)
            data = form_field.widget.value_from_datadict(self.form.data, self.form.files, key)
            if form_field.has_changed(form_field.initial, data):
                return True
        return False

    # Assembling.

    def assemble(self) -> dict[str, Any] | None:
        """The params dict the fields hold, or None when a field has an error.

        Also records, for each path of the dict, the field it came from and the path the page
        shows (they differ after removed items), for ``add_error``.
        """
        self._targets: dict[str, tuple[str | None, str]] = {}
        self._failed = False
        params = self._assemble_struct(self.nodes, "", "")
        return None if self._failed else params

    def _assemble_struct(self, nodes: list[Node], path: str, shown: str) -> dict[str, Any]:
        cleaned = self.form.cleaned_data
        out: dict[str, Any] = {}
        for node in nodes:
            node_path, node_shown = _join(path, node.key), _join(shown, node.key)
            if isinstance(node, Leaf):
                self._targets[node_path] = (node.name, node_shown)
                if node.name in self.form.errors:  # its own field's check failed
                    self._failed = True
                    continue
                try:
                    value = node.to_param(cleaned.get(node.name))
                except ValidationError as error:
                    self.form.add_error(node.name, error)
                    self._failed = True
                    continue
                if value is not _OMIT:
                    out[node.key] = value
            elif isinstance(node, Group):
                self._targets[node_path] = (None, node_shown)
                if node.toggle and not cleaned.get(node.toggle):
                    out[node.key] = None
                else:
                    out[node.key] = self._assemble_struct(node.children, node_path, node_shown)
            else:
                self._targets[node_path] = (None, node_shown)
                items = []
                for index, group in enumerate(node.groups):
                    unchanged = group.extra and not self._group_changed(group)
                    if unchanged or cleaned.get(group.remove):
                        continue
                    item_path = f"{node_path}[{len(items)}]"
                    item_shown = f"{node_shown}[{index}]"
                    self._targets[item_path] = (None, item_shown)
                    items.append(self._assemble_struct(group.children, item_path, item_shown))
                out[node.key] = items
        return out

    def add_error(self, error: DocumentError) -> None:
        """Put a validation error on the field its path leads to, or on the form as a whole."""
        path = error.path
        rest = ""
        while path and path not in self._targets:
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                path = ""
                break
            path, rest = path[:cut], path[cut:] + rest
        name, shown = self._targets.get(path, (None, error.path))
        message = f"{shown}{rest}: {error.message}" if shown else error.message
        self.form.add_error(name, message)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- The detector form ------------------------------------------------------------------------


class DetectorForm(forms.ModelForm):
    """A detector with its kind's parameters as fields, and the inputs of "Try it".

    The admin sets ``kind`` (for a new detector) and ``trying`` ("paste" or "recent" when the
    Try it button was pressed) on a subclass per request.
    """

    kind: ClassVar[str] = ""
    trying: ClassVar[str | None] = None

    step_kinds = forms.MultipleChoiceField(
        choices=[(k, k) for k in STEP_KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The steps it reads; none ticked reads them all.",
    )
    try_trace = forms.CharField(
        label="Pasted trace",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One trace document in any supported format (native, OpenAI, Anthropic, "
        "Inspect, OpenTelemetry).",
    )
    # Checked only when trying (``_clean_last``): a stray value must not block saving.
    try_last = forms.CharField(
        label="Last traces",
        required=False,
        initial=str(TRY_LAST_DEFAULT),
        widget=forms.NumberInput(attrs={"min": 1, "max": TRY_LAST_MAX}),
        help_text=f"How many of the latest ingested traces to scan (at most {TRY_LAST_MAX}).",
    )

    class Meta:
        model = Detector
        fields = ["name", "enabled", "category", "severity", "step_kinds"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.instance.kind = self.kind
        self.kind_class: type[DetectorKind] | None = KINDS.get(self.instance.kind)
        self.stored_params = self.instance.params if isinstance(self.instance.params, dict) else {}
        if "category" in self.fields:  # the taxonomy's slugs: stricter than Django's
            category = self.fields["category"]
            category.validators = [v for v in category.validators if v is not validate_slug]
            category.validators.append(validate_category)
        self.params: ParamFields | None = None
        if self.kind_class is not None:
            self.params = ParamFields(self, self.kind_class.Params, self.stored_params)
        self.parsed_params: msgspec.Struct | None = None
        self.pasted: list[TraceDoc] = []
        self.trial_count = TRY_LAST_DEFAULT
        self.ready_to_try = False

    def is_valid(self) -> bool:
        """A trial is never valid for saving: the admin then shows the form again (with the
        trial's hits) instead of saving it, so trying saves nothing."""
        valid = super().is_valid()
        self.ready_to_try = valid and self.trying is not None
        return valid and self.trying is None

    def clean(self) -> dict[str, Any]:
        """Assemble the params and let the kind validate them; read the trial's input."""
        cleaned = super().clean()
        if self.params is None:
            raise ValidationError(
                f"kind: {self.instance.kind!r} is not installed (installed: "
                f"{', '.join(sorted(KINDS))}), so its parameters cannot be edited."
            )
        params = self.params.assemble()
        if params is not None:
            try:
                self.parsed_params = parse_params(self.instance.kind, params)
            except DocumentError as error:
                self.params.add_error(error)
            else:
                self.instance.params = msgspec.to_builtins(self.parsed_params)
        if self.trying == "paste":
            self._clean_pasted()
        elif self.trying == "recent":
            self._clean_last()
        return cleaned

    def _clean_last(self) -> None:
        raw = (self.cleaned_data.get("try_last") or "").strip() or str(TRY_LAST_DEFAULT)
        try:
            count = int(raw)
        except ValueError:
            count = 0
        if not 1 <= count <= TRY_LAST_MAX:
            self.add_error("try_last", f"Enter a whole number from 1 to {TRY_LAST_MAX}.")
            return
        self.trial_count = count

    def _clean_pasted(self) -> None:
        raw = self.cleaned_data.get("try_trace") or ""
        if not raw.strip():
            self.add_error("try_trace", "Paste a trace to try the detector on.")
            return
        try:
            # Ingest's own decoding and limits; never stored, so it belongs to no source.
            parsed = parse(raw.encode(), line=1, format=None, source_for=lambda doc: None)
        except DocumentError as error:
            where = f"{error.path}: " if error.path else ""
            self.add_error("try_trace", f"{where}{error.message}")
            return
        for p in parsed:
            p.prepare()  # masked and filled in as ingest would store it
        self.pasted = [p.doc for p in parsed]

    def changed_fields(self) -> list[str]:
        """The model fields this edit changes, with any change of parameters as "params"."""
        changed = [name for name in self.changed_data if name in self._meta.fields]
        if self.parsed_params is not None:
            try:
                before = parse_params(self.instance.kind, self.stored_params)
            except DocumentError:
                before = None
            if before != self.parsed_params:
                changed.append("params")
        return changed

    def trial_detector(self) -> DetectorKind:
        """The detector as the form configures it, unsaved, for "Try it"."""
        assert self.kind_class is not None and self.parsed_params is not None
        return self.kind_class(
            self.parsed_params,
            category=self.cleaned_data["category"],
            step_kinds=self.cleaned_data.get("step_kinds") or (),
        )
