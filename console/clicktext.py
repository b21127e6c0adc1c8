"""Simplified Chinese for the text that Click itself prints.

Click passes its own messages (usage errors, help headings, prompts) through
`gettext`: each of its modules calls `_` and `ngettext`, which it imports from
the `gettext` module. `install` points those names at this catalogue, so that a
mistyped option, a missing argument or a help page reads in Chinese like the
rest of the console. A message missing here stays in English. Placeholders
such as {name!r} are kept, because Click formats the translated text.

Click measures help text in characters, but a Chinese character takes two
terminal columns. `install` also points Click's width function and text
wrapper at terminal cells, so help pages fit the terminal and their option
column lines up.
"""

from __future__ import annotations

import importlib

import click
import click._compat
import click._textwrap
import click.exceptions
import click.formatting
from rich.cells import cell_len, get_character_cell_size

# Click's message ids (as of Click 8.5), each with its Chinese text.
MESSAGES: dict[str, str] = {
    "Aborted!": "已取消。",
    "Usage:": "用法：",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "位置参数",
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "输入 {command} {option} 查看用法。",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
    "%(prog)s, version %(version)s": "%(prog)s，版本 %(version)s",
    "Missing command.": "缺少子命令。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "Option {name!r} does not take a value.": "选项 {name!r} 不带值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "default: {default}": "默认：{default}",
    "env var: {var}": "环境变量：{var}",
    "required": "必填",
    "deprecated": "已弃用",
    "(dynamic)": "（动态）",
    "Value must be an iterable.": "值必须是一组值。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "{value} is not in the range {range}.": "{value} 不在 {range} 范围内。",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的数字。",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} 不是有效的是/否值，可用：{states}"
    ),
    "{value!r} is not a valid UUID.": "{value!r} 不是有效的 UUID。",
    "file": "文件",
    "directory": "目录",
    "path": "路径",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件，不是目录。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是目录，不是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 没有读权限。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 没有写权限。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 没有执行权限。",
    "Do you want to continue?": "是否继续？",
    "Confirm the action without prompting.": "不提示，直接确认。",
    "Repeat for confirmation": "再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "Press any key to continue...": "按任意键继续……",
}

# Plural message ids by their singular form: the Chinese text for one and for many.
PLURALS: dict[str, tuple[str, str]] = {
    "Got unexpected extra argument ({args})": (
        "多余的参数（{args}）",
        "多余的参数（{args}）",
    ),
    "Did you mean {possibility}?": (
        "是否要输入 {possibility}？",
        "（是否要输入以下之一：{possibilities}？）",
    ),
    "{value!r} is not {choice}.": (
        "{value!r} 不是 {choice}。",
        "{value!r} 不是以下之一：{choices}。",
    ),
    "{value!r} does not match the format {format}.": (
        "{value!r} 不符合格式 {format}。",
        "{value!r} 不符合以下任一格式：{formats}。",
    ),
    "Takes {nargs} values but 1 was given.": (
        "需要 {nargs} 个值，只给了 1 个。",
        "需要 {nargs} 个值，给了 {len} 个。",
    ),
    "Option {name!r} requires an argument.": (
        "选项 {name!r} 需要一个值。",
        "选项 {name!r} 需要 {nargs} 个值。",
    ),
    "{len_type} values are required, but {len_value} was given.": (
        "需要 {len_type} 个值，给了 {len_value} 个。",
        "需要 {len_type} 个值，给了 {len_value} 个。",
    ),
}

# Placeholders for option values by Click type name, shown in usage lines and option
# lists. Choice and Path types name themselves (the Path name is translated above).
TYPE_METAVARS = {
    "text": "文本",
    "integer": "整数",
    "integer range": "整数",
    "float": "数值",
    "float range": "数值",
    "year": "年份",
}

# Click's modules that import `_` or `ngettext` from gettext.
_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.termui",
    "click.types",
)


def translate(message: str) -> str:
    """Return the Chinese text of a Click message, or the message itself."""
    return MESSAGES.get(message, message)


def translate_plural(singular: str, plural: str, count: int) -> str:
    """Return the Chinese text of a Click message with a singular and a plural form."""
    texts = PLURALS.get(singular)
    if texts is None:
        return singular if count == 1 else plural
    return texts[0] if count == 1 else texts[1]


