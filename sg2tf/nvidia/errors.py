"""What the format readers do with hostile input: one error type, one way to print file content, one cheap
pass over a pickle's opcodes before anything is unpickled.

`show` / `clean` are the only way a value from a file (a name, a kwarg, a class name, an exception text) gets
into a message: length-capped, control characters escaped, never a newline. `check_opcodes` bounds what an
unpickler would build (nesting depth, how often memoized objects are reused, the size of hashed tuples once
their shared parts are expanded), so a tiny file cannot make loading exponential or recurse without limit.
"""
from __future__ import annotations

import io
import pickletools
import reprlib

MAX_SHOWN = 80          # characters of a value from a file in a message
MAX_DEPTH = 100         # containers nested inside each other (NVIDIA's pickles: < 20)
MAX_EXPANDED = 10 ** 6  # objects in one value once memo references are expanded (hashing / printing cost)
MAX_TOTAL = 10 ** 7    # the same for any value (NVIDIA's pickles: < 10**5)
MAX_GETS = 100_000      # memo reads beyond 8 per memoized object (NVIDIA's pickles: < 1 per object)


class NetworkPickleError(ValueError):
    """A file that is not a loadable NVIDIA network pickle; the message is one line naming the problem."""


_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother, _repr.maxlong = 3, 60, 60, 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 6


