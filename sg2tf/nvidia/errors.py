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


def check_opcodes(data: bytes | io.BytesIO, source: str, what: str = 'pickle') -> None:
    """Walk the opcodes of one pickle (`pickletools.genops`, nothing is built) and refuse what no NVIDIA file
    has: containers nested deeper than MAX_DEPTH, values that reach MAX_EXPANDED objects through shared memo
    entries (hashing or printing them would take exponential time), memo reads far beyond the memoized objects.

    Each stack entry carries (nesting depth, expanded size); a file object is read from its position and
    returned there. Malformed streams end in the same one-line error as unpickling them would.
    """
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    start = f.tell()
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
        for op, arg, pos in pickletools.genops(f):
            name = op.name
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


def _corrupt(f) -> str:
    head = f.read(1)
    f.seek(f.tell() - len(head))
    return 'truncated or corrupt' if head == b'\x80' else 'not a pickle file'