# Punctuation that may not start a line, and punctuation that may not end one, by the
# usual rules of Chinese typesetting. Each sticks to the character beside it.
NO_LINE_START = set("，。、；：！？）》」』”’%)]")
NO_LINE_END = set("（《「『“‘([")


def display_width(text: str) -> int:
    """Return the number of terminal cells that `text` takes, ANSI codes excluded."""
    return cell_len(click._compat.strip_ansi(text))


class CellTextWrapper(click._textwrap.TextWrapper):
    """Click's TextWrapper that may break a line between any two wide characters.

    The standard splitter breaks only at spaces, so a Chinese sentence is one long
    word, which the wrapper would cut at an arbitrary character, even inside ".xlsx".
    """

    def _split(self, text: str) -> list[str]:
        chunks: list[str] = []
        for chunk in super()._split(text):
            chunks.extend(_split_wide(chunk))
        return chunks


def _split_wide(chunk: str) -> list[str]:
    """Split `chunk` before and after each wide character, keeping punctuation attached."""
    pieces: list[str] = []
    narrow = ""
    for char in chunk:
        if get_character_cell_size(char) < 2 and char not in NO_LINE_START:
            narrow += char
            continue
        if narrow:
            pieces.append(narrow)
            narrow = ""
        if pieces and (char in NO_LINE_START or pieces[-1][-1] in NO_LINE_END):
            pieces[-1] += char
        else:
            pieces.append(char)
    if narrow:
        if pieces and pieces[-1][-1] in NO_LINE_END:
            pieces[-1] += narrow
        else:
            pieces.append(narrow)
    return pieces


def _truncate_cells(text: str, cells: int) -> str:
    """Return the longest prefix of `text` that fits in `cells` terminal cells."""
    width = 0
    for index, char in enumerate(text):
        width += get_character_cell_size(char)
        if width > cells:
            return text[:index]
    return text


def install() -> None:
    """Make Click print its own messages from this catalogue and measure text in cells."""
    for name in _MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "_"):
            module._ = translate  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = translate_plural  # type: ignore[attr-defined]
    # NOTE: these names are Click internals (as of Click 8.5): formatting.py and
    # _textwrap.py import term_len, and wrap_text imports TextWrapper when it runs.
    click.formatting.term_len = display_width  # type: ignore[assignment]
    click._textwrap.term_len = display_width  # type: ignore[assignment]
    click._textwrap._truncate_visible = _truncate_cells  # type: ignore[assignment]
    click._textwrap.TextWrapper = CellTextWrapper  # type: ignore[misc]
    click.MissingParameter.format_message = format_missing_parameter  # type: ignore[method-assign,assignment]


def localize_metavars(command: click.Command) -> None:
    """Name the placeholders of `command` and every command below it in Chinese.

    Click writes [OPTIONS], COMMAND [ARGS]... and the upper-case type name (TEXT,
    INTEGER) itself rather than through gettext. An argument names its own
    placeholder with `metavar=`.
    """
    command.options_metavar = "[选项]"
    if isinstance(command, click.Group):
        if command.invoke_without_command:
            command.subcommand_metavar = "[命令] [参数]..."
        else:
            command.subcommand_metavar = "命令 [参数]..."
        for subcommand in command.commands.values():
            localize_metavars(subcommand)
    for param in command.params:
        if isinstance(param, click.Option) and not param.is_flag and not param.metavar:
            param.metavar = TYPE_METAVARS.get(param.type.name, param.metavar)


def format_missing_parameter(error: click.MissingParameter) -> str:
    """Return Click's message for a missing option or argument, ending in "。".

    Click builds this message with an f-string that puts an ASCII full stop after the
    parameter, so only the words pass through the catalogue.
    """
    hint: str | None = None
    if error.param_hint is not None:
        hint = click.exceptions._join_param_hints(error.param_hint)
    elif error.param is not None:
        hint = error.param.get_error_hint(error.ctx)
    param_type = error.param_type
    if param_type is None and error.param is not None:
        param_type = error.param.param_type_name
    missing = {
        "argument": translate("Missing argument"),
        "option": translate("Missing option"),
        "parameter": translate("Missing parameter"),
    }.get(param_type or "parameter", translate("Missing parameter"))
    text = f"{missing} {hint}。" if hint else f"{missing}。"
    details = [error.message] if error.message else []
    if error.param is not None:
        choices = error.param.type.get_missing_message(param=error.param, ctx=error.ctx)
        if choices:
            details.append(choices)
    return text + "".join(details)
