"""A titled, filterable table of keyed rows that updates in place: the base of the list panes."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from hyperhive.tui.format import safe, safe_text

Cell = str | Text
Row = tuple[Cell, ...]
T = TypeVar("T")


class RowMemo(Generic[T]):
    """The rows of a list, made again only for the items that changed.

    An item is unchanged when it is the very same (immutable) view object and its
    ``extra`` (whatever else its row shows: an age, a width) is equal: its row is then the
    same tuple as before, which `ListPane.set_rows` and the table update skip. So a clock
    tick or a new message costs the rows that changed, not the whole list.
    """

    def __init__(self) -> None:
        self._made: dict[str, tuple[object, Hashable, Row]] = {}

    def rows(
        self, items: Iterable[tuple[str, T, Hashable]], make: Callable[[T], Row]
    ) -> dict[str, Row]:
        made = self._made
        fresh: dict[str, tuple[object, Hashable, Row]] = {}
        rows: dict[str, Row] = {}
        for key, item, extra in items:
            old = made.get(key)
            if old is not None and old[0] is item and old[1] == extra:
                row = old[2]
            else:
                row = make(item)
            fresh[key] = (item, extra, row)
            rows[key] = row
        self._made = fresh
        return rows


def plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def same(a: Cell, b: Cell) -> bool:
    """Equal text *and* styles (rich's Text equality ignores the base style)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and str(a.style) == str(b.style) and a.spans == b.spans
    return type(a) is type(b) and a == b


class Table(DataTable[Any]):
    """A DataTable whose `enter` shows in the footer as "open"."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "open")]


class ListPane(Widget):
    """Rows keyed by a string; the screen sets them, the pane diffs them into a DataTable.

    Unchanged rows are left alone and changed cells are updated in place, so an
    event touching one agent costs one `update_cell`, not a redraw of the list.
    `/` filters (substring over every cell), `Esc` clears the filter, `enter` and
    the letter bindings of a subclass post `RowAction` for the row under the cursor.
    """

    DEFAULT_CSS = """
    ListPane { height: auto; }
    ListPane > DataTable { height: auto; max-height: 16; }
    ListPane > Input.filter { display: none; height: 3; }
    ListPane.-filtering > Input.filter { display: block; }
    ListPane > .empty { color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    TITLE: ClassVar[str] = ""
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    EMPTY: ClassVar[str] = "nothing here"
    DECISIONS: ClassVar[frozenset[str]] = frozenset()  # row actions the viewer role may not take
    # a pane with one flexible text column: it gets the width the other columns leave
    FLEX_COLUMN: ClassVar[str] = ""
    FLEX_MIN: ClassVar[int] = 24

    class RowAction(Message):
        """The operator asked for ``action`` ("open", "approve", ...) on the row ``key``."""

        def __init__(self, pane: ListPane, action: str, key: str) -> None:
            super().__init__()
            self.pane = pane
            self.action = action
            self.key = key

        @property
        def control(self) -> ListPane:
            return self.pane

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.viewer = False
        self._rows: dict[str, Row] = {}
        self._given: dict[str, Row] = {}  # the rows as given, to reuse what is unchanged
        self._shown: dict[str, Row] = {}
        self._filter = ""
        self._note: str | None = None
        self.border_title = self.TITLE
        self.flex_width = 44  # the flexible column's width, from the pane's own width
        self._fitted = -1  # the pane width the flexible column was last fitted to

    def compose(self) -> ComposeResult:
        yield Table(cursor_type="row", zebra_stripes=True)
        yield Static("", classes="empty", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self._sync()

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Size the flexible column to what the pane's width leaves; redraw if it changed."""
        if not self.FLEX_COLUMN or width <= 0 or not self.is_mounted:
            return
        table = self.query_one(DataTable)
        self._fitted = width if table.row_count else -1  # headers alone are no measure
        others = sum(
            column.get_render_width(table)
            for key, column in table.columns.items()
            if key.value != self.FLEX_COLUMN
        )
        flex = max(self.FLEX_MIN, width - others - 4)  # room for a scrollbar and wide glyphs
        if flex != self.flex_width:
            self.flex_width = flex
            self.refit()
            self._reflow()

    def refit(self) -> None:
        """The flexible column changed width: subclasses redraw their rows."""

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.RowAction(self, "open", event.row_key.value))

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value.strip().lower()
        self._sync()

    @on(Input.Submitted, ".filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not self._filter:
            self.remove_class("-filtering")
        self.query_one(DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.has_class("-filtering")
        if action == "row" and parameters and parameters[0] in self.DECISIONS:
            return not self.viewer
        return True

    async def action_filter(self) -> None:
        # the filter box is mounted on first use: most lists are never filtered
        found = self.query(".filter")
        if found:
            field = found.first(Input)
        else:
            field = Input(placeholder="filter…  (enter keeps it, esc clears)", classes="filter")
            await self.mount(field, before=self.query_one(DataTable))
        self.add_class("-filtering")
        field.focus()

    def action_clear_filter(self) -> None:
        self.remove_class("-filtering")
        for field in self.query(".filter").results(Input):
            field.value = ""
        self._filter = ""
        self._sync()
        self.query_one(DataTable).focus()

    def action_row(self, action: str) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowAction(self, action, key))

    # --- attributes down -------------------------------------------------------------
    def set_rows(self, rows: dict[str, Row], *, note: str | None = None) -> None:
        """Show ``rows`` (in order); ``note`` replaces the empty text (e.g. "not available")."""
        # plain strings become Text: the table would parse them as markup, and a body like
        # "[answer to question #3]" is no style; every cell is agent text, made terminal-safe
        # a row given as the very same tuple as last time is the same row: not made again
        # (a list of 500 messages gets one new row per message event, not 500)
        given, made = self._given, self._rows
        self._rows = {
            k: made[k]
            if given.get(k) is r and k in made
            else tuple(
                Text(safe(c, newlines=False)) if isinstance(c, str) else safe_text(c) for c in r
            )
            for k, r in rows.items()
        }
        self._given = rows
        self._note = note
        if self.is_mounted:
            self._sync()

    def set_title(self, title: str) -> None:
        self.border_title = title

    def set_viewer(self, viewer: bool) -> None:
        if viewer != self.viewer:
            self.viewer = viewer
            self.refresh_bindings()

    def focus_table(self) -> None:
        self.query_one(DataTable).focus()

    @property
    def cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key

    @property
    def row_keys(self) -> list[str]:
        """The keys of the rows on screen (after the filter), top to bottom."""
        return list(self._shown)

    # --- helpers -----------------------------------------------------------------
    def _visible(self) -> dict[str, Row]:
        if not self._filter:
            return self._rows
        needle = self._filter
        return {
            k: row for k, row in self._rows.items() if any(needle in plain(c).lower() for c in row)
        }

    def _sync(self) -> None:
        if not self.is_attached:  # a timer fired while the app shuts down
            return
        table = self.query_one(DataTable)
        visible = self._visible()
        shown = self._shown
        if list(visible) == list(shown):
            self._update_cells(table, visible)
        else:
            kept = [k for k in shown if k in visible]
            appended = list(visible)[len(kept) :]
            if list(visible)[: len(kept)] == kept and not any(k in shown for k in appended):
                for key in [k for k in shown if k not in visible]:
                    table.remove_row(key)
                self._update_cells(table, {k: visible[k] for k in kept})
                for key in appended:
                    table.add_row(*visible[key], key=key)
            else:
                self._rebuild(table, visible)
        self._shown = dict(visible)
        if visible and self._fitted != self.size.width:
            self._fit(self.size.width)  # once per width: the first rows give the measure
        empty = self.query_one(".empty", Static)
        table.display = bool(visible)
        if visible:
            empty.display = False
        else:
            empty.display = True
            if self._note:
                empty.update(safe(self._note))
            elif self._filter:
                empty.update(f"nothing matches “{self._filter}”")
            else:
                empty.update(self.EMPTY)

    def _update_cells(self, table: DataTable[Any], rows: dict[str, Row]) -> None:
        columns = [key for key, _ in self.COLUMNS]
        for key, row in rows.items():
            old = self._shown.get(key)
            if old is row:
                continue
            for i, cell in enumerate(row):
                if old is None or not same(old[i], cell):
                    # re-measuring the column is only needed when the cell got wider
                    wider = old is None or cell_len(plain(cell)) > cell_len(plain(old[i]))
                    table.update_cell(key, columns[i], cell, update_width=wider)

    def _reflow(self) -> None:
        """Measure the columns afresh (a DataTable only ever widens them) and redraw."""
        if not self.is_attached:
            return
        table = self.query_one(DataTable)
        for column in table.columns.values():
            column.content_width = column.label.cell_len
        self._rebuild(table, self._shown)

    def _rebuild(self, table: DataTable[Any], rows: dict[str, Row]) -> None:
        cursor = self.cursor_key
        table.clear()
        for key, row in rows.items():
            table.add_row(*row, key=key)
        if cursor is not None and cursor in rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