def clean(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` on one line: control characters escaped, at most `limit` characters (then '...')."""
    text = str(text) if isinstance(text, str) else repr(text)
    out = ''.join(c if c.isprintable() else c.encode('unicode_escape').decode('ascii') for c in text[:limit * 2])
    return out if len(out) <= limit and len(text) <= limit * 2 else out[:limit] + '...'


def show(value, limit: int = MAX_SHOWN) -> str:
    """A value from a file as it may appear in a message: a bounded repr (nested containers cut at 3 levels and
    6 items, so shared or deep structures cost nothing), escaped and length-capped by `clean`."""
    try:
        text = _repr.repr(value)
    except Exception:  # a broken object's __repr__
        text = f'<{type(value).__name__}>'
    return clean(text, limit)


def is_name(value, limit: int = 256) -> bool:
    """Whether `value` can be used as a name: a printable `str` of at most `limit` characters."""
    return isinstance(value, str) and len(value) <= limit and value.isprintable()


# -- the opcode pass -----------------------------------------------------------------------------------------------
_IN_PLACE = frozenset({'APPEND', 'APPENDS', 'SETITEM', 'SETITEMS', 'ADDITEMS', 'BUILD'})
_HASHED = frozenset({'SETITEM', 'SETITEMS', 'ADDITEMS', 'FROZENSET'})  # keys / elements are hashed when loading
_PUTS = frozenset({'PUT', 'BINPUT', 'LONG_BINPUT', 'MEMOIZE'})
_GETS = frozenset({'GET', 'BINGET', 'LONG_BINGET'})
# Arguments that are a length then that many bytes: (bytes of the length, signed).
_SIZED = {'bytes4': (4, False), 'bytes8': (8, False), 'bytearray8': (8, False), 'string4': (4, True),
          'unicodestring4': (4, False), 'unicodestring8': (8, False)}
SKIP_MIN = 1 << 16  # payloads this large are seeked over, not read (arrays: the pass touches none of their data)


def _opcodes(f, end: int):
    """(opcode, argument, position) of one pickle, as `pickletools.genops` gives them, from a seekable binary
    file ending at `end`, except that a payload of SKIP_MIN bytes or more is not read: its declared length is
    checked against the bytes left in the file and skipped (its argument is None)."""
    while True:
        pos = f.tell()
        code = f.read(1)
        op = pickletools.code2op.get(code.decode('latin-1'))
        if op is None:
            raise ValueError(f'at position {pos}, opcode {code!r} unknown' if code else
                             'pickle exhausted before seeing STOP')
        arg = None
        sized = _SIZED.get(op.arg.name) if op.arg is not None else None
        if sized is not None:
            width, signed = sized
            head = f.read(width)
            if len(head) < width:
                raise ValueError(f'not enough data in stream to read {op.arg.name}')
            n, left = int.from_bytes(head, 'little', signed=signed), end - f.tell()
            if n < 0:
                raise ValueError(f'{op.arg.name} byte count < 0: {n}')
            if n > left:
                raise ValueError(f'expected {n} bytes in a {op.arg.name}, but only {left} remain')
            if n >= SKIP_MIN:
                f.seek(n, io.SEEK_CUR)
            else:
                f.seek(-width, io.SEEK_CUR)
                arg = op.arg.reader(f)
        elif op.arg is not None:
            arg = op.arg.reader(f)
        yield op, arg, pos
        if op.name == 'STOP':
            break


def check_opcodes(data, source: str, what: str = 'pickle', find: tuple[str, ...] = ()) -> set[str]:
    """Walk the opcodes of one pickle (`_opcodes`, nothing is built) and refuse what no NVIDIA file has:
    containers nested deeper than MAX_DEPTH, values that reach MAX_EXPANDED objects through shared memo entries
    (hashing or printing them would take exponential time), memo reads far beyond the memoized objects, a
    length that runs past the end of the file (checked before anything of that length is allocated).

    `data`: bytes, or a seekable binary file read from its position and returned there; large payloads are
    skipped, not read. Returns the strings of `find` that some str or global name in the pickle contains (a cheap
    sniff of which globals it references). Each stack entry carries (nesting depth, expanded size). Malformed
    streams end in the same one-line error as unpickling them would.
    """
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    start = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(start)
    found: set[str] = set()
    stack: list[tuple[int, int]] = []
    marks: list[int] = []
    memo: dict = {}
    puts = gets = 0

    def pop_mark() -> list:
        if not marks:
            raise ValueError('no MARK on the stack')
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        return items

    def pop(n: int) -> list:
        if len(stack) < n:
            raise ValueError('stack underflow')
        items = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        return items

    try:
        for op, arg, pos in _opcodes(f, end):
            name = op.name
            if find and isinstance(arg, str):
                found.update(marker for marker in find if marker in arg)
            if name == 'MARK':
                marks.append(len(stack))
                continue
            if name in _PUTS:
                if not stack:
                    raise ValueError('memo put of an empty stack')
                memo[len(memo) if name == 'MEMOIZE' else arg] = stack[-1]
                puts += 1
                continue
            if name in _GETS:
                gets += 1
                if gets > MAX_GETS + 8 * puts:
                    raise NetworkPickleError(f'{source}: refused: the {what} reads its memo {gets} times for '
                                             f'{puts} memoized objects (a decompression bomb?)')
                stack.append(memo.get(arg, (0, 1)))
                continue
            if name == 'DUP':
                if not stack:
                    raise ValueError('DUP of an empty stack')
                stack.append(stack[-1])
                continue
            before = op.stack_before
            if pickletools.markobject in before:
                items = pop_mark()
                fixed = pop(before.index(pickletools.markobject))
            else:
                items, fixed = [], pop(len(before))
            if name in _HASHED:
                keys = fixed[1:2] if name == 'SETITEM' else items[0::2] if name == 'SETITEMS' else items
                if any(size > MAX_EXPANDED for _, size in keys):
                    raise NetworkPickleError(f'{source}: refused: the {what} hashes a value of more than '
                                             f'{MAX_EXPANDED} objects once its shared parts are expanded')
            if name in _IN_PLACE:
                if not fixed:
                    raise ValueError('stack underflow')
                (depth, size), rest = fixed[0], fixed[1:] + items
                out = [(max([depth] + [d + 1 for d, _ in rest]), min(size + sum(s for _, s in rest), MAX_TOTAL))]
            elif op.stack_after:
                children = fixed + items
                depth = 1 if name.startswith('EMPTY_') else 1 + max((d for d, _ in children), default=-1)
                out = [(depth, min(1 + sum(s for _, s in children), MAX_TOTAL))] * len(op.stack_after)
            else:
                out = []
            for depth, size in out:
                if size >= MAX_TOTAL:
                    raise NetworkPickleError(f'{source}: refused: the {what} builds a value of more than '
                                             f'{MAX_TOTAL} objects once its shared parts are expanded')
                if depth > MAX_DEPTH:
                    raise NetworkPickleError(f'{source}: refused: the {what} nests containers more than '
                                             f'{MAX_DEPTH} levels deep (at byte {pos})')
            stack.extend(out)
            if name == 'STOP':
                break
    except NetworkPickleError:
        raise
    except Exception as e:  # what genops says about a malformed stream
        f.seek(start)
        truncated = 'exhausted' in str(e) or 'only' in str(e)
        raise NetworkPickleError(f'{source}: {"the pickle is truncated" if truncated else _corrupt(f)} '
                                 f'({clean(str(e), 120)})') from None
    f.seek(start)
    return found


def _corrupt(f) -> str:
    head = f.read(1)
    f.seek(f.tell() - len(head))
    return 'truncated or corrupt' if head == b'\x80' else 'not a pickle file'
